"""The bench's audit (or `--fix`) on this tree and another, alternating, medians: before/after.

Needs the lab (`lab/up --containers N` for N containers) and the other tree as a git worktree
whose lab/ links to this one's state (`git worktree add /tmp/before <commit>`, then
`ln -s $PWD/lab/.state $PWD/lab/ssh_config /tmp/before/lab/`). Changes the lab's state.

    python3 bench/compare_trees.py /tmp/before [--containers 8] [--fix] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

import run as bench  # noqa: E402  # the bench's own commands

from lab import states  # noqa: E402


def timed(tree: Path, command: list[str]) -> float:
    """One run's wall time; a failed run ends the comparison (its time means nothing)."""
    began = time.perf_counter()
    proc = subprocess.run(command, cwd=tree, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: exit {proc.returncode}:\n{(proc.stdout + proc.stderr)[-1500:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other tree (a git worktree)")
    parser.add_argument("--containers", type=int, default=1, choices=range(1, 9))
    parser.add_argument("--fix", action="store_true", help="--fix from the manual setup")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ctids = bench.FLEET8[: args.containers]
    command = [*bench.SUITE, *(["--fix"] if args.fix else []), *bench.containers(ctids)]
    trees = {"this tree": bench.REPO, str(args.other): args.other.resolve()}
    times: dict[str, list[float]] = {name: [] for name in trees}
    floor: list[float] = []
    for ctid in ctids if not args.fix else ():
        states.make_compliant(ctid)
    for _ in range(args.runs):
        for name, tree in trees.items():
            for ctid in ctids if args.fix else ():
                states.reset(ctid)
            times[name].append(timed(tree, command))
        floor.append(timed(bench.REPO, bench.FLOOR))
    base = statistics.median(floor)
    what = f"{'--fix' if args.fix else 'audit'}, {args.containers} CT(s)"
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{name}: {what}: {median:.3f} s, {median / base:.2f}x the floor ({base:.3f} s)")


if __name__ == "__main__":
    main()

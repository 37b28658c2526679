"""Time one `pytest --fix` run from every convergeable lab state; print a table.

For each state: put the lab in it (untimed), time `pytest --hosts=proxmox --fix` (wall clock,
as a user sees it), then check that the audit right after is green. Needs the lab
(`lab/up`); changes the lab's state and leaves it in the manual-setup state.

    python3 bench/fix_times.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from run import SUITE  # noqa: E402  (bench/run.py: the same suite command)

from lab import states  # noqa: E402
from lab.faults import FAULTS  # noqa: E402


def start_from(state: str) -> None:
    if state == "manual_setup":
        states.reset()
    else:
        states.apply_fault(state)  # on top of the compliant state


def run_pytest(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)


def fix_seconds(state: str) -> float:
    start_from(state)
    began = time.perf_counter()
    fixed = run_pytest([*SUITE, "--fix"])
    seconds = time.perf_counter() - began
    for step, proc in (("--fix", fixed), ("the audit after --fix", run_pytest(SUITE))):
        if proc.returncode != 0:
            raise SystemExit(f"fix_times: {step} from {state} failed:\n{proc.stdout[-1500:]}")
    applied = next((line for line in fixed.stdout.splitlines() if "fix(es) applied" in line), "?")
    print(f"  {state}: {seconds:.2f}s ({applied.strip()})", file=sys.stderr)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per state (median reported)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    chosen = [
        "manual_setup",
        *(n for n, f in FAULTS.items() if f.converges and f.profile == "plan"),
    ]
    rows = ["| starting state | --fix wall s (median) |", "|---|---|"]
    try:
        for state in chosen:
            times = [fix_seconds(state) for _ in range(args.runs)]
            rows.append(f"| {state} | {statistics.median(times):.2f} |")
    finally:
        states.reset()
    print("\n".join(rows))


if __name__ == "__main__":
    main()

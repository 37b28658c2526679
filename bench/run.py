"""Benchmark the suite on the lab against a plain shell floor and an Ansible playbook.

Each comparison alternates A B A B (so drift hits both sides), takes the median of the runs,
checks every run succeeded (a failed run's time means nothing), and prints a table with the
ratio and the target. Needs the lab (`lab/up --containers 4`; rows 11 and 12 `--containers 8`);
changes the lab's state.

    python3 bench/run.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lab import states  # noqa: E402
from lab.plan import site_for  # noqa: E402

SUITE = [
    sys.executable,
    "-m",
    "pytest",
    "--ssh-config=lab/ssh_config",
    "--hosts=proxmox",
    "-q",
    "-p",
    "no:cacheprovider",
]
SUITE_SSH = ["--hosts=ssh://proxmox" if arg == "--hosts=proxmox" else arg for arg in SUITE]
SCHEDULED = [  # what `python3 -m compliance.schedule run` adds to the audit
    "--metrics=/tmp/ollama-bench/metrics/ollama_compliance.prom",
    "--drift=/tmp/ollama-bench/last-green.json",
]
FLOOR = ["sh", "bench/floor.sh", "lab/ssh_config", "955"]
ANSIBLE = [
    "ansible-playbook",
    "-i",
    "bench/ansible/inventory.ini",
    "-e",
    "ansible_ssh_common_args='-F lab/ssh_config'",
    "bench/ansible/playbook.yml",
]
FLEET = [955, 956, 957, 958]
HARDENED = ["--compliance-profile=hardened", "--exposure-from=netns:ollama-lan"]
FLEET8 = list(range(955, 963))  # `lab/up --containers 8`: rows 11 and 12


def containers(ctids: list[int]) -> list[str]:
    return [
        f"--container={c} site_file={site_for(c).file} site_link={site_for(c).link} "
        f"server_name={site_for(c).server_name}"
        for c in ctids
    ]


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a command and the state it starts from (set up untimed)."""

    name: str
    command: list[str]
    setup: Callable[[], None]


@dataclass(frozen=True)
class Comparison:
    title: str
    a: Side
    b: Side
    target: float | None  # A/B must be at most this (None: a contrast row, no target)


def compliant() -> None:
    states.make_compliant()


def manual() -> None:
    states.reset()


def hardened() -> None:
    states.make_hardened()


def fleet_compliant() -> None:
    for ctid in FLEET:
        states.make_compliant(ctid)


def fleet8_manual() -> None:
    for ctid in FLEET8:
        states.reset(ctid)


def fleet8_compliant() -> None:
    """Every one of the 8 CTs compliant; set up once (an audit changes nothing)."""
    if not _done.get("fleet8_compliant"):
        for ctid in FLEET8:
            states.make_compliant(ctid)
        _done["fleet8_compliant"] = True


_done: dict[str, bool] = {}


def timed(side: Side) -> float:
    side.setup()
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "bench/ansible/ansible.cfg"))
    began = time.perf_counter()
    proc = subprocess.run(side.command, cwd=REPO, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-1500:]
        raise SystemExit(f"bench: {side.name} failed (exit {proc.returncode}):\n{tail}")
    return seconds


def compare(item: Comparison, runs: int) -> tuple[float, float]:
    a_times, b_times = [], []
    for _ in range(runs):
        a_times.append(timed(item.a))
        b_times.append(timed(item.b))
    return statistics.median(a_times), statistics.median(b_times)


def comparisons() -> list[Comparison]:
    audit = Side("audit", SUITE, compliant)
    return [
        Comparison("audit vs shell floor (one ssh)", audit, Side("floor", FLOOR, compliant), 2.0),
        Comparison(
            "audit vs Ansible --check",
            audit,
            Side("ansible --check", [*ANSIBLE, "--check"], compliant),
            0.25,
        ),
        Comparison(
            "--fix from manual setup vs Ansible converge",
            Side("--fix", [*SUITE, "--fix"], manual),
            Side("ansible", ANSIBLE, manual),
            0.5,
        ),
        Comparison(
            "--fix with nothing to change vs audit",
            Side("--fix (no change)", [*SUITE, "--fix"], compliant),
            audit,
            1.2,
        ),
        Comparison(
            "4 containers with -n 4 vs 1 container",
            Side(
                "4 CTs -n 4",
                [*SUITE, "-n", "4", *containers(FLEET)],
                fleet_compliant,
            ),
            Side("1 CT", [*SUITE, *containers(FLEET[:1])], fleet_compliant),
            1.6,
        ),
        Comparison(  # not an issue target: the same fleet without xdist, for contrast
            "4 containers without -n vs 1 container",
            Side("4 CTs", [*SUITE, *containers(FLEET)], fleet_compliant),
            Side("1 CT", [*SUITE, *containers(FLEET[:1])], fleet_compliant),
            None,
        ),
        Comparison(  # not an issue target: what -n auto chooses on one host (no workers)
            "4 containers with -n auto vs 1 container",
            Side("4 CTs -n auto", [*SUITE, "-n", "auto", *containers(FLEET)], fleet_compliant),
            Side("1 CT", [*SUITE, *containers(FLEET[:1])], fleet_compliant),
            None,
        ),
        Comparison(  # OpenSSH with its connection reused across runs (ControlPersist)
            "audit over ssh:// (OpenSSH) vs paramiko",
            Side("audit ssh://", SUITE_SSH, compliant),
            audit,
            1.05,
        ),
        Comparison(  # what a scheduled run adds (metrics file, drift baseline)
            "audit with --metrics and --drift vs audit",
            Side("scheduled", [*SUITE, *SCHEDULED], compliant),
            audit,
            1.1,
        ),
        Comparison(  # not an issue target: what the hardened profile's proofs cost
            "hardened audit vs plan audit (a hardened lab)",
            Side("hardened audit", [*SUITE, *HARDENED], hardened),
            Side("plan audit", SUITE, hardened),
            None,
        ),
        Comparison(  # a host's containers converge in rounds: one fix for all CTs at once
            "--fix from manual setup, 8 containers vs 1 container",
            Side("--fix 8 CTs", [*SUITE, "--fix", *containers(FLEET8)], fleet8_manual),
            Side("--fix 1 CT", [*SUITE, "--fix", *containers(FLEET8[:1])], manual),
            2.5,
        ),
        Comparison(
            "audit, 8 containers vs 1 container",
            Side("audit 8 CTs", [*SUITE, *containers(FLEET8)], fleet8_compliant),
            Side("audit 1 CT", [*SUITE, *containers(FLEET8[:1])], fleet8_compliant),
            1.5,
        ),
    ]


def _verdict(ratio: float, target: float | None) -> str:
    """The table's `target | met` cells (blank for a contrast row)."""
    if target is None:
        return " | "
    return f"<= {target}x | {'yes' if ratio <= target else 'no'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per side (median; default 5)")
    parser.add_argument("--only", default="", help="comma-separated comparison numbers (1-12)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    chosen = comparisons()
    if args.only:
        try:
            chosen = [chosen[int(n) - 1] for n in args.only.split(",")]
        except (ValueError, IndexError):
            parser.error(f"--only takes numbers 1-{len(chosen)}, comma separated")
    rows = []
    for item in chosen:
        a, b = compare(item, args.runs)
        ratio = a / b
        rows.append((item.title, a, b, ratio, item.target))
        print(f"  {item.title}: {a:.2f}s vs {b:.2f}s", file=sys.stderr)
    lines = [
        f"| comparison (A vs B), medians of {args.runs} alternating runs | A s | B s | A/B | "
        "target | met |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {t} | {a:.2f} | {b:.2f} | {r:.2f}x | {_verdict(r, g)} |" for t, a, b, r, g in rows
    ]
    table = "\n".join(lines)
    print(table)
    (REPO / "reports").mkdir(exist_ok=True)
    (REPO / "reports/bench.md").write_text(table + "\n")
    states.reset()


if __name__ == "__main__":
    main()

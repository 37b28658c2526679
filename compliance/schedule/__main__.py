"""`python3 -m compliance.schedule install|remove|status|render|run`: see the package's doc."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compliance.schedule import install, runner
from compliance.schedule.units import (
    DEFAULT_ARGS,
    METRICS,
    STATE_DIR,
    UNIT_DIR,
    Schedule,
    ScheduleError,
    check_pytest_args,
    rendered,
)

ACTIONS = {
    "install": "write, verify and enable the service and its timer (root)",
    "remove": "stop, disable and remove them (reports and baseline stay)",
    "status": "what is installed, its last and next run, the newest report",
    "render": "print the two units, change nothing",
    "run": "what the service runs: one audit, reports kept, metrics and drift written",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python3 -m compliance.schedule",
        description="The read-only Ollama LXC audit on a schedule (systemd timer on the "
        "Proxmox host). Audit only: --fix is refused.",
        epilog="PYTEST-ARGS after `--` (default: --hosts=local://) go to the scheduled pytest.",
    )
    p.add_argument(
        "action", choices=ACTIONS, help="; ".join(f"{k}: {v}" for k, v in ACTIONS.items())
    )
    p.add_argument("--every", default="hourly", help="systemd OnCalendar= (default hourly)")
    p.add_argument("--delay", default="15min", help="RandomizedDelaySec= (default 15min)")
    p.add_argument("--keep", type=int, default=24, help="reports kept, one folder per run (24)")
    p.add_argument("--metrics", type=Path, default=METRICS, help=f"metrics file ({METRICS})")
    p.add_argument("--state-dir", type=Path, default=STATE_DIR, help=f"reports ({STATE_DIR})")
    p.add_argument("--user", default="root", help="user the audit runs as (root: pct needs it)")
    p.add_argument("--unit-dir", type=Path, default=UNIT_DIR, help=argparse.SUPPRESS)
    return p


def main(argv: list[str]) -> int:
    ours, sep, theirs = _split(argv)
    args = parser().parse_args(ours)
    schedule = Schedule(
        every=args.every,
        delay=args.delay,
        keep=args.keep,
        metrics=args.metrics,
        state_dir=args.state_dir,
        user=args.user,
        pytest_args=tuple(theirs) if sep else DEFAULT_ARGS,
    )
    try:
        if args.action == "run":
            check_pytest_args(schedule.pytest_args)  # a hand-edited unit asking for --fix
            return runner.run(schedule)
        if args.action == "render":
            for name, text in rendered(schedule.validate()).items():
                print(f"# {args.unit_dir / name}\n{text}")
            return 0
        if args.action == "status":
            code, lines = install.status(schedule, args.unit_dir)
            print("\n".join(lines))
            return code
        act = install.install if args.action == "install" else install.remove
        print("\n".join(act(schedule, args.unit_dir)))
        return 0
    except (ScheduleError, OSError) as exc:
        print(f"compliance.schedule {args.action}: {exc}", file=sys.stderr)
        return 4


def _split(argv: list[str]) -> tuple[list[str], bool, list[str]]:
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], True, argv[at + 1 :]
    return argv, False, []


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

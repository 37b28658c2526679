"""CLI: python3 -m lab up|reset|compliant|fault NAME|faults|status|down."""

from __future__ import annotations

import argparse
import sys
import time
from typing import NoReturn

from lab import config, states, status, up
from lab.shell import LabError


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line on stderr, exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _ctid(text: str) -> int:
    value = int(text) if text.isdigit() else -1
    if value not in config.CT_RANGE:
        raise argparse.ArgumentTypeError(f"lab container ids are 955..999, not {text!r}")
    return value


def _count(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if not 1 <= value <= len(config.CT_RANGE):
        raise argparse.ArgumentTypeError(f"expected 1..{len(config.CT_RANGE)}, not {text!r}")
    return value


def _parser() -> _Parser:
    parser = _Parser(prog="python3 -m lab", description="The compliance suite's lab.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("up", help="set up everything (idempotent), leave the manual-setup state")
    p.add_argument("--containers", type=_count, default=1, metavar="N", help="CTs 955.. (1)")
    for name, text in (
        (
            "reset",
            "back to the manual-setup state (binary only, nothing of the plan's sections 3-5)",
        ),
        ("compliant", "reset, then the plan's sections 3-5 done by hand"),
        ("fault", "compliant, then one fault (see `faults`)"),
    ):
        p = sub.add_parser(name, help=text)
        if name == "fault":
            p.add_argument("name", help="fault name")
        p.add_argument("--ctid", type=_ctid, default=config.CTID, help="container (955)")
    sub.add_parser("faults", help="list the faults")
    sub.add_parser("status", help="what the lab looks like now")
    sub.add_parser("down", help="stop the lab sshd and the containers (kept on disk)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse, dispatch, report errors as one line."""
    parser = _parser()
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        if args.command == "up":
            up.up(args.containers)
        elif args.command == "down":
            up.down()
        elif args.command == "status":
            status.status()
        elif args.command == "faults":
            width = max(map(len, states.FAULTS))
            for fault in states.FAULTS.values():
                print(f"{fault.name:<{width}}  {fault.description}")
        elif args.command == "fault" and args.name not in states.FAULTS:
            parser.error(f"unknown fault {args.name!r} (list them: python3 -m lab faults)")
        else:
            name = getattr(args, "name", "")
            if args.command == "reset":
                states.reset(args.ctid)
            elif args.command == "compliant":
                states.make_compliant(args.ctid)
            else:
                states.apply_fault(name, args.ctid)
            took = time.monotonic() - started
            print(f"CT {args.ctid}: {args.command} {name} done in {took:.1f}s".replace("  ", " "))
    except LabError as exc:
        sys.stderr.write(f"lab: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("lab: interrupted\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

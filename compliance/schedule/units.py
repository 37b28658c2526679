"""The schedule's settings, validated, and the two systemd units rendered from them."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

SERVICE = "ollama-compliance.service"
TIMER = "ollama-compliance.timer"
UNIT_DIR = Path("/etc/systemd/system")
STATE_DIR = Path("/var/lib/ollama-compliance")
# Debian's prometheus-node-exporter reads *.prom files of this directory (textfile collector).
METRICS = Path("/var/lib/prometheus/node-exporter/ollama_compliance.prom")
SUITE_DIR = Path(__file__).resolve().parents[2]  # the checkout: conftest.py, pyproject.toml
DEFAULT_ARGS = ("--hosts=local://",)  # the schedule runs on the Proxmox host itself
# Options the scheduled run sets itself, or that would change the host.
REFUSED = ("--fix", "--dry-run", "--metrics", "--drift", "--html", "--junitxml", "--summary")

_CALENDAR = re.compile(r"[A-Za-z0-9 *:,./~-]{1,64}")
_TIMESPAN = re.compile(r"(\d+ ?(us|ms|s|sec|m|min|h|hr|d|w)? ?){1,4}")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_EXEC_SAFE = re.compile(r"[A-Za-z0-9_@+=:,./-]+")


class ScheduleError(ValueError):
    """A setting of the schedule that cannot be used: one line naming it."""


@dataclass(frozen=True)
class Schedule:
    """When and how the audit runs, and where its results go."""

    every: str = "hourly"  # systemd OnCalendar=
    delay: str = "15min"  # RandomizedDelaySec=: hosts of a fleet do not all run at once
    keep: int = 24  # reports kept (one folder per run)
    metrics: Path = METRICS
    state_dir: Path = STATE_DIR
    user: str = "root"  # the plan's user: pct exec and nginx -T need root on the host
    pytest_args: tuple[str, ...] = field(default=DEFAULT_ARGS)
    python: str = sys.executable
    suite_dir: Path = SUITE_DIR

    def validate(self) -> Schedule:
        """Every value checked before any file is written (ScheduleError names the first)."""
        if not _CALENDAR.fullmatch(self.every):
            raise ScheduleError(f"--every {self.every!r}: not a systemd calendar expression")
        if not _TIMESPAN.fullmatch(self.delay.strip()):
            raise ScheduleError(f"--delay {self.delay!r}: not a systemd time span (15min, 1h)")
        if not 1 <= self.keep <= 10000:
            raise ScheduleError(f"--keep {self.keep}: keep 1 to 10000 reports")
        if not self.metrics.is_absolute() or self.metrics.suffix != ".prom":
            raise ScheduleError(
                f"--metrics {self.metrics}: an absolute path ending in .prom "
                "(node_exporter's textfile collector reads only *.prom)"
            )
        if not self.state_dir.is_absolute():
            raise ScheduleError(f"--state-dir {self.state_dir}: not an absolute path")
        if not _USER.fullmatch(self.user):
            raise ScheduleError(f"--user {self.user!r}: not a user name")
        check_pytest_args(self.pytest_args)
        for what, path in (("--metrics", self.metrics), ("--state-dir", self.state_dir)):
            if _control(str(path)):
                raise ScheduleError(f"{what} {str(path)!r}: control characters")
        for what, plain in (("the suite's checkout", self.suite_dir), ("python", self.python)):
            if not _EXEC_SAFE.fullmatch(str(plain)):
                raise ScheduleError(f"{what} {str(plain)!r}: a path a unit can name unquoted")
        if not (self.suite_dir / "conftest.py").is_file():
            raise ScheduleError(f"{self.suite_dir}: no conftest.py (run from the suite's checkout)")
        return self

    def run_argv(self) -> list[str]:
        """The service's command: this module's `run`, with every setting spelt out."""
        return [
            self.python,
            "-m",
            "compliance.schedule",
            "run",
            f"--keep={self.keep}",
            f"--metrics={self.metrics}",
            f"--state-dir={self.state_dir}",
            "--",
            *self.pytest_args,
        ]


def check_pytest_args(args: tuple[str, ...] | list[str]) -> None:
    """Audit only, and nothing the scheduled run sets itself; one line per argument."""
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in REFUSED:
            why = "a schedule only audits" if name in ("--fix", "--dry-run") else "the run sets it"
            raise ScheduleError(f"pytest argument {arg!r} refused: {why}")
        if _control(arg):
            raise ScheduleError(f"pytest argument {arg!r}: control characters")


def _control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def exec_word(arg: str) -> str:
    """One argument as systemd's ExecStart= reads it (systemd.syntax(7), systemd.service(5)):
    `%` specifiers and `$` variables escaped, quoted when it holds anything else."""
    text = arg.replace("%", "%%").replace("$", "$$")
    if _EXEC_SAFE.fullmatch(arg):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def service(s: Schedule) -> str:
    """The oneshot service running the audit; a failed audit leaves it failed."""
    command = " ".join(exec_word(a) for a in s.run_argv())
    return f"""# Written by `python3 -m compliance.schedule install`: the read-only audit.
[Unit]
Description=Ollama LXC compliance audit (read-only, never --fix)
Documentation=file://{s.suite_dir}/README.md
After=network-online.target nginx.service
Wants=network-online.target

[Service]
Type=oneshot
User={s.user}
WorkingDirectory={s.suite_dir}
ExecStart={command}
# Exit codes: 0 compliant, 1 a check failed, 101 not judged, 102 no host, 4 bad settings.
Nice=10
IOSchedulingClass=idle
TimeoutStartSec=15min
UMask=0022
"""


def timer(s: Schedule) -> str:
    """The timer: the calendar, a random delay, and a run missed while down made up at boot."""
    return f"""# Written by `python3 -m compliance.schedule install`.
[Unit]
Description=Ollama LXC compliance audit, {s.every}
Documentation=file://{s.suite_dir}/README.md

[Timer]
OnCalendar={s.every}
RandomizedDelaySec={s.delay}
Persistent=true
Unit={SERVICE}

[Install]
WantedBy=timers.target
"""


def rendered(s: Schedule) -> dict[str, str]:
    return {SERVICE: service(s), TIMER: timer(s)}

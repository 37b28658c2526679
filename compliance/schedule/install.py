"""Install, remove and inspect the schedule's units with systemctl.

Nothing is half-applied: the units are verified (`systemd-analyze verify`) before they
replace anything, the units they replace are backed up beside them, and a failed enable
puts the previous units back.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from compliance.schedule import runner, trust
from compliance.schedule.units import SERVICE, TIMER, Schedule, ScheduleError, rendered

Command = Callable[[Sequence[str]], tuple[int, str]]  # argv -> (exit code, merged output)


def system(argv: Sequence[str]) -> tuple[int, str]:
    """Run a command of the host; (exit code, stdout+stderr)."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=120)
    except FileNotFoundError:
        return 127, f"{argv[0]}: not found"
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "(no output)")


def verify(units: dict[str, str], command: Command) -> None:
    """`systemd-analyze verify` on the rendered units, in a folder of their own."""
    with tempfile.TemporaryDirectory(prefix="ollama-compliance-") as folder:
        paths = []
        for name, text in units.items():
            path = Path(folder) / name
            path.write_text(text)
            paths.append(str(path))
        rc, out = command(["systemd-analyze", "verify", *paths])
    if rc == 127:
        return  # no systemd-analyze: systemctl daemon-reload still parses them
    if rc != 0:
        raise ScheduleError(f"systemd-analyze verify refused the units: {first_line(out)}")


def install(s: Schedule, unit_dir: Path, command: Command = system) -> list[str]:
    """Write, verify, enable and start the timer; returns what was done. Refused, with
    nothing written, when another user than root could change the code it runs as root."""
    units = rendered(s.validate())
    if s.user == "root" and (why := trust.root_can_trust(s.suite_dir, s.python)) is not None:
        raise ScheduleError(f"refused: the audit would run as root {why}; nothing was written")
    verify(units, command)
    done, backups = [], {}
    for name, text in units.items():
        path = unit_dir / name
        if path.is_file() and path.read_text() == text:
            continue
        if path.is_file():
            backups[name] = path.with_name(name + ".bak")
            shutil.copy2(path, backups[name])
        staged = path.with_name(f".{name}.new")
        staged.write_text(text)
        staged.replace(path)
        done.append(f"wrote {path}")
    for argv in (["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", TIMER]):
        rc, out = command(argv)
        if rc != 0:
            _restore(unit_dir, units, backups, command)
            raise ScheduleError(f"{' '.join(argv)} failed: {first_line(out)}; units restored")
    return [*done, f"enabled and started {TIMER}"]


def _restore(
    unit_dir: Path, units: dict[str, str], backups: dict[str, Path], command: Command
) -> None:
    """The units as they were before install: backups back, new files gone."""
    for name in units:
        path = unit_dir / name
        if name in backups:
            backups[name].replace(path)
        elif path.is_file():
            path.unlink()
    command(["systemctl", "daemon-reload"])


def remove(s: Schedule, unit_dir: Path, command: Command = system) -> list[str]:
    """Stop and disable the timer, remove both units and the metrics file (a stale gauge
    would say the deployment is still watched); the reports and the baseline stay."""
    done = []
    command(["systemctl", "disable", "--now", TIMER])
    command(["systemctl", "stop", SERVICE])
    for name in (SERVICE, TIMER):
        path = unit_dir / name
        if path.is_file():
            path.unlink()
            done.append(f"removed {path}")
    command(["systemctl", "daemon-reload"])
    if s.metrics.is_file():
        s.metrics.unlink()
        done.append(f"removed {s.metrics}")
    return done or ["nothing was installed"]


STATUS_PROPS = {
    TIMER: ("ActiveState", "UnitFileState", "LastTriggerUSec", "NextElapseUSecRealtime"),
    SERVICE: ("ActiveState", "Result", "ExecMainStatus", "ExecMainExitTimestamp"),
}


def status(s: Schedule, unit_dir: Path, command: Command = system) -> tuple[int, list[str]]:
    """What is installed, when it last ran and how, where its newest report is.
    Exit code: 0 installed and the last run compliant (or none yet), 1 the last run was not,
    3 not installed."""
    if not (unit_dir / TIMER).is_file():
        return 3, [f"not installed: no {unit_dir / TIMER}"]
    lines, last_status = [], ""
    for unit, props in STATUS_PROPS.items():
        argv = ["systemctl", "show", unit, *(f"--property={p}" for p in props)]
        _rc, out = command(argv)
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        lines.append(f"{unit}: " + ", ".join(f"{p}={values.get(p, '?')}" for p in props))
        if unit == SERVICE:
            last_status = values.get("ExecMainStatus", "")
    latest = s.state_dir / runner.REPORTS / runner.LATEST
    lines.append(f"newest report: {latest.resolve() / 'report.html' if latest.exists() else '-'}")
    if s.metrics.is_file():
        lines.append(f"metrics: {s.metrics}")
    return (1 if last_status not in ("", "0") else 0), lines

"""What the scheduled service runs: the audit with its reports in a folder of their own,
metrics for node_exporter, drift against the last green run, and only the newest N kept."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from compliance.schedule.units import Schedule

REPORTS = "reports"
LATEST = "latest"  # a symlink to the newest run's folder
BASELINE = "last-green.json"  # --drift: the facts of the last green run


def run_folder(state_dir: Path, now: float | None = None) -> Path:
    """A new folder for this run's reports, named by its UTC start: `audit-20261206T090000Z`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    folder = state_dir / REPORTS / f"audit-{stamp}"
    suffix = 1
    while folder.exists():  # two runs in one second: never write into another run's folder
        suffix += 1
        folder = state_dir / REPORTS / f"audit-{stamp}-{suffix}"
    folder.mkdir(parents=True)
    return folder


def pytest_argv(s: Schedule, folder: Path) -> list[str]:
    """The audit, as `pytest` would be typed, with the run's outputs added."""
    return [
        s.python,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",  # the checkout may be read-only
        *s.pytest_args,
        f"--html={folder / 'report.html'}",
        "--self-contained-html",
        f"--junitxml={folder / 'junit.xml'}",
        f"--summary={folder / 'summary.md'}",
        f"--metrics={s.metrics}",
        f"--drift={s.state_dir / BASELINE}",
    ]


def prune(state_dir: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` run folders; returns what was removed."""
    runs = sorted(p for p in (state_dir / REPORTS).glob("audit-*") if p.is_dir())
    removed = runs[: max(len(runs) - keep, 0)]
    for folder in removed:
        shutil.rmtree(folder)
    return removed


def point_latest(state_dir: Path, folder: Path) -> None:
    """`reports/latest` -> this run's folder, replaced atomically."""
    link = state_dir / REPORTS / LATEST
    staged = link.with_name(f".{LATEST}.new")
    staged.unlink(missing_ok=True)
    staged.symlink_to(folder.name)
    staged.replace(link)


def run(s: Schedule) -> int:
    """One scheduled audit; its exit code is the audit's (0 compliant, 1, 101, 102, 4)."""
    folder = run_folder(s.state_dir)
    code = subprocess.call(pytest_argv(s, folder), cwd=s.suite_dir)
    point_latest(s.state_dir, folder)
    prune(s.state_dir, s.keep)
    return code

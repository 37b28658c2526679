"""pytest plugin: print when each phase of a run starts, in seconds since the process started.

Where the audit's start-up goes, per process (xdist workers included):

    PYTHONPATH=bench python3 -m pytest -p phaseclock --ssh-config=lab/ssh_config --hosts=proxmox
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from pathlib import Path

import pytest


def _process_start() -> float:
    """This process's start time, epoch seconds (from /proc, clock-tick precision)."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    boot = next(
        float(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    return boot + ticks / os.sysconf("SC_CLK_TCK")


STARTED = _process_start()


def mark(phase: str) -> None:
    who = os.environ.get("PYTEST_XDIST_WORKER", "main")
    sys.stderr.write(f"phaseclock {who} {time.time() - STARTED:6.3f}s {phase}\n")


mark("plugins loading (Python and pytest imported)")
atexit.register(mark, "exit")


def pytest_configure(config: pytest.Config) -> None:
    mark("configure (all plugins and conftests imported)")


def pytest_collection_finish(session: pytest.Session) -> None:
    mark("collection done")


_first_check_seen = False


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    global _first_check_seen
    if not _first_check_seen:
        _first_check_seen = True
        mark("first check starts (the suite's preflight is done)")


def pytest_sessionfinish(session: pytest.Session) -> None:
    mark("session finish")

"""nginx on the host (no systemd here): pids, start, verified reload, quit, probes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from lab.shell import LabError, host_run, live_pid, wait_until

PID_FILE = Path("/run/nginx.pid")
LOCK_FILE = Path("/run/lock/ollama-lab-nginx.lock")


def master_pid() -> int | None:
    """The running nginx master's pid, or None."""
    return live_pid(PID_FILE, "nginx")


def worker_pids(master: int | None = None) -> list[int]:
    """Pids of the master's children (workers, cache helpers), sorted."""
    master = master or master_pid()
    if master is None:
        return []
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == master:
            children.append(int(entry.name))
    return sorted(children)


def serving_worker_pids(master: int) -> set[int]:
    """The master's children that serve (not titled "shutting down"), as the suite counts."""
    serving = set()
    for pid in worker_pids(master):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"shutting down" not in title:
            serving.add(pid)
    return serving


def process_start(pid: int) -> float:
    """When pid started, as epoch seconds (from /proc, tick precision)."""
    ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    boot = next(
        float(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    return boot + ticks / os.sysconf("SC_CLK_TCK")


_held = 0


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Serialize host-side nginx changes between lab processes (parallel self-tests).

    Re-entrant within one process: nested uses share the outer lock.
    """
    global _held
    if _held:
        _held += 1
        try:
            yield
        finally:
            _held -= 1
        return
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _held = 1
        try:
            yield
        finally:
            _held = 0


def test() -> None:
    """nginx -t; LabError with the [emerg] line when it fails."""
    proc = host_run(["nginx", "-t"], check=False)
    if proc.returncode != 0:
        emerg = [line for line in proc.stderr.splitlines() if "[emerg]" in line]
        raise LabError("nginx -t failed: " + (emerg[0] if emerg else proc.stderr.strip()))


def ensure_running() -> bool:
    """Start nginx if it is not running; True if it had to be started."""
    if master_pid() is not None:
        return False
    test()
    host_run(["nginx"])
    wait_until("nginx to start", master_pid, 10)
    return True


def reload() -> None:
    """Reload (or start) nginx and wait until new workers replace the old ones."""
    master = master_pid()
    if master is None:
        ensure_running()
        return
    old = set(worker_pids(master))
    host_run(["nginx", "-s", "reload"])
    wait_until(
        "nginx to start new workers after reload (see /var/log/nginx/error.log)",
        lambda: set(worker_pids(master)) - old,
        10,
    )
    # Every serving worker must be new: the suite's nginx_running compares the oldest serving
    # worker's start with the config's mtimes, so an old one still serving reads as "pending".
    wait_until(
        "old nginx workers to stop serving", lambda: not old & serving_worker_pids(master), 10
    )
    with contextlib.suppress(LabError):
        wait_until("old nginx workers to exit", lambda: not old & set(worker_pids(master)), 5)


def quit_() -> None:
    """Stop nginx gracefully (nginx -s quit) and wait until it is gone."""
    if master_pid() is None:
        return
    host_run(["nginx", "-s", "quit"])
    wait_until("nginx to exit", lambda: master_pid() is None, 15)


def http_status(url: str, timeout: float = 3) -> int:
    """HTTP status of a GET to url (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return 0


def wait_http(url: str, status: int = 200, timeout: float = 15) -> None:
    """Wait until url answers with status."""
    wait_until(f"{url} to answer {status}", lambda: http_status(url) == status, timeout, 0.1)


def newer_than_workers(path: Path) -> None:
    """Make sure path's mtime is later (even in whole seconds) than every worker's start."""
    workers = worker_pids()
    latest = max((process_start(p) for p in workers), default=0.0)
    while int(time.time()) <= int(latest):
        time.sleep(0.05)
    os.utime(path)

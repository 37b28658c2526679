"""Run commands on the host and in a container; wait for conditions, bounded."""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CT_ENV = ("HOME=/root", "LANG=C.UTF-8")


class LabError(Exception):
    """A lab step failed; the message is one line meant for the user."""


def live_pid(pid_file: Path, comm: str) -> int | None:
    """The pid in pid_file if it is a live (not zombie) process named comm, else None.

    A pid file outlives its process when that is killed, and the pid may be reused; under
    a PID 1 that does not reap, a killed daemon also lingers as a zombie with its old name.
    """
    try:
        pid = int(pid_file.read_text().split()[0])
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError, IndexError):
        return None
    name, rest = stat.split("(", 1)[1].rsplit(")", 1)
    return pid if name == comm and rest.split()[0] != "Z" else None


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line for line in text.strip().splitlines()[-lines:] if line)


def host_run(
    cmd: str | Sequence[str],
    *,
    check: bool = True,
    input: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run cmd on the host (a string goes through sh -c); raise LabError if check fails."""
    argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
    try:
        proc = subprocess.run(
            argv,
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout:.0f}s: {shlex.join(argv)[:200]}") from exc
    except FileNotFoundError as exc:
        raise LabError(f"command not found: {argv[0]}") from exc
    if check and proc.returncode != 0:
        what = cmd if isinstance(cmd, str) else shlex.join(argv)
        detail = _tail(proc.stderr) or _tail(proc.stdout)
        raise LabError(f"exit {proc.returncode}: {what.strip()[:160]}: {detail}")
    return proc


def ct_run(
    ctid: int,
    cmd: str,
    *,
    check: bool = True,
    input: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a shell command in container ctid with a clean root environment."""
    argv = ["lxc-attach", "-n", str(ctid), "--clear-env"]
    for var in CT_ENV:
        argv += ["-v", var]
    try:
        return host_run([*argv, "--", "sh", "-c", cmd], check=check, input=input, timeout=timeout)
    except LabError as exc:
        raise LabError(f"CT {ctid}: {exc}") from exc


def wait_until(what: str, probe: Callable[[], T | None], timeout: float, step: float = 0.1) -> T:
    """Call probe until it returns something truthy; raise LabError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)

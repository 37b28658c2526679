"""The fix locks: one fix at a time per container, and per host for what its CTs share, and
never a wait without end.

`fix_locks` is what the remediator takes around a round of fixes and its re-checks: the lock of
each container the round changes and, when the fix changes what the host's CTs share (nginx),
the host's lock too, always in that order (CTs by id, then the host), so two runners never
wait on each other. Each lock is the runner-local lock (`local_lock`), which serialises the
processes and threads of this user on this machine (pytest -n), and inside it the target's own
lock (`target_lock`, a directory in a root-only directory on the host, /run/ollama-compliance,
bounded), so that runners on two machines cannot fix one CT, or the host's nginx, at once. Not
/run/lock: anyone may write there (mode 1777), so any local user could hold the lock and write
the holder's name the error shows.

The local lock lives in a private per-user directory ($XDG_RUNTIME_DIR/ollama-compliance, else
/tmp/ollama-compliance-<uid>): created 0700, refused unless it is ours and not a symlink; the
lock file is opened without following symlinks, mode 0600.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import secrets
import shlex
import socket
import stat
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from testinfra.host import Host

from compliance.report.evidence import ReportedFailure
from compliance.transport import backends, userdirs

LOCK_WAIT_S = 120.0  # the longest a fix waits for another run's fix on the same host
POLL_S = 0.1
DIR_NAME = "ollama-compliance"


class LockError(ReportedFailure):
    """The fix lock could not be taken (held too long, or its path is not safe): one line."""


def lock_dir() -> Path:
    """The private directory of this user's lock files (not created here)."""
    runtime = userdirs.runtime_dir()
    if runtime is not None:
        return runtime / DIR_NAME
    return Path(tempfile.gettempdir()) / f"{DIR_NAME}-{os.getuid()}"


def lock_path(address: str) -> Path:
    """The lock file of a host, keyed by its configured address (ssh HostName, ansible_host),
    so two names for one machine share a lock."""
    digest = hashlib.sha256(address.encode()).hexdigest()[:16]
    return lock_dir() / f"{digest}.lock"


def _open_private_dir(path: Path) -> int:
    """A descriptor of `path`, a directory of ours, mode 0700 (created so if absent)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise LockError(f"fix lock directory {path}: cannot create it: {exc.strerror}") from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            why = "is a symlink or not a directory: refusing it (remove it)"
        else:
            why = f"cannot open it: {exc.strerror}"
        raise LockError(f"fix lock directory {path} {why}") from None
    info = os.fstat(fd)
    if info.st_uid != os.getuid():
        os.close(fd)
        raise LockError(
            f"fix lock directory {path} belongs to uid {info.st_uid}, not to us "
            f"(uid {os.getuid()}): refusing it"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.fchmod(fd, 0o700)
    return fd


def _open_lock_file(path: Path) -> int:
    """A descriptor of the lock file at `path`: created 0600, never through a symlink."""
    dir_fd = _open_private_dir(path.parent)
    try:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path.name, flags, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            why = "is a symlink: refusing it (remove it)"
        else:
            why = f"cannot open it: {exc.strerror}"
        raise LockError(f"fix lock file {path} {why}") from None
    finally:
        os.close(dir_fd)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        os.close(fd)
        raise LockError(f"fix lock file {path} is not a regular file of ours: refusing it")
    if stat.S_IMODE(info.st_mode) != 0o600:
        os.fchmod(fd, 0o600)
    return fd


def _holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it (`pid N`), for the error message."""
    try:
        text = os.pread(fd, 64, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return "another run"
    return f"pid {text}" if text.isdigit() else "another run"


@contextmanager
def local_lock(
    address: str, wait: float = LOCK_WAIT_S, deadline: float | None = None
) -> Iterator[None]:
    """Hold this machine's lock of host `address`; waits at most `wait` seconds for it (or
    until `deadline`, the monotonic clock's, when several locks share one wait)."""
    path = lock_path(address)
    fd = _open_lock_file(path)
    try:
        deadline = time.monotonic() + wait if deadline is None else deadline
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockError(
                        f"fix lock {path} of host {address} is still held by {_holder(fd)} "
                        f"after waiting {wait:g} s: not fixed; run again when it is done"
                    ) from None
                time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


TARGET_DIR = "/run/ollama-compliance"  # root-only (0700, the suite's login): no one else writes
TARGET_LOCK = f"{TARGET_DIR}/host.lock"  # a directory: mkdir is atomic on the target
TARGET_POLL_S = 20  # one remote wait (under the command deadline); the runner repeats it
UNSAFE = 76  # the lock's directory is not the suite's own: refused, never used
# Takes each lock directory in order; one still held at the end of the wait gives back those
# taken (exit 75, then the held one and its owner, a line each).
ACQUIRE = """b=%s; token=%s; end=$(( $(date +%%s) + %d ))
if [ -L "$b" ] || { [ -e "$b" ] && [ ! -d "$b" ]; }; then
  echo "$b is a symlink or not a directory"; exit 76
fi
mkdir -p -m 0700 "$b" 2>/dev/null
set -- $(stat -c '%%u %%a' "$b" 2>/dev/null)
if [ "${1:-}" != "$(id -u)" ] || [ "${2:-}" != 700 ]; then
  echo "$b belongs to uid ${1:-?} with mode ${2:-?}, not to this login with mode 0700"; exit 76
fi
taken=
for d in %s; do
  until mkdir "$d" 2>/dev/null; do
    if [ "$(date +%%s)" -ge "$end" ]; then
      for t in $taken; do rm -rf "$t"; done
      printf '%%s\\n' "$d"; cat "$d/owner" 2>/dev/null || echo unknown; exit 75
    fi
    sleep 0.3
  done
  printf '%%s\\n' "$token" > "$d/owner"; taken="$taken $d"
done
"""
RELEASE = 'for d in %s; do [ "$(cat "$d/owner" 2>/dev/null)" = %s ] && rm -rf "$d"; done; true'
BREAK = RELEASE  # the same guarded removal, with the stale owner's token


def _owner_token() -> str:
    """Who holds the target's lock: this runner's name, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _stale(owner: str) -> bool:
    """An owner on this machine whose process is gone (a killed run) holds nothing."""
    name, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if name != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def ct_lock_path(ctid: str) -> str:
    """The target's lock directory of one container."""
    if not ctid.isdigit():
        raise LockError(f"CT id {ctid!r} is not a number: no lock path for it")
    return f"{TARGET_DIR}/ct-{ctid}.lock"


@contextmanager
def target_lock(
    host: Host,
    wait: float = LOCK_WAIT_S,
    paths: Sequence[str] | None = None,
    deadline: float | None = None,
) -> Iterator[None]:
    """Hold locks on the target itself (directories under /run/ollama-compliance: the host's,
    by default, or those of `paths`, taken in their order in one command), so two runners on
    two machines never fix one at once. Waits at most `wait` seconds; a lock left by a killed
    run on this machine is broken."""
    token = _owner_token()
    dirs = list(paths) if paths else [TARGET_LOCK]
    quoted = " ".join(shlex.quote(d) for d in dirs)
    deadline = time.monotonic() + wait if deadline is None else deadline
    while True:
        # one remote wait stays well inside the command deadline the host enforces
        poll = min(TARGET_POLL_S, backends.DEADLINE.seconds // 2)
        seconds = int(max(1, min(poll, deadline - time.monotonic())))
        script = ACQUIRE % (TARGET_DIR, shlex.quote(token), seconds, quoted)
        result = backends.run(host, script)
        if result.rc == 0:
            break
        said = backends.output_text(result).strip().splitlines() or ["unknown"]
        owner, held = said[-1], (said[-2] if result.rc == 75 and len(said) >= 2 else "")
        if result.rc == UNSAFE:
            raise LockError(f"fix lock directory on the target refused: {owner}; not fixed")
        if result.rc == 75 and _stale(owner):
            backends.run(host, BREAK % (shlex.quote(held), shlex.quote(owner)))
            continue
        if result.rc != 75 or time.monotonic() >= deadline:
            why = "is held by " + owner if result.rc == 75 else f"failed: {owner}"
            raise LockError(
                f"fix lock {held or dirs[0]} on the target {why} after {wait:g} s: not fixed; "
                "run again when the other run is done"
            )
    try:
        yield
    finally:
        backends.run(host, RELEASE % (quoted, shlex.quote(token)))


@contextmanager
def fix_locks(
    address: str,
    host: Host | None,
    ctids: Sequence[str],
    whole_host: bool,
    wait: float = LOCK_WAIT_S,
) -> Iterator[None]:
    """Hold what a round of fixes changes: the lock of each container in `ctids`, then, with
    `whole_host`, the host's (what its CTs share: nginx). Every runner takes them in this order
    (CTs by id, then the host), so none waits on another that waits on it; the local locks
    (keyed by the host's address, and the CT) before the target's, all within `wait`."""
    ids = sorted(set(ctids), key=lambda ctid: (len(ctid), ctid))
    keys = [f"{address} ct{ctid}" for ctid in ids] + ([address] if whole_host else [])
    deadline = time.monotonic() + wait
    with ExitStack() as held:
        for key in keys:
            held.enter_context(local_lock(key, wait, deadline))
        if host is not None and keys:
            paths = [ct_lock_path(ctid) for ctid in ids] + ([TARGET_LOCK] if whole_host else [])
            held.enter_context(target_lock(host, wait, paths, deadline))
        yield


@contextmanager
def host_lock(address: str, host: Host | None = None, wait: float = LOCK_WAIT_S) -> Iterator[None]:
    """Serialise fixes of what one host's CTs share: the host's locks alone (`fix_locks`)."""
    with fix_locks(address, host, (), True, wait):
        yield

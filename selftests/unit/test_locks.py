"""The fix lock: private, never through a symlink, bounded, and it does serialise."""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from compliance.report.evidence import ReportedFailure
from remediation import locks
from remediation.locks import LockError, host_lock, local_lock, lock_dir, lock_path

ADDRESS = "192.0.2.10"
DIGEST = hashlib.sha256(ADDRESS.encode()).hexdigest()[:16]


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    """A private XDG_RUNTIME_DIR for the test (the lock directory goes inside it)."""
    directory = tmp_path / "run-user"
    directory.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))
    return directory


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_lock_is_keyed_by_the_hosts_address_in_a_private_directory(runtime):
    assert lock_dir() == runtime / "ollama-compliance"
    assert lock_path(ADDRESS) == runtime / "ollama-compliance" / f"{DIGEST}.lock"
    with host_lock(ADDRESS):
        assert mode(runtime / "ollama-compliance") == 0o700
        assert mode(lock_path(ADDRESS)) == 0o600
        assert lock_path(ADDRESS).read_text() == f"{os.getpid()}\n"


def test_without_a_usable_runtime_dir_the_lock_goes_to_a_per_user_tmp_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for runtime in (None, "", "relative/dir", str(tmp_path / "absent")):
        if runtime is None:
            monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
        else:
            monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
        assert lock_dir() == tmp_path / f"ollama-compliance-{os.getuid()}"
    with host_lock(ADDRESS):
        assert mode(tmp_path / f"ollama-compliance-{os.getuid()}") == 0o700
        assert mode(lock_path(ADDRESS)) == 0o600


def test_modes_hold_whatever_the_umask(runtime):
    old = os.umask(0o777)
    try:
        with host_lock(ADDRESS):
            pass
    finally:
        os.umask(old)
    assert mode(runtime / "ollama-compliance") == 0o700
    assert mode(lock_path(ADDRESS)) == 0o600


def test_a_loose_directory_of_ours_is_tightened(runtime):
    (runtime / "ollama-compliance").mkdir(mode=0o700)
    os.chmod(runtime / "ollama-compliance", 0o777)
    with host_lock(ADDRESS):
        assert mode(runtime / "ollama-compliance") == 0o700


@pytest.mark.parametrize("victim_exists", [False, True])
def test_a_symlink_planted_at_the_lock_file_is_refused_not_followed(runtime, victim_exists):
    victim = runtime.parent / "victim"
    if victim_exists:
        victim.write_text("precious\n")
        os.chmod(victim, 0o644)
    (runtime / "ollama-compliance").mkdir(mode=0o700)
    os.symlink(victim, lock_path(ADDRESS))
    with pytest.raises(LockError) as caught, host_lock(ADDRESS):
        pytest.fail("the lock was taken through a symlink")
    assert str(caught.value) == (
        f"fix lock file {lock_path(ADDRESS)} is a symlink: refusing it (remove it)"
    )
    if victim_exists:
        assert victim.read_text() == "precious\n"
        assert mode(victim) == 0o644
    else:
        assert not victim.exists()


def test_a_symlink_planted_at_the_lock_directory_is_refused(runtime):
    elsewhere = runtime.parent / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    os.symlink(elsewhere, runtime / "ollama-compliance")
    refused = pytest.raises(LockError, match="is a symlink or not a directory: refusing it")
    with refused, host_lock(ADDRESS):
        pytest.fail("the lock was taken in a symlinked directory")
    assert list(elsewhere.iterdir()) == []
    assert mode(elsewhere) == 0o755


def test_a_file_at_the_lock_directory_is_refused(runtime):
    (runtime / "ollama-compliance").write_text("")
    with pytest.raises(LockError, match="is a symlink or not a directory"), host_lock(ADDRESS):
        pass


def test_a_fifo_at_the_lock_file_is_refused(runtime):
    (runtime / "ollama-compliance").mkdir(mode=0o700)
    os.mkfifo(lock_path(ADDRESS))
    with pytest.raises(LockError, match="is not a regular file of ours"), host_lock(ADDRESS):
        pass


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the directory away")
def test_a_lock_directory_of_another_user_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / f"ollama-compliance-{os.getuid()}"
    planted.mkdir(mode=0o777)
    os.chown(planted, 65534, 65534)
    with pytest.raises(LockError, match="belongs to uid 65534, not to us"), host_lock(ADDRESS):
        pass
    assert list(planted.iterdir()) == []


def test_a_held_lock_times_out_with_one_line(runtime):
    with host_lock(ADDRESS):
        started = time.monotonic()
        failure = None

        def contend() -> None:  # another thread: flock locks are per open file, so it waits
            nonlocal failure
            try:
                with host_lock(ADDRESS, wait=0.3):
                    pass
            except LockError as exc:
                failure = exc

        thread = threading.Thread(target=contend)
        thread.start()
        thread.join(5)
        waited = time.monotonic() - started
    assert isinstance(failure, ReportedFailure)  # the report shows it without a traceback
    assert str(failure) == (
        f"fix lock {lock_path(ADDRESS)} of host {ADDRESS} is still held by pid {os.getpid()} "
        "after waiting 0.3 s: not fixed; run again when it is done"
    )
    assert 0.3 <= waited < 1.5


def test_other_hosts_do_not_wait(runtime):
    with host_lock(ADDRESS), host_lock("192.0.2.11", wait=0):
        pass


def test_two_threads_serialise(runtime):
    spans: list[tuple[float, float]] = []

    def fix() -> None:
        with host_lock(ADDRESS, wait=10):
            begun = time.monotonic()
            time.sleep(0.2)
            spans.append((begun, time.monotonic()))

    threads = [threading.Thread(target=fix) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(spans) == 3
    spans.sort()
    assert all(first[1] <= second[0] for first, second in itertools.pairwise(spans))


def test_two_processes_serialise(runtime):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from remediation.locks import host_lock\n"
            f"with host_lock({ADDRESS!r}):\n"
            "    print('held', flush=True)\n"
            "    sys.stdin.readline()\n"
            "    time.sleep(0.3)\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline() == "held\n"
        timed_out = pytest.raises(LockError, match=f"held by pid {holder.pid} after waiting")
        with timed_out, local_lock(ADDRESS, wait=0.2):
            pass
        holder.stdin.write("go\n")
        holder.stdin.flush()
        started = time.monotonic()
        with host_lock(ADDRESS, wait=10):  # it releases only when its 0.3 s of work are done
            assert time.monotonic() - started >= 0.25
        assert holder.wait(10) == 0
    finally:
        holder.kill()
        holder.wait(10)


def test_the_default_wait_is_bounded():
    assert 0 < locks.LOCK_WAIT_S <= 120


# -- the lock on the target itself ----------------------------------------------------------


@pytest.fixture
def target_dir(tmp_path, monkeypatch):
    base = tmp_path / "run" / "ollama-compliance"
    base.parent.mkdir()
    path = base / "host.lock"
    monkeypatch.setattr(locks, "TARGET_DIR", str(base))
    monkeypatch.setattr(locks, "TARGET_LOCK", str(path))
    monkeypatch.setattr(locks, "TARGET_POLL_S", 1)
    return path


def test_the_target_lock_lives_in_a_directory_only_the_suite_writes(local_host, target_dir):
    """Created 0700 by the login the suite uses (root on a Proxmox host), not in /run/lock."""
    assert not locks.TARGET_LOCK.startswith("/run/lock")
    with locks.target_lock(local_host, wait=2):
        info = target_dir.parent.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.getuid(), 0o700)


@pytest.mark.parametrize("how", ["world-writable", "symlink", "file"])
def test_a_lock_directory_someone_else_could_write_is_refused(local_host, target_dir, how):
    """Planted or loosened, it is refused in one line and nothing is taken or written."""
    base = target_dir.parent
    if how == "world-writable":
        base.mkdir(mode=0o700)
        base.chmod(0o1777)
    elif how == "symlink":
        elsewhere = base.parent / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        base.symlink_to(elsewhere)
    else:
        base.write_text("not a directory\n")
    with pytest.raises(locks.LockError) as failure, locks.target_lock(local_host, wait=1):
        pass
    message = str(failure.value)
    assert "\n" not in message
    assert "refused" in message, message
    assert not target_dir.exists()


def test_target_lock_is_held_then_released(local_host, target_dir):
    with locks.target_lock(local_host, wait=2):
        assert target_dir.is_dir()
        owner = (target_dir / "owner").read_text().strip()
        assert owner.startswith(f"{socket.gethostname()}:{os.getpid()}:")
    assert not target_dir.exists()


def test_target_lock_held_elsewhere_times_out_in_one_line(local_host, target_dir):
    target_dir.mkdir(parents=True)
    target_dir.parent.chmod(0o700)
    (target_dir / "owner").write_text("runner-b:4242:abcd\n")
    began = time.monotonic()
    with pytest.raises(locks.LockError) as failure, locks.target_lock(local_host, wait=1):
        pass
    assert time.monotonic() - began < 5
    message = str(failure.value)
    assert "\n" not in message
    assert "is held by runner-b:4242:abcd" in message
    assert (target_dir / "owner").read_text() == "runner-b:4242:abcd\n"  # not ours to break


def test_target_lock_left_by_a_killed_run_here_is_broken(local_host, target_dir):
    dead = subprocess.Popen(["true"])
    dead.wait()
    target_dir.mkdir(parents=True)
    target_dir.parent.chmod(0o700)
    (target_dir / "owner").write_text(f"{socket.gethostname()}:{dead.pid}:dead\n")
    with locks.target_lock(local_host, wait=3):
        assert "dead" not in (target_dir / "owner").read_text()
    assert not target_dir.exists()


# -- a round's locks: its containers', and the host's for what they share --------------------


def _try_locks(ctids: list[str], whole_host: bool, wait: float) -> LockError | None:
    """From another thread (flock locks are per open file, so it contends): None if taken."""
    failure: list[LockError] = []

    def contend() -> None:
        try:
            with locks.fix_locks(ADDRESS, None, ctids, whole_host, wait):
                pass
        except LockError as exc:
            failure.append(exc)

    thread = threading.Thread(target=contend)
    thread.start()
    thread.join(5)
    return failure[0] if failure else None


def test_rounds_on_different_containers_do_not_wait_for_each_other(runtime):
    with locks.fix_locks(ADDRESS, None, ["955"], whole_host=False):
        assert _try_locks(["956"], whole_host=False, wait=0) is None
        assert _try_locks([], whole_host=True, wait=0) is None  # nginx is not held


def test_a_round_waits_for_each_container_it_changes_and_names_the_held_one(runtime):
    with locks.fix_locks(ADDRESS, None, ["956"], whole_host=False):
        failure = _try_locks(["955", "956"], whole_host=False, wait=0.3)
    assert failure is not None
    assert str(failure).startswith(f"fix lock {lock_path(f'{ADDRESS} ct956')} of host ")
    assert "after waiting 0.3 s" in str(failure)


def test_a_round_that_changes_nginx_waits_for_the_hosts_lock(runtime):
    with host_lock(ADDRESS):
        assert _try_locks(["955"], whole_host=True, wait=0.2) is not None
        assert _try_locks(["955"], whole_host=False, wait=0) is None


def test_containers_are_locked_in_one_order_whatever_the_rounds_order(runtime, monkeypatch):
    """CTs by id (as numbers), then the host: two rounds never hold what the other waits on."""
    taken: list[str] = []
    real = locks.local_lock

    def record(key, wait, deadline=None):
        taken.append(key)
        return real(key, wait, deadline)

    monkeypatch.setattr(locks, "local_lock", record)
    with locks.fix_locks(ADDRESS, None, ["1000", "956", "955", "956"], whole_host=True):
        pass
    assert taken == [f"{ADDRESS} ct955", f"{ADDRESS} ct956", f"{ADDRESS} ct1000", ADDRESS]


def test_the_target_holds_each_containers_lock_and_the_hosts(local_host, target_dir, runtime):
    base = target_dir.parent
    with locks.fix_locks(ADDRESS, local_host, ["956", "955"], whole_host=True, wait=2):
        assert sorted(p.name for p in base.iterdir()) == ["ct-955.lock", "ct-956.lock", "host.lock"]
    assert list(base.iterdir()) == []


def test_a_container_held_elsewhere_on_the_target_gives_back_what_was_taken(
    local_host, target_dir, runtime
):
    base = target_dir.parent
    base.mkdir(mode=0o700)
    (base / "ct-956.lock").mkdir()
    (base / "ct-956.lock" / "owner").write_text("runner-b:4242:abcd\n")
    round_locks = locks.fix_locks(ADDRESS, local_host, ["955", "956"], whole_host=False, wait=1)
    with pytest.raises(LockError) as failure, round_locks:
        pass
    message = str(failure.value)
    assert message.startswith(f"fix lock {base}/ct-956.lock on the target is held by runner-b")
    assert sorted(p.name for p in base.iterdir()) == ["ct-956.lock"]  # ct-955's given back


def test_only_a_fix_of_what_the_cts_share_takes_the_hosts_lock():
    from remediation.registry import FIXES, shares_host

    assert {name for name in FIXES if shares_host(name)} == {"nginx_site"}

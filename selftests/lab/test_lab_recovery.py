"""The lab heals what a killed session leaves behind: /run survives, the processes do not."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from lab import config, hostsetup, states
from lab.shell import wait_until
from selftests.lab.harness import run_suite


@pytest.fixture(autouse=True)
def healthy_bridge():
    """Start from lxc-net up, and leave it up for the tests after these."""
    hostsetup.ensure_bridge()
    yield
    hostsetup.ensure_bridge()


def _dnsmasq_pid() -> int:
    return int(hostsetup.DNSMASQ_PID.read_text().strip())


def _kill_dnsmasq() -> int:
    """SIGKILL lxc-net's dnsmasq as a session teardown does; the pid file and bridge stay."""
    pid = _dnsmasq_pid()
    os.kill(pid, signal.SIGKILL)
    wait_until("dnsmasq to die", lambda: _dead(pid), 10)
    return pid


def _dead(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_dead_dnsmasq_is_restarted_and_containers_keep_their_network(tmp_path):
    states.make_compliant()
    ip_before = states.ct_ip(config.CTID)
    old = _kill_dnsmasq()
    assert hostsetup.DNSMASQ_PID.exists()
    assert hostsetup.bridge_up()

    assert hostsetup.ensure_bridge() is True
    assert _dnsmasq_pid() != old
    assert hostsetup.ensure_bridge() is False  # healthy now: nothing to do
    assert os.listdir(f"/sys/class/net/{config.BRIDGE}/brif"), "running CTs lost their veth"
    assert states.ct_ip(config.CTID) == ip_before
    run = run_suite(tmp_path=tmp_path)  # the proxied call crosses the bridge to the CT
    assert run.rc == 0, run.explain()


def test_stale_pid_file_naming_another_process_is_not_killed():
    """lxc-net's stop kills the pid in its file: a reused pid must never reach it."""
    _kill_dnsmasq()
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        hostsetup.DNSMASQ_PID.write_text(f"{bystander.pid}\n")
        assert hostsetup.ensure_bridge() is True
        assert bystander.poll() is None, "the bystander holding the stale pid was killed"
        assert _dnsmasq_pid() != bystander.pid
    finally:
        bystander.kill()
        bystander.wait()

"""Lab integration tests: they change this machine's lab (CT 955, nginx) and need root."""

from __future__ import annotations

import os
import subprocess

import pytest

from selftests.lab.harness import REPO, SSH_CONFIG


@pytest.fixture(scope="session", autouse=True)
def lab_is_up():
    """The lab must have been built (`lab/up`); a missing lab fails, it never skips."""
    if os.geteuid() != 0:
        pytest.fail("the lab tests need root (they drive LXC and nginx)")
    if not SSH_CONFIG.exists():
        pytest.fail(f"{SSH_CONFIG} missing: build the lab first with lab/up")
    probe = subprocess.run(
        ["ssh", "-F", str(SSH_CONFIG), "proxmox", "pct status 955"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if "status:" not in probe.stdout:
        pytest.fail(f"lab not reachable over ssh: {probe.stdout}{probe.stderr}")
    yield
    from lab import states

    states.reset()


@pytest.fixture
def reports(tmp_path):
    return tmp_path


def pytest_configure(config):
    os.chdir(REPO)

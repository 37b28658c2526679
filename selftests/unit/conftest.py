"""Fixtures for the unit self-tests: a local /bin/sh runner and a local testinfra host."""

from __future__ import annotations

import os
import subprocess

import pytest
import testinfra

from remediation import remote as remote_module
from remediation.remote import Remote


def run_sh(script: str) -> tuple[int, str]:
    """Run a script with /bin/sh here, as a FactStore runner does on a target."""
    done = subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, text=True, timeout=20, check=False
    )
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def sh():
    """The local /bin/sh runner (a stand-in for `pct exec ... /bin/sh -c`)."""
    return run_sh


@pytest.fixture
def local_host():
    """testinfra's local backend (no python probe for the encoding)."""
    host = testinfra.get_host("local://")
    host.backend._encoding = "utf-8"
    return host


@pytest.fixture
def backup_root(tmp_path, monkeypatch):
    """Backups go under the test's tmp dir instead of /var/backups."""
    root = tmp_path / "backups"
    monkeypatch.setattr(remote_module, "BACKUP_ROOT", str(root))
    return root


@pytest.fixture
def local_remote(local_host, backup_root):
    """A Remote on this machine whose backups land in `backup_root`."""
    if os.geteuid() != 0:
        pytest.skip("Remote.install chowns to root:root: needs root")
    return Remote(local_host, "local")

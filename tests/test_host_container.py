"""The container the plan is about exists and runs (every CT check depends on it)."""

from __future__ import annotations

import pytest

from compliance import checks


@pytest.mark.fix("ct_start")
def test_pve_ct_running(pve, container):
    """`pct status <ctid>` on the Proxmox host says `status: running`."""
    pve.judge(checks.ct_running)

"""The container the plan is about exists and runs (every CT check depends on it)."""

from __future__ import annotations

import pytest

from compliance import parsers


@pytest.mark.fix("ct_start")
def test_pve_ct_running(pve, container):
    """`pct status <ctid>` on the Proxmox host says `status: running`."""
    fact = pve.fact(f"ct_status_{container.ctid}")
    status = parsers.pct_status(fact.output) or "missing"
    ctid = container.ctid
    pve.require(status == "running", f"CT {ctid} running", f"CT {ctid} {status}")

"""The container the plan is about exists and runs (every CT check depends on it)."""

from __future__ import annotations


def test_pve_ct_running(pve, container):
    """`pct status <ctid>` on the Proxmox host says `status: running`."""
    fact = pve.fact(f"ct_status_{container.ctid}")
    status = container.pve.ct_status(container.ctid) or "missing"
    pve.require(
        status == "running", f"CT {container.ctid} running", f"CT {container.ctid} {status}"
    )

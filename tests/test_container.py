"""Plan section 4's premise: the container the plan is about exists and runs."""

from __future__ import annotations

from compliance.catalogue import check
from compliance.catalogue.verdict import Subject, Verdict, failed, passed
from compliance.facts.proxmox import CtStatus

ORDER = 1  # every other check of a container depends on this one


@check("host", "4", "ct_start")
def ct_running(s: Subject) -> Verdict:
    """`pct status <ctid>` on the Proxmox host says `status: running`."""
    ctid = s.container.ctid
    status = s[CtStatus].status or "missing"
    if status != "running":
        return failed(f"CT {ctid} running", f"CT {ctid} {status}")
    return passed()

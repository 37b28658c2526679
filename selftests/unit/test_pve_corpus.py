"""pve-firewall's own verdicts, host-free: our reader of Proxmox firewall files agrees with the
facts pve-firewall's test suite pins about a new TCP connection into a guest's net0.

The facts and the files that show them are ours (pve_cases.py); each row names the upstream
test folder it was learnt from. Every guest here has `firewall=1` on net0.

Upstream cases that do not ask our question are left out: connections to the host itself, to a
machine outside or to a guest's other NICs (not a guest's IN chain); connections the host makes,
which its own OUTPUT chain (`policy_out`, host.fw OUT rules and the groups it calls) judges
before the guest's chain does, and which our reader leaves out of its scope; connections a guest
makes, which its OUT chain and address filter (`ipfilter`) judge first; and ICMP. Where the
simulator names the sending machine, only its address matters to the guest's IN chain, so our
rows give addresses.
"""

from __future__ import annotations

import pytest

from compliance.syntax.pve_firewall import GuestFirewall
from compliance.syntax.sources import ACCEPT, DROP
from selftests.unit import pve_cases
from selftests.unit.pve_cases import ROWS, Row

GUEST_FILE = {"ct": "301.fw", "vm": "302.fw"}


def firewall(cluster: str, guest: str, kind: str) -> GuestFirewall:
    """The guest's firewall from our texts (an empty guest text: no file of its own)."""
    return GuestFirewall.of(cluster, guest, GUEST_FILE[kind], True, kind)


def _id(row: Row) -> str:
    return f"{row.key}-{row.kind}-{row.source}-{row.dest}:{row.port}-{row.pve}"


@pytest.mark.parametrize("row", ROWS, ids=[_id(row) for row in ROWS])
def test_we_agree_with_pve_firewall(row: Row) -> None:
    fw = firewall(row.cluster, row.guest, row.kind)
    outcome, why = fw.judge(4, row.dest, row.port).fate(row.source)
    assert outcome == (ACCEPT if row.pve == "ACCEPT" else DROP), f"{row.fact}: {why}"


def test_the_table_is_well_formed() -> None:
    """Every row says what it pins and where it was learnt, and every upstream folder whose
    guest cases we kept is re-expressed, for containers and VMs."""
    assert len(ROWS) == len(set(ROWS))
    for row in ROWS:
        assert row.fact, row
        assert row.upstream.startswith("test-"), row
        assert row.kind in GUEST_FILE, row
        assert row.pve in ("ACCEPT", "DROP"), row
    named = " ".join(row.upstream for row in ROWS)
    for folder in pve_cases.UPSTREAM_FOLDERS:
        assert f"{folder} " in named, folder
    assert {row.kind for row in ROWS} == {"ct", "vm"}


def test_the_lines_pve_firewall_skips_are_named() -> None:
    """The invalid rule, the unparsable option and the undefined alias are reported as
    pve-firewall's skips."""
    no_proto = firewall(pve_cases.CLUSTER, pve_cases.PORT_WITHOUT_PROTO, "vm").skipped()
    assert no_proto == [
        "302.fw line 5 `IN ACCEPT -dport 8080` skipped by pve-firewall: -dport needs -p"
    ]
    bad_option = firewall(pve_cases.CLUSTER, pve_cases.BAD_OPTION, "vm").skipped()
    assert bad_option == ["302.fw line 2 `tuning: max` skipped by pve-firewall: can't parse option"]
    no_alias = firewall(pve_cases.CLUSTER, pve_cases.UNDEFINED_ALIAS, "ct").skipped()
    assert no_alias == [
        "301.fw line 4 `IN ACCEPT -source office_lan -p tcp -dport 8080` skipped by"
        " pve-firewall: no such alias 'office_lan'"
    ]

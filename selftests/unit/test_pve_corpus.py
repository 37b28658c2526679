"""pve-firewall's own test corpus, host-free: our reading of its files agrees with every case of
its simulator that asks our question (a new TCP connection into a guest's net0).

The folders under pve_corpus/ hold the firewall files of pve-firewall's `test/test-*` cases that
we keep (cluster.fw and the guests' files; a guest without one is unfiltered); cases.json lists
the cases kept and every case left out with why (the host's own chains, outbound traffic, other
NICs, ICMP). Every guest in that corpus has `firewall=1` on net0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compliance.syntax.pve_firewall import GuestFirewall
from compliance.syntax.sources import ACCEPT, DROP

CORPUS = Path(__file__).parent / "pve_corpus"
TABLE: dict[str, Any] = json.loads((CORPUS / "cases.json").read_text())
KEPT: list[dict[str, Any]] = TABLE["kept"]


def firewall(test: str, guest: str) -> GuestFirewall:
    """The guest's firewall as pve-firewall's test compiles it (`vm100` reads 100.fw)."""
    folder = CORPUS / test
    own = folder / f"{guest[2:]}.fw"
    kind = "vm" if guest.startswith("vm") else "ct"
    text = own.read_text() if own.exists() else ""
    return GuestFirewall.of((folder / "cluster.fw").read_text(), text, own.name, True, kind)


@pytest.mark.parametrize("case", KEPT, ids=[case["ref"] for case in KEPT])
def test_we_agree_with_pve_firewalls_own_cases(case):
    fw = firewall(case["test"], case["to"])
    judgement = fw.judge(4, case["dest"], case["dport"] or 11434)
    outcome, why = judgement.fate(case["source"])
    assert outcome == (ACCEPT if case["pve"] == "ACCEPT" else DROP), why
    if case["pve"] == "REJECT":
        assert "REJECT" in why


def test_the_table_accounts_for_every_case():
    """Each kept case's folder exists; every case left out says why; the corpus's skips are
    named as pve-firewall's (its errors tests are about exactly those)."""
    assert len(KEPT) == 75
    assert all(case["why"] for case in TABLE["left_out"])
    for case in KEPT:
        assert (CORPUS / case["test"] / "cluster.fw").is_file(), case["ref"]
    errors1 = firewall("errors1", "vm100").skipped()
    assert errors1 == [
        "100.fw line 8 `IN ACCEPT -dport 80` skipped by pve-firewall: -dport needs -p"
    ]
    errors4 = firewall("errors4", "vm100").skipped()
    assert errors4 == [
        "100.fw line 3 `dafadfsdf: afda # unknown option - should be skipped` skipped by"
        " pve-firewall: can't parse option"
    ]

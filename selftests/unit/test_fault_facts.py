"""Every lab fault's failing checks are computed host-free from its facts (fault_facts.py);
the lab's audit then sees the same live. No list of them is kept by hand: a fault only names
its own check, which its facts must fail."""

from __future__ import annotations

import pytest

from compliance.catalogue import CATALOGUE
from lab.faults import FAULTS
from remediation.registry import FIXES
from selftests.unit import fault_facts


def test_every_lab_fault_is_described():
    assert sorted(set(FAULTS) - fault_facts.DESCRIBED) == []
    assert sorted(fault_facts.DESCRIBED - set(FAULTS)) == []


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_a_faults_facts_fail_its_own_check(name):
    """A fault breaks something, and its own check (the one its phrase is about) among it."""
    fault = FAULTS[name]
    failing = fault_facts.failing(name)
    assert failing, f"{name}: its facts fail no check"
    if fault.own:
        assert fault.own in failing, (name, sorted(failing))
        assert fault.phrase, name


@pytest.mark.parametrize("name", sorted(n for n, f in FAULTS.items() if f.converges))
def test_every_check_a_convergeable_fault_fails_has_a_fix_to_credit(name):
    """--fix credits each failing check to its own fix (the lab's converge test expects every
    failing check `fixed`): each has one, registered."""
    for check in fault_facts.failing(name):
        assert CATALOGUE[check].fix in FIXES, (name, check)


def test_a_frozen_ct_fails_every_check_that_reads_the_container():
    found = fault_facts.verdicts("ct_frozen")
    assert "timed out" in found["unit_active"].found
    assert found["ct_running"].ok


@pytest.mark.parametrize("name", sorted(n for n, f in FAULTS.items() if f.own == "manage_closed"))
def test_a_manage_faults_phrase_is_what_its_facts_make_the_check_say(name):
    """manage_closed's failure is computed from nginx's loaded configuration alone, so the
    phrase the lab expects is already in the host-free verdict."""
    verdict = fault_facts.verdicts(name)["manage_closed"]
    assert FAULTS[name].phrase in verdict.found, verdict

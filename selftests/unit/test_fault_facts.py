"""Every lab fault's failing checks, computed host-free from its facts (fault_facts.py), are
the ones the fault declares (`breaks`) and the lab's audit then sees live."""

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
def test_a_faults_facts_fail_exactly_what_it_breaks(name):
    found = fault_facts.verdicts(name)
    wrong = {c: v.line() for c, v in found.items() if (not v.ok) != (c in FAULTS[name].breaks)}
    assert wrong == {}, name


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

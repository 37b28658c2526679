"""Every lab fault's failing checks are computed host-free from its facts (fault_facts.py);
the lab's audit then sees the same live. No list of them is kept by hand: a fault only names
its own check, which its facts must fail.

A fault's description states every fact the catalogue reads of the parts it touches, so a new
fact is never left compliant, unnoticed, by a fault that breaks what it observes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from compliance import catalogue, facts
from compliance.catalogue import CATALOGUE, Check
from compliance.catalogue.verdict import Subject, Verdict, failed, passed
from compliance.facts import Fact
from lab.faults import FAULTS
from remediation.registry import FIXES
from selftests.unit import factsets, fault_facts


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


def _fact(key: factsets.Key) -> type[Fact]:
    return key[0] if isinstance(key, tuple) else key


def test_a_frozen_ct_fails_every_check_that_reads_the_container():
    found = fault_facts.verdicts("ct_frozen")
    assert "timed out" in found["unit_active"].found
    assert found["ct_running"].ok
    # nothing inside it is read, so its description states nothing of what it touches there
    assert not fault_facts.FROZEN_CT.changes
    assert all(fact.where != "ct" for fact in map(_fact, fault_facts.read("ct_frozen")))


@pytest.mark.parametrize("name", sorted(fault_facts.DESCRIBED))
def test_a_fault_states_each_fact_the_catalogue_reads_of_the_parts_it_touches(name):
    """A fact a fault leaves compliant while it breaks what the fact observes makes the
    computed failing set wrong, and only the lab would notice."""
    forgotten = fault_facts.unstated(name)
    assert not forgotten, "\n".join(forgotten)


@pytest.mark.parametrize("name", sorted(fault_facts.DESCRIBED))
def test_a_fault_touches_parts_of_the_vocabulary(name):
    touched = fault_facts.DESCRIPTIONS[name].touches
    assert touched, f"{name} touches no part: name those it changes (compliance.facts.PARTS)"
    unknown = sorted(touched - set(facts.PARTS))
    assert not unknown, f"{name} touches {unknown}: no such part of compliance.facts.PARTS"


@pytest.mark.parametrize("name", sorted(fault_facts.DESCRIBED))
def test_a_fault_states_facts_only_of_the_parts_it_touches(name):
    """Its touches cannot understate it: each fact it changes or keeps `same` is of a part it
    touches, and no fact is both changed and the same."""
    described = fault_facts.DESCRIPTIONS[name]
    changed = {_fact(key) for key in described.changes}
    for fact in sorted(changed | set(described.same), key=lambda fact: fact.__name__):
        assert fact.observes in described.touches, (
            f"{name} states {fact.__name__}, which observes `{fact.observes}`: add that part to"
            " the fault's touches"
        )
    both = sorted(fact.__name__ for fact in changed & set(described.same))
    assert not both, f"{name} changes {both} and lists them in same"


@dataclass(frozen=True)
class ServerVersion(Fact, register=False):
    """A new fact, as the issue imagines it: the running server's /api/version, in the CT."""

    version: str
    observes = "service"


def _server_version(s: Subject) -> Verdict:
    """A new check that reads it."""
    version = s[ServerVersion].version
    return passed() if version else failed("a version", "none")


def test_the_contract_names_each_fault_that_forgets_a_new_fact_of_a_part_it_touches(
    monkeypatch,
):
    """A fact added to the catalogue's reads is unstated by every description that touches
    its part, until each says what the fault does to it."""
    catalogue.load()  # the real checks first: the new one is added to them, then removed
    new_check = Check("server_version", "ct", "container", "6.1.4", "systemd_unit", _server_version)
    compliant = factsets.compliant
    with monkeypatch.context() as m:
        m.setitem(CATALOGUE, new_check.id, new_check)
        m.setattr(
            factsets, "compliant", lambda: {**compliant(), ServerVersion: ServerVersion("0.21.0")}
        )
        named = {name for name in fault_facts.DESCRIBED if fault_facts.unstated(name)}
        message = fault_facts.unstated("unit_stopped")
        stopped = fault_facts.DESCRIPTIONS["unit_stopped"]
        stated = dataclasses.replace(stopped, same=(*stopped.same, ServerVersion))
        m.setitem(fault_facts.DESCRIPTIONS, "unit_stopped", stated)
        assert fault_facts.unstated("unit_stopped") == []
    touching = {name for name, d in fault_facts.DESCRIPTIONS.items() if "service" in d.touches}
    # a stopped or frozen CT answers no fact inside it: it has nothing to state
    assert named == touching - {"ct_stopped", *fault_facts.FROZEN}
    assert {"unit_stopped", "service_hung", "unit_crash_loop", "ollama_outdated"} <= named
    assert not named & {"unit_disabled", "journal_panic", "site_stale_ip", "ct_port_open"}
    assert message == [
        "unit_stopped: the catalogue reads ServerVersion, which observes `service`, a part the"
        " fault touches: state its value in the fault's changes, or list ServerVersion in same"
    ]
    # the real registries are as they were
    assert new_check.id not in CATALOGUE
    assert ServerVersion not in factsets.compliant()
    assert ServerVersion not in facts.load()
    assert fault_facts.DESCRIPTIONS["unit_stopped"] is stopped


@pytest.mark.parametrize("name", sorted(n for n, f in FAULTS.items() if f.own == "manage_closed"))
def test_a_manage_faults_phrase_is_what_its_facts_make_the_check_say(name):
    """manage_closed's failure is computed from nginx's loaded configuration alone, so the
    phrase the lab expects is already in the host-free verdict."""
    verdict = fault_facts.verdicts(name)["manage_closed"]
    assert FAULTS[name].phrase in verdict.found, verdict

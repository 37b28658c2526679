"""pytest items made from the catalogue: one per check and target, nothing restated.

Each module of the suite's `tests/` directory is a pytest module whose items are its checks,
one per target of the check's scope, named `{check id}[{target id}]`
(`tests/test_service.py::listener[proxmox-ct955]`), so `-k listener` selects a check, followed
by the plain pytest tests a person wrote there. The hardened profile's checks exist only under
`--compliance-profile=hardened`. An item judges its check on the audit view of its target's
facts (what the target answered at preflight), or on the live view once a fix changed its host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compliance import catalogue
from compliance.catalogue import Check
from compliance.catalogue.verdict import Verdict
from compliance.facts.store import GatherError
from compliance.report.evidence import CheckFailed, EvidenceLog, ReportedFailure
from compliance.suite.fleet import Fleet, Target
from compliance.suite.session import changed_hosts, fleet_of, mark_audit, settings_of


def pytest_pycollect_makemodule(
    module_path: Path, parent: pytest.Collector
) -> pytest.Module | None:
    """A module of the suite's tests/ holds checks besides any plain tests."""
    if module_path.parent != catalogue.CHECKS_DIR:
        return None
    module: SuiteModule = SuiteModule.from_parent(parent, path=module_path)
    return module


class SuiteModule(pytest.Module):
    """A test module of the suite: its checks, for every target, then its plain tests."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        plain = super().collect()  # imports the module: its checks register themselves
        name = self.obj.__name__
        fleet = fleet_of(self.config)
        checks: list[pytest.Item | pytest.Collector] = []
        for check in catalogue.in_profile(settings_of(self.config).profile):
            if check.module != name:
                continue
            for target in fleet.targets(check):
                checks.append(
                    CheckItem.from_parent(
                        self,
                        name=f"{check.id}[{target.label}]",
                        check=check,
                        target_id=target.label,
                    )
                )
        return checks + list(plain)


class CheckItem(pytest.Item):
    """One check judged on one target; its docstring (the control) is the check's."""

    def __init__(self, *, check: Check, target_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.target_id = target_id
        self.live = False  # set for a re-check after a fix
        self.evidence = EvidenceLog()

    def runtest(self) -> None:
        """Judge the check; fail with expected/found and evidence, or skip saying why.

        A check is judged on the audit view, so what failed in the audit fails here whatever
        ran before it; one that passed there (or skipped) while a fix changed its host since
        is judged again as the host is now, so a fix that broke it is seen.
        """
        fleet = fleet_of(self.config)
        target = fleet.target(self.target_id)
        changed = fleet.host_of(self.target_id).label in changed_hosts(self.config)
        verdict = self._judge(fleet, target, self.live)
        if verdict.ok and changed and not self.live:
            verdict = self._judge(fleet, target, live=True)
        self.evidence.notes.extend(verdict.notes)
        if verdict.skipped:  # reported at the check's definition, not here
            raise pytest.skip.Exception(verdict.skipped, _use_item_location=True)
        if not verdict.ok:
            raise CheckFailed(verdict.expected, verdict.found, list(self.evidence.facts))

    def _judge(self, fleet: Fleet, target: Target, live: bool) -> Verdict:
        self.evidence = EvidenceLog()
        try:
            return fleet.judge(self.check, target, self.evidence, live)
        except GatherError as error:  # a target that did not answer: its checks fail
            raise CheckFailed("the target answers its probes", str(error), []) from None

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        """A check's failure is its message (expected, found, evidence), with no traceback:
        pytest would otherwise format one, parsing our sources, only to have it replaced."""
        if isinstance(excinfo.value, (ReportedFailure, GatherError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    @property
    def backend(self) -> str:
        """Where the facts this check read came from (`ct 955 on proxmox, proxmox`)."""
        return ", ".join(sorted({fact.where for fact in self.evidence.facts}))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.check.judge.__code__.co_firstlineno - 1, self.name


@pytest.hookimpl(trylast=True)  # after reordering plugins (pytest-randomly): the plan's order
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The checks run first in the catalogue's order (the container exists, then inside it,
    then the host's nginx, then end to end), other items after them in theirs; the run is an
    audit when it has checks or hosts (then every item counts in the verdict)."""
    rank = {check_id: n for n, check_id in enumerate(catalogue.load())}
    items.sort(key=lambda item: rank.get(_check_id(item), len(rank)))
    mark_audit(config, items)


def _check_id(item: pytest.Item) -> str:
    check = getattr(item, "check", None)
    return check.id if isinstance(check, Check) else ""

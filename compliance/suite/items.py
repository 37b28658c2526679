"""pytest items made from the catalogue: one per check and target, nothing restated.

Each module of compliance/catalogue/ is a pytest file whose items are its checks, one per
target of the check's scope, named `{check id}[{target id}]` (`listener[proxmox-ct955]`), so
`-k listener` selects a check; the hardened profile's checks exist only under
`--profile=hardened`. An item judges its check on the audit view of its target's facts
(what the target answered at preflight), or on the live view once a fix changed its host.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from compliance import catalogue
from compliance.catalogue import Check
from compliance.catalogue.verdict import Verdict
from compliance.facts.store import GatherError
from compliance.report.evidence import CheckFailed, EvidenceLog
from compliance.suite.fleet import Fleet, Target
from compliance.suite.session import changed_hosts, fleet_of, settings_of

CATALOGUE_DIR = Path(catalogue.__file__).parent


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.File | None:
    """A catalogue module is a pytest file (its support modules are not)."""
    if file_path.parent != CATALOGUE_DIR or file_path.suffix != ".py":
        return None
    if file_path.stem in catalogue.SUPPORT or file_path.stem.startswith("_"):
        return None
    module: CatalogueModule = CatalogueModule.from_parent(parent, path=file_path)
    return module


class CatalogueModule(pytest.File):
    """The checks one catalogue module defines, as items for every target."""

    def collect(self) -> Iterator[pytest.Item]:
        name = f"{catalogue.__name__}.{self.path.stem}"
        fleet = fleet_of(self.config)
        for check in catalogue.in_profile(settings_of(self.config).profile):
            if check.module != name:
                continue
            for target in fleet.targets(check):
                yield CheckItem.from_parent(
                    self, name=f"{check.id}[{target.label}]", check=check, target_id=target.label
                )


class CheckItem(pytest.Item):
    """One check judged on one target; its docstring (the control) is the check's."""

    def __init__(self, *, check: Check, target_id: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.check = check
        self.target_id = target_id
        self.live = False  # set for a re-check after a fix
        self.evidence = EvidenceLog()
        self.add_marker(pytest.mark.xdist_group(target_id))  # honoured by --dist loadgroup

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

    @property
    def backend(self) -> str:
        """Where the facts this check read came from (`ct 955 on proxmox, proxmox`)."""
        return ", ".join(sorted({fact.where for fact in self.evidence.facts}))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.check.judge.__code__.co_firstlineno - 1, self.name


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run in the catalogue's order (the container exists, then inside it, then the host's
    nginx, then end to end); other items keep theirs, after the checks."""
    rank = {check_id: n for n, check_id in enumerate(catalogue.load())}
    items.sort(
        key=lambda item: rank.get(getattr(getattr(item, "check", None), "id", ""), len(rank))
    )

"""The check catalogue: every check is one function, registered where it is defined.

A check is `def id(s: Subject) -> Verdict`, decorated with where it runs, its plan section,
the fix that repairs it and its profile; its docstring is the control. The modules of this
package group the checks by plan section, and pytest's items are made from this registry
(compliance/suite/items.py): nothing else lists a check, as goss's resources register
themselves in their own files. The tests report the checks, the fixes verify themselves with
them and their waits poll them: nothing else states a check's condition.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from compliance.catalogue.verdict import Subject, Verdict

Judge = Callable[[Subject], Verdict]
WHERE = ("host", "ct", "runner", "lan")
SCOPES = ("container", "host")
PROFILES = ("plan", "hardened")
SUPPORT = ("verdict", "upstream", "ollama_api", "advisories")  # modules without checks


@dataclass(frozen=True)
class Check:
    """One entry of the catalogue: id, where it runs, the plan section, the fix that repairs it.

    `scope` is "container" (judged per container) or "host" (once per Proxmox host);
    `profile` is "plan" (always) or "hardened" (only with --profile=hardened); `module` is the
    catalogue module that defines it (the pytest file its items belong to).
    """

    id: str
    where: str
    scope: str
    section: str
    fix: str
    judge: Judge
    profile: str = "plan"
    module: str = ""

    def runs_in(self, profile: str) -> bool:
        return self.profile == "plan" or self.profile == profile

    @property
    def control(self) -> str:
        return " ".join((self.judge.__doc__ or "").split())

    @property
    def needs_ct(self) -> bool:
        """Judged in the container or against its service: skipped when the CT is down."""
        return self.where != "host"


CATALOGUE: dict[str, Check] = {}


def check(
    where: str, section: str, fix: str, scope: str = "container", profile: str = "plan"
) -> Callable[[Judge], Judge]:
    """Register a check function under its own name."""
    assert where in WHERE, where
    assert scope in SCOPES, scope
    assert profile in PROFILES, profile

    def register(judge: Judge) -> Judge:
        entry = Check(judge.__name__, where, scope, section, fix, judge, profile, judge.__module__)
        assert entry.id not in CATALOGUE, f"check {entry.id} defined twice"
        CATALOGUE[entry.id] = entry
        return judge

    return register


@cache
def load() -> dict[str, Check]:
    """The whole catalogue: importing this package's modules registers their checks.

    In the order the plan is verified: the modules by their `ORDER` (the container exists,
    then inside it, then the host's nginx, then beyond the plan), each in definition order.
    """
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if info.name not in SUPPORT
    ]
    rank = {m.__name__: getattr(m, "ORDER", len(modules)) for m in modules}
    ordered = sorted(CATALOGUE.values(), key=lambda c: rank[c.module])  # stable: definition
    CATALOGUE.clear()
    CATALOGUE.update((c.id, c) for c in ordered)
    return CATALOGUE


def in_profile(profile: str) -> list[Check]:
    """The checks a run of `profile` judges, in catalogue order."""
    return [c for c in load().values() if c.runs_in(profile)]


def answered_by(fix: str, profile: str = "plan") -> list[Check]:
    """The checks a fix answers for in a profile (those it must make pass to be verified)."""
    return [c for c in load().values() if c.fix == fix and c.runs_in(profile)]

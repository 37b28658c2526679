"""The check registry: every check is one function, registered where it is defined.

A check is `def id(s: Subject) -> Verdict` in a module of the suite's `tests/` directory,
decorated with where it runs, its plan section, the fix that repairs it and its profile; its
docstring is the control. Importing those modules (pytest's collection, or `load()`) fills
this registry: the engine never names a check, as goss's resources register themselves in
their own files. The tests report the checks, the fixes verify themselves with them and their
waits poll them: nothing else states a check's condition.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from compliance.catalogue.verdict import Subject, Verdict

Judge = Callable[[Subject], Verdict]
WHERE = ("host", "ct", "runner", "lan")
SCOPES = ("container", "host")
PROFILES = ("plan", "hardened")
CHECKS_DIR = Path(__file__).resolve().parents[2] / "tests"  # the suite runs from its checkout
CHECKS_PACKAGE = CHECKS_DIR.name


@dataclass(frozen=True)
class Check:
    """One entry of the catalogue: id, where it runs, the plan section, the fix that repairs it.

    `scope` is "container" (judged per container) or "host" (once per Proxmox host);
    `profile` is "plan" (always) or "hardened" (only with --compliance-profile=hardened);
    `module` is the module that defines it (the pytest file its items belong to).
    `restart_heals` says that the fix's service restart is what repairs it, so the fix waits
    for it after restarting.
    """

    id: str
    where: str
    scope: str
    section: str
    fix: str
    judge: Judge
    profile: str = "plan"
    module: str = ""
    restart_heals: bool = False

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
    where: str,
    section: str,
    fix: str,
    scope: str = "container",
    profile: str = "plan",
    restart_heals: bool = False,
) -> Callable[[Judge], Judge]:
    """Register a check function under its own name."""
    assert where in WHERE, where
    assert scope in SCOPES, scope
    assert profile in PROFILES, profile

    def register(judge: Judge) -> Judge:
        entry = Check(
            judge.__name__,
            where,
            scope,
            section,
            fix,
            judge,
            profile,
            judge.__module__,
            restart_heals,
        )
        known = CATALOGUE.get(entry.id)
        if known is not None and _source(known.judge) != _source(judge):
            raise ValueError(
                f"check {entry.id} defined twice: {_source(known.judge)} and {_source(judge)}"
            )
        CATALOGUE[entry.id] = entry  # the same definition imported again replaces itself
        return judge

    return register


def _source(judge: Judge) -> tuple[str, str]:
    return judge.__code__.co_filename, judge.__qualname__


def check_modules(directory: Path = CHECKS_DIR) -> list[Path]:
    """The suite's test modules, in name order (`tests/test_*.py`)."""
    return sorted(directory.glob("test_*.py"))


def load() -> dict[str, Check]:
    """The whole catalogue: importing the suite's test modules registers their checks.

    In the order the plan is verified: the modules by their `ORDER` (the container exists,
    then inside it, then the host's nginx, then beyond the plan), each in definition order.
    """
    if not _LOADED:
        _import_checks()
    return CATALOGUE


_LOADED: list[bool] = []


def _import_checks() -> None:
    """Import every module of CHECKS_DIR as `tests.<name>`, the name pytest gives it."""
    root = str(CHECKS_DIR.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    modules = [importlib.import_module(f"{CHECKS_PACKAGE}.{path.stem}") for path in check_modules()]
    rank = {m.__name__: getattr(m, "ORDER", len(modules) + 1) for m in modules}
    ordered = sorted(CATALOGUE.values(), key=lambda c: rank.get(c.module, len(modules) + 1))
    CATALOGUE.clear()
    CATALOGUE.update((c.id, c) for c in ordered)
    _LOADED.append(True)


def in_profile(profile: str) -> list[Check]:
    """The checks a run of `profile` judges, in catalogue order."""
    return [c for c in load().values() if c.runs_in(profile)]


def answered_by(fix: str, profile: str = "plan") -> list[Check]:
    """The checks a fix answers for in a profile (those it must make pass to be verified)."""
    return [c for c in load().values() if c.fix == fix and c.runs_in(profile)]

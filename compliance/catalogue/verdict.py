"""What a check judges (a Subject: typed facts and settings) and what it returns (a Verdict)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from compliance import plan
from compliance.facts import Fact
from compliance.settings import Settings, Site

F = TypeVar("F", bound=Fact)


@dataclass(frozen=True)
class Verdict:
    """A check's result: passed, or what was expected and what was found instead.

    `skipped` carries the reason a check could not be judged (its prerequisite is down);
    `requested` is False for an opt-in probe the person did not ask for: not judged by choice,
    it neither blocks a fix's verification nor makes the run "not judged".
    """

    ok: bool
    expected: str = ""
    found: str = ""
    notes: tuple[str, ...] = ()
    skipped: str = ""
    requested: bool = True

    def line(self) -> str:
        """One line for a fix's log or a wait's reason."""
        if self.skipped:
            return f"skipped: {self.skipped}"
        return "ok" if self.ok else f"expected {self.expected}, found {self.found}"


def passed(*notes: str) -> Verdict:
    return Verdict(True, notes=notes)


def failed(expected: str, found: str, *notes: str) -> Verdict:
    return Verdict(False, expected, found, notes)


def skipped(reason: str) -> Verdict:
    return Verdict(True, skipped=reason)


NOT_REQUESTED = "not requested: "  # how a skip the person's own flags caused is reported


def not_requested(reason: str) -> Verdict:
    """A skip the person's flags chose (an opt-in probe left off): says how to ask for it."""
    return Verdict(True, skipped=NOT_REQUESTED + reason, requested=False)


class Facts(Protocol):
    """Typed facts by class: live (read on the targets) or static (host-free tests).

    `ctid` names the container a per-CT host fact is about ('' otherwise); `args` are an
    on-demand fact's arguments.
    """

    def get(self, fact: type[F], ctid: str, args: tuple[str, ...]) -> F: ...


class CtDown(LookupError):
    """A check asked for a fact of a container that does not run (it skips, saying so)."""


@dataclass(frozen=True)
class Subject:
    """What one check looks at: the facts of a container and its host, and their settings.

    `site` is None for the host-wide checks (nginx_valid, nginx_running). `our_paths` holds
    every site file and link the plan owns on the host, for telling our errors from others'.
    """

    facts: Facts
    settings: Settings
    host_address: str
    site: Site | None = None
    our_paths: frozenset[str] = field(default_factory=frozenset)

    def __getitem__(self, fact: type[F]) -> F:
        """The fact of this subject's target (`s[UnitState]`)."""
        return self.fact(fact)

    def fact(self, fact: type[F], *args: str) -> F:
        """A fact, with an on-demand fact's arguments (`s.fact(ReachFromNetns, ns, url)`)."""
        ctid = self.container.ctid if fact.per_ct else ""
        return self.facts.get(fact, ctid, args)

    @property
    def container(self) -> Site:
        """The container's site (container-scoped checks only)."""
        if self.site is None:
            raise LookupError("a container check was judged on a host-wide subject")
        return self.site

    def proxy_base(self) -> str:
        """The proxied API's base URL of this container's site (ends with a slash)."""
        return self.container.proxy_url_for(self.host_address)

    def tags_url(self) -> str:
        """The proxied `/api/tags` of this container's site."""
        return self.proxy_base() + plan.API_PATH.lstrip("/")

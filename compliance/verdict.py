"""What a check judges (a Subject: typed facts and settings) and what it returns (a Verdict)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from compliance import probes
from compliance.facts import Probe
from compliance.parsers import NginxState
from compliance.settings import PLAN_SITE_FILE, PLAN_SITE_LINK, Settings, Site

T = TypeVar("T")
DEFAULTS = Settings(("955",), "pct", None, None, None, PLAN_SITE_FILE, PLAN_SITE_LINK)


@dataclass(frozen=True)
class Verdict:
    """A check's result: passed, or what was expected and what was found instead.

    `skipped` carries the reason a check could not be judged (its prerequisite is down).
    """

    ok: bool
    expected: str = ""
    found: str = ""
    notes: tuple[str, ...] = ()
    skipped: str = ""

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


class Facts(Protocol):
    """Typed facts by probe: live (gathered on the targets) or static (host-free tests)."""

    def get(self, probe: Probe[T]) -> T: ...


@dataclass(frozen=True)
class Subject:
    """What one check looks at: the facts of a container and its host, and their settings.

    `site` is None for the host-wide checks (nginx_valid, nginx_running). `our_paths` holds
    every site file and link the plan owns on the host, for telling our errors from others'.
    """

    facts: Facts
    host_address: str
    nginx_state: Probe[NginxState]
    site: Site | None = None
    site_probes: probes.SiteProbes | None = None
    our_paths: frozenset[str] = field(default_factory=frozenset)
    settings: Settings = field(default_factory=lambda: DEFAULTS)

    def get(self, probe: Probe[T]) -> T:
        return self.facts.get(probe)

    @property
    def container(self) -> tuple[Site, probes.SiteProbes]:
        """The container's site and host probes (container-scoped checks only)."""
        if self.site is None or self.site_probes is None:
            raise LookupError("a container check was judged on a host-wide subject")
        return self.site, self.site_probes

    def proxy_base(self) -> str:
        """The proxied API's base URL of this container's site (ends with a slash)."""
        site, _ = self.container
        return site.proxy_url_for(self.host_address)

    def tags_url(self) -> str:
        """The proxied `/api/tags` of this container's site."""
        return self.proxy_base() + "api/tags"

"""The fleet under audit: hosts, their containers, and the live facts checks are judged on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from testinfra.host import Host

from compliance import backends, probes, streaming
from compliance.evidence import CheckFailed, EvidenceLog
from compliance.facts import FactStore, GatherError, Probe, Runner
from compliance.http import fetch
from compliance.settings import Settings, Site
from compliance.verdict import Subject, Verdict

T = TypeVar("T")


@dataclass
class ProxmoxHost:
    """One Proxmox host and its cached facts."""

    host: Host
    label: str
    address: str
    store: FactStore


@dataclass
class Container:
    """One container on a Proxmox host, reached through it."""

    pve: ProxmoxHost
    ctid: str
    host: Host
    store: FactStore
    site: Site
    probes: probes.SiteProbes

    @property
    def label(self) -> str:
        return f"{self.pve.label}-ct{self.ctid}"

    def status(self) -> str:
        """`running`, `stopped`, ... or '' when the container does not exist."""
        return self.pve.store.value(self.probes.status)[0]


@dataclass
class Fleet:
    """Every host and container of the session, built from --hosts and the settings."""

    settings: Settings
    hosts: list[ProxmoxHost]
    containers: list[Container] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, hosts: list[Host]) -> Fleet:
        fleet = cls(settings, [])
        backends.DEADLINE.seconds = settings.command_timeout
        for host in hosts:
            label = backends.host_label(host)
            pve_store = FactStore(label, _runner(host), probes.pve_probes(settings))
            pve = ProxmoxHost(host, label, backends.host_address(host), pve_store)
            fleet.hosts.append(pve)
            for ctid in settings.ctids:
                ct_host = backends.container(host, ctid, settings.transport)
                ct_probes = probes.ct_probes(settings)
                store = FactStore(f"ct {ctid} on {label}", _runner(ct_host), ct_probes)
                site = settings.site(ctid)
                site_probes = probes.for_site(site, settings.transport)
                fleet.containers.append(Container(pve, ctid, ct_host, store, site, site_probes))
        return fleet

    def host(self, label: str) -> ProxmoxHost:
        return next(h for h in self.hosts if h.label == label)

    def container(self, label: str) -> Container:
        return next(c for c in self.containers if c.label == label)

    def site_paths(self) -> frozenset[str]:
        """Every site file and link of ours (a broken file outside this set is not ours)."""
        return frozenset(p for c in self.containers for p in (c.site.site_file, c.site.site_link))

    def subject(self, box: Container, log: EvidenceLog | None = None) -> Subject:
        """A container and its host as a check sees them (facts logged into `log`)."""
        facts = LiveFacts(box.pve.store, box.store, log or EvidenceLog())
        return Subject(
            facts,
            box.pve.address,
            probes.nginx_state(self.settings),
            box.site,
            box.probes,
            self.site_paths(),
            self.settings,
        )

    def host_subject(self, pve: ProxmoxHost, log: EvidenceLog | None = None) -> Subject:
        """A host as its host-wide checks see it."""
        facts = LiveFacts(pve.store, None, log or EvidenceLog())
        nginx_state = probes.nginx_state(self.settings)
        return Subject(
            facts, pve.address, nginx_state, our_paths=self.site_paths(), settings=self.settings
        )


def _runner(host: Host) -> Runner:
    return lambda script: backends.run_text(host, script)


class LiveFacts:
    """Typed facts read from the targets' stores (and the runner), each logged as evidence."""

    def __init__(self, pve: FactStore, ct: FactStore | None, log: EvidenceLog) -> None:
        self.stores = {"host": pve, "ct": ct}
        self.log = log
        self._runner: dict[str, Any] = {}

    def get(self, probe: Probe[T]) -> T:
        if probe.target == "runner":  # a runner probe's command is `<METHOD> <url>`
            if probe.name not in self._runner:
                method, _, url = probe.command.partition(" ")
                if method == "STREAM":  # `STREAM <url> <model>`: the live streaming probe
                    url, _, model = url.partition(" ")
                    fact = streaming.stream(url, model, probe.name)
                else:
                    fact = fetch(url, probe.name, method=method)
                self.log.add(fact)
                self._runner[probe.name] = probe.parse(fact.rc, fact.output)
            value: T = self._runner[probe.name]
            return value
        store = self.stores[probe.target]
        assert store is not None, f"{probe.name}: no container in a host-wide check"
        value, fact = store.value(probe)
        self.log.add(fact)
        return value


class Audit:
    """What a test sees of its target: it judges a check on fresh live facts and reports it."""

    def __init__(self, kind: str, label: str, make: Callable[[EvidenceLog], Subject]) -> None:
        self.kind = kind  # "host" or "ct"
        self.label = label
        self._make = make  # (EvidenceLog) -> Subject
        self.log = EvidenceLog()

    def judge(self, judge: Callable[[Subject], Verdict]) -> Verdict:
        """Run a check function; fail with expected/found and evidence, or skip with why."""
        self.log = EvidenceLog()
        try:
            verdict: Verdict = judge(self._make(self.log))
        except GatherError as error:  # a target that did not answer: its checks fail
            raise CheckFailed("the target answers its probes", str(error), []) from None
        self.log.notes.extend(verdict.notes)
        if verdict.skipped:
            pytest.skip(verdict.skipped)
        if not verdict.ok:
            raise CheckFailed(verdict.expected, verdict.found, list(self.log.facts))
        return verdict


def skip_unless_running(ct: Container) -> None:
    """Skip a container check when its container is not running (one check says why)."""
    status = ct.status()
    if status != "running":
        pytest.skip(
            f"CT {ct.ctid} on {ct.pve.label} is {status or 'missing'}: see test_pve_ct_running"
        )

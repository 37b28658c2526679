"""The fleet under audit: hosts, their containers, and per-check views with evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

import pytest
from testinfra.host import Host

from compliance import backends, parsers, probes
from compliance.evidence import CheckFailed, EvidenceLog
from compliance.facts import Fact, FactStore, Runner
from compliance.settings import Settings, Site


@dataclass
class ProxmoxHost:
    """One Proxmox host and its cached facts."""

    host: Host
    label: str
    address: str
    store: FactStore

    def ct_status(self, ctid: str) -> str:
        return parsers.pct_status(self.store.get(f"ct_status_{ctid}").output)


@dataclass
class Container:
    """One container on a Proxmox host, reached through it."""

    pve: ProxmoxHost
    ctid: str
    host: Host
    store: FactStore
    site: Site

    @property
    def label(self) -> str:
        return f"{self.pve.label}-ct{self.ctid}"

    def running(self) -> bool:
        return self.pve.ct_status(self.ctid) == "running"

    def tags_url(self) -> str:
        """The proxied `/api/tags` of this container's site."""
        return self.site.proxy_url_for(self.pve.address) + "api/tags"


@dataclass
class Fleet:
    """Every host and container of the session, built from --hosts and the settings."""

    settings: Settings
    hosts: list[ProxmoxHost]
    containers: list[Container] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, hosts: list[Host]) -> Fleet:
        fleet = cls(settings, [])
        for host in hosts:
            label = backends.host_label(host)
            pve_store = FactStore(label, _runner(host), probes.pve_probes(settings))
            pve = ProxmoxHost(host, label, backends.host_address(host), pve_store)
            fleet.hosts.append(pve)
            for ctid in settings.ctids:
                ct_host = backends.container(host, ctid, settings.transport)
                store = FactStore(f"ct {ctid} on {label}", _runner(ct_host), probes.ct_probes())
                site = settings.site(ctid)
                fleet.containers.append(Container(pve, ctid, ct_host, store, site))
        return fleet

    def host(self, label: str) -> ProxmoxHost:
        return next(h for h in self.hosts if h.label == label)

    def site_paths(self) -> set[str]:
        """Every site file and link of ours (a broken file outside this set is not ours)."""
        return {p for c in self.containers for p in (c.site.site_file, c.site.site_link)}

    def container(self, label: str) -> Container:
        return next(c for c in self.containers if c.label == label)


def _runner(host: Host) -> Runner:
    return lambda script: backends.run_text(host, script)


class Target:
    """What a check sees of one target: its facts (logged as evidence) and `require`."""

    def __init__(self, store: FactStore, kind: str, label: str) -> None:
        self.store = store
        self.kind = kind  # "host" or "ct"
        self.label = label
        self.log = EvidenceLog()

    def fact(self, name: str) -> Fact:
        fact = self.store.get(name)
        self.log.add(fact)
        return fact

    def note(self, text: str) -> None:
        self.log.notes.append(text)

    def require(self, ok: bool, expected: str, found: str, *facts: Fact) -> None:
        """Fail the check with expected/found and its evidence unless `ok`."""
        if not ok:
            self.fail(expected, found, *facts)

    def fail(self, expected: str, found: str, *facts: Fact) -> NoReturn:
        raise CheckFailed(expected, found, list(facts) or list(self.log.facts))


def ct_ip(fleet: Fleet, ct: Container) -> tuple[str | None, str]:
    """(the container's IPv4 the proxy must target, how it was found)."""
    if ct.site.ct_ip:
        return ct.site.ct_ip, "setting ollama_ct_ip"
    config = parsers.pct_config(ct.pve.store.get(f"ct_config_{ct.ctid}").output)
    net = parsers.net0(config.get("net0", ""))
    live = parsers.ipv4_addresses(ct.store.get("addresses").output)
    static = parsers.static_ipv4(net)
    if static and any(addr == static for _i, addr in live):
        return static, "pct config net0 ip= (live in the CT)"
    name = net.get("name", "eth0")
    on_net0 = [addr for iface, addr in live if iface == name]
    if on_net0:
        return on_net0[0], f"ip -4 addr in the CT ({name})"
    if live:
        return live[0][1], f"ip -4 addr in the CT ({live[0][0]})"
    return None, "no IPv4 address found in the CT"


def skip_unless_running(ct: Container) -> None:
    """Skip a container check when its container is not running (one check says why)."""
    status = ct.pve.ct_status(ct.ctid)
    if status != "running":
        pytest.skip(
            f"CT {ct.ctid} on {ct.pve.label} is {status or 'missing'}: see test_pve_ct_running"
        )

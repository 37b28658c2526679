"""The fleet under audit: Proxmox hosts, their containers, and the facts checks are judged on.

Vocabulary, in ids, types and files alike: the **host** is a Proxmox host (`Host`), a **ct**
is one of its containers (`Ct`), the **runner** is the machine running pytest (HTTP through
the host's proxy), the **lan** is a client on the container's network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from testinfra.host import Host as Connection

from compliance.catalogue import Check
from compliance.catalogue.verdict import CtDown, Subject, Verdict
from compliance.facts import Fact
from compliance.facts.proxmox import CtLxcState, CtStatus, PctConfig, frozen, locked
from compliance.facts.store import FactStore, GatherError, Runner, RunnerStore
from compliance.report.evidence import EvidenceLog
from compliance.settings import Settings, Site
from compliance.transport import backends
from compliance.transport.http import request

F = TypeVar("F", bound=Fact)


@dataclass
class Host:
    """One Proxmox host and its facts (host-wide, and per container: site, config, status)."""

    conn: Connection
    label: str
    address: str
    store: FactStore

    @property
    def name(self) -> str:
        return self.label


@dataclass
class Ct:
    """One container on a Proxmox host, reached through it; `runner` holds its HTTP facts."""

    host: Host
    ctid: str
    conn: Connection
    store: FactStore
    runner: RunnerStore
    site: Site

    @property
    def label(self) -> str:
        """The target id: `proxmox-ct955`."""
        return f"{self.host.label}-ct{self.ctid}"

    @property
    def name(self) -> str:
        """As the reports name it: `proxmox/ct955`."""
        return f"{self.host.label}/ct{self.ctid}"

    def status(self, live: bool = False) -> str:
        """`running`, `stopped`, ... or '' when the container does not exist."""
        fact: CtStatus = self.host.store.read((CtStatus, self.ctid, ()), live)[0]
        return fact.status

    def held(self, live: bool = False) -> str:
        """Why its commands give no answer, when the host can tell: a Proxmox lock, or the CT
        frozen with none (one line), else ''. Asked only once its commands timed out."""
        lock = self.lock(live)
        if lock:
            return locked(self.ctid, lock)
        try:
            state: CtLxcState = self.host.store.read((CtLxcState, self.ctid, ()), live)[0]
        except GatherError:
            return ""
        return frozen(self.ctid) if state.frozen else ""

    def lock(self, live: bool = False) -> str:
        """The lock Proxmox holds on it (`lock:` in pct config), or '' (none, or unreadable)."""
        try:
            config: PctConfig = self.host.store.read((PctConfig, self.ctid, ()), live)[0]
        except GatherError:
            return ""
        return config.lock


Target = Host | Ct


@dataclass
class Fleet:
    """Every host and container of the session, built from --hosts and the settings."""

    settings: Settings
    hosts: list[Host]
    cts: list[Ct] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, conns: list[Connection]) -> Fleet:
        fleet = cls(settings, [])
        backends.DEADLINE.seconds = settings.command_timeout
        sites = [settings.site(ctid) for ctid in settings.ctids]
        for conn in conns:
            label, address = backends.host_label(conn), backends.host_address(conn)
            store = FactStore("host", label, _runner(conn), settings, sites, host_address=address)
            host = Host(conn, label, address, store)
            fleet.hosts.append(host)
            for site in sites:
                ct_conn = backends.container(conn, site.ctid, settings.transport)
                where = f"ct {site.ctid} on {label}"
                ct_store = FactStore(
                    "ct", where, _runner(ct_conn), settings, own_site=site, host_address=address
                )
                runner = RunnerStore("runner", request, settings, site, address)
                fleet.cts.append(Ct(host, site.ctid, ct_conn, ct_store, runner, site))
        return fleet

    def target(self, target_id: str) -> Target:
        """The host or container with this id (`proxmox`, `proxmox-ct955`)."""
        for ct in self.cts:
            if ct.label == target_id:
                return ct
        return next(h for h in self.hosts if h.label == target_id)

    def host_of(self, target_id: str) -> Host:
        target = self.target(target_id)
        return target.host if isinstance(target, Ct) else target

    def cts_of(self, target_id: str) -> list[Ct]:
        """The containers a target stands for: itself, or every one on a host."""
        target = self.target(target_id)
        return [target] if isinstance(target, Ct) else [c for c in self.cts if c.host is target]

    def targets(self, check: Check) -> list[Target]:
        """What a check is judged on: every container, or every host for a host-wide check."""
        return list(self.hosts) if check.scope == "host" else list(self.cts)

    def our_paths(self) -> frozenset[str]:
        """Every site file and link of ours (a broken file outside this set is not ours)."""
        return frozenset(p for c in self.cts for p in (c.site.site_file, c.site.site_link))

    def subject(
        self, target: Target, log: EvidenceLog | None = None, live: bool = False
    ) -> Subject:
        """A target as a check sees it: its facts (the audit view, or `live`), logged."""
        log = log if log is not None else EvidenceLog()
        host = target.host if isinstance(target, Ct) else target
        ct = target if isinstance(target, Ct) else None
        facts = LiveFacts(host, ct, log, live)
        site = ct.site if ct else None
        return Subject(facts, self.settings, host.address, site, self.our_paths())

    def judge(self, check: Check, target: Target, log: EvidenceLog, live: bool = False) -> Verdict:
        """A check's verdict on a target; a check of a stopped container skips, saying why."""
        try:
            return check.judge(self.subject(target, log, live))
        except CtDown as down:
            return Verdict(True, skipped=str(down))


def _runner(conn: Connection) -> Runner:
    return lambda script: backends.run_text(conn, script)


class LiveFacts:
    """Typed facts read from the targets' stores, each observation logged as evidence.

    A fact of the container (or of the runner, through it) is read only while the container
    runs: otherwise `CtDown` says so, and the check skips pointing at ct_running.
    """

    def __init__(self, host: Host, ct: Ct | None, log: EvidenceLog, live: bool) -> None:
        self.host = host
        self.ct = ct
        self.log = log
        self.live = live

    def get(self, fact: type[F], ctid: str, args: tuple[str, ...]) -> F:
        store = self.host.store
        if fact.where in ("ct", "runner"):
            assert self.ct is not None, f"{fact.name()}: no container in a host-wide check"
            status = self.ct.status(self.live)
            if status != "running":
                raise CtDown(
                    f"CT {self.ct.ctid} on {self.host.label} is {status or 'missing'}: "
                    "see ct_running"
                )
            store = self.ct.store if fact.where == "ct" else self.ct.runner
        try:
            value, observation = store.read((fact, ctid, args), self.live)
        except GatherError as error:  # a CT a backup holds frozen: name why, not a timeout
            held = self.ct.held(self.live) if self.ct and store is not self.host.store else ""
            if held:
                raise GatherError(f"{held}; {error}") from None
            raise
        self.log.add(observation)
        return value  # type: ignore[no-any-return]

    def stores(self) -> list[FactStore]:
        return [self.host.store] + ([self.ct.store, self.ct.runner] if self.ct else [])

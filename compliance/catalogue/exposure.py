"""Who reaches the CT's port 11434: the exposure judgement of the hardened profile.

The port must answer the Proxmox host (the proxy) and nobody else, over IPv4 and IPv6 (the
plan's `0.0.0.0` binds a dual-stack socket). The proof is symbolic and covers every source:
for each address of each CT interface and each family, Proxmox's firewall for the CT (while
its service applies it) and then the CT's own loaded nftables ruleset partition the family's
whole address space into accepted, dropped and not understood sources
(compliance/syntax/sources.py). A pass needs every source but the host dropped, the host
accepted, and the same true of the rules the CT loads at boot. A live try from another client
(`--exposure-from`) adds the kernel's own word: it counts only when it happened (the vantage
exists, the try reached the CT's link, the connection itself was answered or refused or
dropped); any answer is a failure. What cannot be read or tried is "not judged", with the
reason, never a pass.

Also used by the firewall fix, which keeps out of the way of a configured Proxmox firewall:
`pve_firewall`, `pve_applies`, `pve_not_applied`, `pve_judgement`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

from compliance import plan
from compliance.catalogue.verdict import Subject, Verdict, failed, passed, skipped
from compliance.facts.firewall import BOOT_UNITS, CtRuleset
from compliance.facts.http import ReachFromRunner
from compliance.facts.net import CtInterfaces, HostAddresses, ReachFromNetns
from compliance.facts.proxmox import PctConfig, PveFirewall, PveFirewallService
from compliance.syntax import nft
from compliance.syntax.live_try import CLOSED, OPEN, UNJUDGED, Try
from compliance.syntax.pve_firewall import GuestFirewall
from compliance.syntax.sources import ACCEPT, DROP, UNKNOWN, Judgement, Region, Sources

FAIL = "fail"  # a proof that the port is not as it must be (open, or the proxy shut out)
Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
# Sources that never arrive on a CT's link as a client: unspecified, loopback, multicast,
# reserved, broadcast; IPv4-mapped IPv6 (a v4 client is judged as IPv4).
NOT_CLIENTS = {
    4: ("0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4"),
    6: ("::/128", "::1/128", "ff00::/8", "::ffff:0:0/96"),
}
SHOWN = 3  # regions named in a failure or a proof


# -- Proxmox's firewall, as the service that applies it sees it -----------------------------


def pve_firewall(s: Subject) -> GuestFirewall:
    """Proxmox's firewall files as they apply to this CT's net0 (configured on or not)."""
    return s[PveFirewall].for_ct(s.container.ctid, s[PctConfig].net0)


def pve_applies(s: Subject) -> bool:
    """The files filter this CT's net0 and the service that applies them runs."""
    return pve_firewall(s).active() and s[PveFirewallService].applies()


def pve_not_applied(s: Subject) -> str:
    """Why the files that enable the firewall for this CT are not in force ('' when they are,
    or when they do not enable it): the service that applies them does not run."""
    if not pve_firewall(s).active() or s[PveFirewallService].applies():
        return ""
    return s[PveFirewallService].not_applied(s.container.ctid)


def pve_judgement(s: Subject, family: int, daddr: str) -> Judgement | None:
    """What the Proxmox firewall in force does to new connections from every source of
    `family` to the CT's `daddr` on Ollama's port; None when it is not in force for the CT."""
    if not pve_applies(s):
        return None
    return pve_firewall(s).judge(family, daddr, plan.PORT, "net0")


# -- what the filters do, for every source -----------------------------------------------


@dataclass(frozen=True)
class Target:
    """One address of the CT (a destination a client can try) and its interface."""

    iface: str
    address: Interface

    @property
    def family(self) -> int:
        return self.address.version

    @property
    def ip(self) -> str:
        return str(self.address.ip)

    @property
    def shown(self) -> str:
        return f"{self.ip}:{plan.PORT}" if self.family == 4 else f"[{self.ip}]:{plan.PORT}"


def targets(s: Subject) -> list[Target]:
    """Every address of every CT interface but the loopback, both families."""
    return [Target(iface, address) for iface, address in s[CtInterfaces].items]


def filters(s: Subject, target: Target, items: tuple[dict[str, object], ...]) -> Judgement:
    """Proxmox's firewall in force (first: it filters on the host's bridge), then the CT's
    ruleset `items`, for every source of the target's family."""
    rules = s[CtRuleset]
    if rules.nft:
        inner = nft.judge(list(items), target.family, target.ip, plan.PORT, target.iface)
    else:
        inner = Judgement.uniform(target.family, ACCEPT, "no nftables in the CT: no filter")
    outer = pve_judgement(s, target.family, target.ip)
    return inner if outer is None else outer.then(inner)


def host_addresses(s: Subject, family: int) -> Sources:
    """The Proxmox host's own addresses of a family (the proxy connects from one of them)."""
    found = Sources.nothing(family)
    for address in _host_ips(s):
        if address.version == family:
            found = found | Sources.address(address)
    return found


def _host_ips(s: Subject) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    host = s[HostAddresses]
    return [iface.ip for _n, iface in host.items] + [iface.ip for _n, iface in host.items6]


def clients(s: Subject, family: int) -> Sources:
    """Every source that is not the Proxmox host, nor the CT, nor never a client."""
    space = Sources.everything(family) - host_addresses(s, family)
    for text in NOT_CLIENTS[family]:
        space = space - Sources.parse(text)
    for target in targets(s):
        if target.family == family:
            space = space - Sources.address(target.ip)
    return space


def proxy_source(s: Subject) -> str | None:
    """The host's address the proxy connects from: the one on the CT's IPv4 network."""
    for target in (t for t in targets(s) if t.family == 4):
        net = target.address.network
        for _name, iface in s[HostAddresses].items:
            if iface.ip in net:
                return str(iface.ip)
    return None


def sample(found: Sources, target: Target) -> str:
    """A source to name in evidence: a host address of the target's own network if any (a
    LAN client), else the first of the set."""
    network = target.address.network
    near = found & Sources.parse(str(network)) - Sources.address(network.network_address)
    return (near or found).first() or "?"


def shown(regions: list[Region], clients: Sources) -> str:
    """`10.0.3.0/30 (drop: <rule>); ...` for the first regions, and how many more."""
    parts = [f"{_sources(r.sources, clients)} ({r.outcome}: {r.why})" for r in regions[:SHOWN]]
    more = f" and {len(regions) - SHOWN} more" if len(regions) > SHOWN else ""
    return "; ".join(parts) + more


def _sources(sources: Sources, clients: Sources) -> str:
    """A set of clients as its blocks, `every IPv6 client`, or `every IPv4 client but ...`
    when that is shorter."""
    family = f"IPv{sources.family}"
    if sources == clients:
        return f"every {family} client"
    rest = clients - sources
    if rest and len(list(rest.networks())) < len(list(sources.networks())):
        return f"every {family} client but {rest}"
    return str(sources)


@dataclass
class Findings:
    """What the judgement found, worst first: proofs of exposure, then what was not judged,
    then the proof of a closed port."""

    open: list[str] = field(default_factory=list)
    unjudged: list[str] = field(default_factory=list)
    proof: list[str] = field(default_factory=list)

    def add(self, kind: str, words: str) -> None:
        {CLOSED: self.proof, UNJUDGED: self.unjudged}.get(kind, self.open).append(words)

    def verdict(self, want: str, notes: tuple[str, ...], cause: str = "") -> Verdict:
        """Failed, not judged or passed; `cause` (why a filter that would close it is not in
        force) leads a failure, and is a note otherwise."""
        lead = [cause] if cause else []
        if self.open:
            return failed(want, "; ".join(lead + self.open), *notes)
        if self.unjudged:
            return skipped(f"not judged: {'; '.join(self.unjudged + lead)}")
        return passed(*self.proof, *notes, *lead)


def judge_filters(
    s: Subject, target: Target, items: tuple[dict[str, object], ...], which: str
) -> Iterator[tuple[str, str]]:
    """(fail | not judged | closed, words) for one target under the rules `items` ("loaded
    now" or "at boot"): every client dropped, the host (IPv4) accepted."""
    judged = filters(s, target, items)
    family = f"IPv{target.family}"
    others = clients(s, target.family)
    through = judged.among(others, ACCEPT)
    if through:
        source = sample(judged.with_outcome(ACCEPT) & others, target)
        reaches = f"{family}: a client such as {source} reaches {target.shown}"
        yield FAIL, f"{reaches} by the rules {which} ({shown(through, others)})"
    proxy = proxy_source(s)
    if target.family == 4 and proxy is None:
        yield UNJUDGED, f"the Proxmox host has no address on the network of {target.shown}"
    elif target.family == 4 and proxy is not None:
        outcome, why = judged.fate(proxy)
        if outcome == DROP:
            host = f"the Proxmox host ({proxy}) is dropped on its way to {target.shown}"
            yield FAIL, f"{host} by the rules {which} ({why}): the proxy cannot reach the CT"
        elif outcome == UNKNOWN:
            yield UNJUDGED, f"whether the Proxmox host reaches {target.shown}: {why}"
    unread = judged.among(others, UNKNOWN)
    if unread:
        yield UNJUDGED, f"{family} to {target.shown}, rules {which}: {shown(unread, others)}"
    if not through and not unread:
        closing = "; ".join(dict.fromkeys(r.why for r in judged.among(others, DROP)))
        yield CLOSED, f"{family} to {target.shown}: every client dropped ({closing})"


# -- the verdict -------------------------------------------------------------------------


def exposure_verdict(s: Subject) -> Verdict:
    """Port 11434 in the CT answers the Proxmox host and nobody else on its networks."""
    want = f"port {plan.PORT} of the CT open to the Proxmox host only, over IPv4 and IPv6"
    found = Findings()
    notes: tuple[str, ...] = tuple(pve_firewall(s).skipped())
    not_applied = pve_not_applied(s)
    if not targets(s):
        return skipped("not judged: no address found on the CT's interfaces")
    for target in targets(s):
        for kind, words in judge_filters(s, target, s[CtRuleset].items, "loaded now"):
            found.add(kind, words)
    _judge_boot(s, found)
    _try_live(s, found)
    return found.verdict(want, notes, not_applied)


def _judge_boot(s: Subject, found: Findings) -> None:
    """The rules that close the port now must be what the CT loads at boot: what its enabled
    boot units' files load (in each order they may run in), with Proxmox's firewall."""
    rules = s[CtRuleset]
    if not rules.enabled:
        if pve_applies(s) and all(
            kind == CLOSED
            for target in targets(s)
            for kind, _ in judge_filters(s, target, (), "of the Proxmox firewall alone")
        ):
            found.proof.append("at boot: the Proxmox firewall alone closes it (its service)")
            return
        found.add(
            FAIL,
            f"no unit loads the CT's rules at boot ({', '.join(BOOT_UNITS)}: none enabled):"
            " after the CT restarts, the port is open",
        )
        return
    if rules.boot_broken:  # nft -f is one transaction: the file loads nothing, the rest loads
        found.proof.append(f"{rules.boot_broken} fails `nft -f`: at boot nothing of it loads")
    if rules.boot_error or not rules.boot:
        found.add(UNJUDGED, f"what loads at boot: {rules.boot_error or 'not read'}")
        return
    for order, items in rules.boot:
        for target in targets(s):
            for kind, words in judge_filters(s, target, items, f"loaded at boot ({order})"):
                if kind != CLOSED:
                    found.add(kind, words)
    loads = f"{', '.join(rules.enabled)} load {', '.join(rules.boot_files)}"
    found.proof.append(f"the same at boot: {loads}")


def runner_is_host(s: Subject) -> bool | None:
    """Whether the machine running pytest is the Proxmox host itself (its address is a
    loopback or one of the host's own); None when the host's name does not resolve here."""
    try:
        infos = socket.getaddrinfo(s.host_address, None)
    except OSError:
        return None
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    own = set(_host_ips(s))
    return all(a.is_loopback or a in own for a in addresses)


def _try_live(s: Subject, found: Findings) -> None:
    """A live try from the vantage the person named, to every CT address: any answer is a
    failure; a try that proved nothing makes the verdict "not judged"."""
    vantage = s.settings.exposure_from
    if vantage.startswith("netns:"):
        netns = vantage.partition(":")[2]
        tries = [(t, s.fact(ReachFromNetns, netns, t.ip).seen) for t in targets(s)]
    else:
        local = runner_is_host(s)
        if local is None:
            found.proof.append(f"no live try: {s.host_address} does not resolve on the runner")
            return
        if local:
            found.proof.append("no live try: the runner is the Proxmox host, which may connect")
            return
        ipv4 = next((t.ip for t in targets(s) if t.family == 4), "")
        tries = [(t, _runner_try(s, t, ipv4)) for t in targets(s)]
    for target, seen in tries:
        outcome, words = seen.outcome()
        said = f"from {vantage} to {target.shown}: {words}"
        if outcome == OPEN:
            found.add(FAIL, f"it answers {vantage} over IPv{target.family}: {said}")
        elif outcome == UNJUDGED:
            found.add(UNJUDGED, f"the live try {said}")
        else:
            found.add(CLOSED, f"live try {said}")


def _runner_try(s: Subject, target: Target, ipv4: str) -> Try:
    args = (target.ip, ipv4) if target.address.ip.is_link_local and target.family == 6 else ()
    return s.fact(ReachFromRunner, *(args or (target.ip,))).seen

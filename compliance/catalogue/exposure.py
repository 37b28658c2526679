"""Who reaches the CT's port 11434: the exposure judgement of the hardened profile.

The proof is a live try from a second client (`--exposure-from`), or, when the runner is the
Proxmox host itself, the filters: Proxmox's firewall for the CT (credited only while the
service that applies its files runs) and the CT's own loaded ruleset. Used by the `exposure`
check and by the firewall fix (which keeps out of the way of a configured Proxmox firewall).

For the verdict built on Judgements: `pve_judgement` (None when not in force) and
`pve_not_applied` (why configured files are not in force).
"""

from __future__ import annotations

import ipaddress

from compliance import plan
from compliance.catalogue.upstream import container_ip, host_bridge_address
from compliance.catalogue.verdict import Subject, Verdict, failed, passed
from compliance.facts.firewall import BOOT_UNITS, CtRuleset
from compliance.facts.http import ReachFromRunner
from compliance.facts.net import HostAddresses, ReachFromNetns
from compliance.facts.proxmox import PctConfig, PveFirewall, PveFirewallService
from compliance.syntax.nft import Packet
from compliance.syntax.pve_firewall import GuestFirewall
from compliance.syntax.sources import ACCEPT, UNKNOWN, Judgement, Region, Sources


def exposure_verdict(s: Subject) -> Verdict:
    """Port 11434 in the CT answers the Proxmox host and nobody else on its network."""
    vantage = s.settings.exposure_from
    address, how = container_ip(s)
    if address is None:
        return failed("the CT's IPv4, to try its port from the LAN", how)
    if vantage == "runner" and ipaddress.ip_address(s.host_address).is_loopback:
        return _exposure_by_ruleset(s, address)  # no client but the host: read the filter
    url = f"http://{address}:{plan.PORT}/api/version"
    if vantage.startswith("netns:"):
        code = s.fact(ReachFromNetns, vantage.partition(":")[2], url).status
    else:
        reply = s.fact(ReachFromRunner, url).reply
        code = reply.status if reply else None
    if code is not None:
        through = ""
        judged = pve_judgement(s, 4, address)
        if judged is not None:
            peer = _peer_or(s, address)
            through = (
                f"; the Proxmox firewall filters the CT and lets it through: {judged.fate(peer)[1]}"
            )
        elif not_applied := pve_not_applied(s):
            through = f"; {not_applied}"
        return failed(
            f"{address}:{plan.PORT} answering the Proxmox host only",
            f"it answers {vantage} (HTTP {code}): anyone on the CT's network reaches the "
            f"unauthenticated API, bypassing the proxy{through}",
        )
    return passed(f"{address}:{plan.PORT} does not answer {vantage} (proof: a live try from it)")


def _lan_peer(s: Subject, ct: str) -> str | None:
    """Another address on the CT's network (neither the CT nor the host): a LAN client."""
    ip = ipaddress.IPv4Address(ct)
    for _name, iface in s[HostAddresses].items:
        if ip in iface.network:
            taken = {ip, iface.ip}
            return next((str(a) for a in iface.network.hosts() if a not in taken), None)
    return None


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
    `family` to the CT's `daddr` on Ollama's port; None when it is not in force for the CT
    (off in the files, or its service not running: see pve_not_applied)."""
    if not pve_applies(s):
        return None
    return pve_firewall(s).judge(family, daddr, plan.PORT, "net0")


def _peer_or(s: Subject, address: str) -> str:
    return _lan_peer(s, address) or "0.0.0.0"


def _exposure_by_ruleset(s: Subject, address: str) -> Verdict:
    """Judge the filters when no second client exists: Proxmox's firewall for the CT (when
    on) and the CT's own loaded ruleset together admit the host and drop a LAN peer on 11434,
    and what closes the port is loaded at boot."""
    want = f"{address}:{plan.PORT} open to the Proxmox host only, by the CT's filters"
    host = host_bridge_address(s, address)
    peer = _lan_peer(s, address)
    if host is None or peer is None:
        return failed(want, f"the host's address on the CT's network ({address}) is unknown")
    judged = pve_judgement(s, 4, address)
    if judged is not None:
        return _judge_with_pve(s, want, judged, address, host, peer)
    inner = _judge_ct_ruleset(s, want, address, host, peer)
    not_applied = pve_not_applied(s)
    if not not_applied:
        return inner
    if inner.ok:
        return passed(*inner.notes, f"{not_applied}; the CT's own filter closes the port")
    return failed(want, f"{not_applied}; and in the CT: {inner.found}", *inner.notes)


def _judge_ct_ruleset(s: Subject, want: str, address: str, host: str, peer: str) -> Verdict:
    rules = s[CtRuleset]
    iface = s[PctConfig].net0.get("name", "eth0")
    to_peer = rules.fate(Packet(peer, plan.PORT, iface))
    to_host = rules.fate(Packet(host, plan.PORT, iface))
    proof = "proof: the ruleset loaded in the CT (no client other than the Proxmox host)"
    if not rules.nft:
        return failed(want, "nft is not installed in the CT: no filter at all", proof)
    if to_peer.verdict != "drop":
        return failed(want, f"a LAN client ({peer}) is {to_peer.verdict}: {to_peer.why}", proof)
    if to_host.verdict != "accept":
        return failed(want, f"the Proxmox host ({host}) is {to_host.verdict}: {to_host.why}", proof)
    if not rules.enabled:
        return failed(
            want, f"loaded now, but no unit loads it at boot ({', '.join(BOOT_UNITS)})", proof
        )
    return passed(
        f"{proof}: a LAN client {peer} is dropped ({to_peer.why}), the host {host} accepted;"
        f" loaded at boot by {', '.join(rules.enabled)}"
    )


def _judge_with_pve(
    s: Subject, want: str, judged: Judgement, address: str, host: str, peer: str
) -> Verdict:
    """The Proxmox firewall in force filters the CT (on the host's bridge, before the CT's own
    filter), judged for every IPv4 source (Ollama's bind is IPv4): it must admit the host; the
    port is closed when it drops every other source, or else the CT's own loaded ruleset must
    close it."""
    pve = pve_firewall(s)
    service = s[PveFirewallService]
    proof = (
        f"proof: the Proxmox firewall's files for CT {s.container.ctid} (cluster.fw,"
        f" {pve.guest_file}, net0 firewall=1; no client other than the Proxmox host)"
    )
    skipped = tuple(pve.skipped())
    outcome, why = judged.fate(host)
    if outcome != ACCEPT:
        return failed(
            want,
            f"the Proxmox host ({host}) is {outcome} by the Proxmox firewall: {why};"
            " the proxy cannot reach the CT",
            proof,
            *skipped,
        )
    others = ~Sources.address(host)
    through = judged.among(others, ACCEPT) + judged.among(others, UNKNOWN)
    if not through:
        dropped = "; ".join(dict.fromkeys(r.why for r in judged.regions if r.outcome != ACCEPT))
        return passed(
            f"{proof}: every source but the host {host} is dropped ({dropped}), the host"
            f" accepted ({why}); applied by {service.shown()}",
            *skipped,
        )
    inner = _judge_ct_ruleset(s, want, address, host, peer)
    if inner.ok:
        return inner
    return failed(
        want,
        f"the Proxmox firewall filters the CT but does not close the port: {_regions(through)};"
        f" and in the CT: {inner.found}",
        proof,
        *skipped,
    )


def _regions(regions: list[Region], shown: int = 3) -> str:
    """`10.0.3.0/30 accept by <rule>; ...`: the first regions, and how many more."""
    parts = [f"{_sources(r.sources)} {r.outcome} by {r.why}" for r in regions[:shown]]
    more = f" and {len(regions) - shown} more" if len(regions) > shown else ""
    return "; ".join(parts) + more


def _sources(sources: Sources) -> str:
    """A set as its blocks, or as `any IPv4 address but ...` when that is shorter."""
    rest = ~sources
    if rest and len(list(rest.networks())) < len(list(sources.networks())):
        return f"any IPv{sources.family} address but {rest}"
    return str(sources)

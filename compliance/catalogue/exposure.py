"""Who reaches the CT's port 11434: the exposure judgement of the hardened profile.

The proof is a live try from a second client (`--exposure-from`), or, when the runner is the
Proxmox host itself, the filters: Proxmox's firewall for the CT and the CT's own loaded
ruleset. Used by the `exposure` check and by the firewall fix (which keeps out of the way of
an active Proxmox firewall).
"""

from __future__ import annotations

import ipaddress

from compliance import plan
from compliance.catalogue.upstream import container_ip, host_bridge_address
from compliance.catalogue.verdict import Subject, Verdict, failed, passed
from compliance.facts.firewall import BOOT_UNITS, CtRuleset
from compliance.facts.http import ReachFromRunner
from compliance.facts.net import HostAddresses, ReachFromNetns
from compliance.facts.proxmox import PctConfig, PveFirewall
from compliance.syntax.nft import Packet
from compliance.syntax.pve_firewall import GuestFirewall


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
        pve = pve_firewall(s)
        through = (
            f"; the Proxmox firewall filters the CT and lets it through: "
            f"{pve.fate(_peer_or(s, address), address, plan.PORT).why}"
            if pve.active()
            else ""
        )
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
    """Proxmox's firewall as it applies to this CT's net0 (active or not)."""
    return s[PveFirewall].for_ct(s.container.ctid, s[PctConfig].net0)


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
    pve = pve_firewall(s)
    if pve.active():
        return _judge_with_pve(s, want, pve, address, host, peer)
    return _judge_ct_ruleset(s, want, address, host, peer)


def _judge_ct_ruleset(s: Subject, want: str, address: str, host: str, peer: str) -> Verdict:
    rules = s[CtRuleset]
    iface = s[PctConfig].net0.get("name", "eth0")
    to_peer = rules.fate(Packet(peer, plan.PORT, iface, address))
    to_host = rules.fate(Packet(host, plan.PORT, iface, address))
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
    s: Subject, want: str, pve: GuestFirewall, address: str, host: str, peer: str
) -> Verdict:
    """The Proxmox firewall filters the CT (on the host's bridge, before the CT's own filter):
    it must admit the host; the port is closed when it drops the peer, or else the CT's own
    loaded ruleset must close it."""
    proof = (
        f"proof: the Proxmox firewall's files for CT {s.container.ctid} (cluster.fw,"
        f" {pve.guest_file}, net0 firewall=1; no client other than the Proxmox host)"
    )
    to_host = pve.fate(host, address, plan.PORT)
    if to_host.verdict != "accept":
        return failed(
            want,
            f"the Proxmox host ({host}) is {to_host.verdict} by the Proxmox firewall: "
            f"{to_host.why}; the proxy cannot reach the CT",
            proof,
        )
    to_peer = pve.fate(peer, address, plan.PORT)
    if to_peer.verdict == "drop":
        return passed(
            f"{proof}: a LAN client {peer} is dropped ({to_peer.why}), the host {host}"
            f" accepted ({to_host.why}); pve-firewall applies them at boot"
        )
    inner = _judge_ct_ruleset(s, want, address, host, peer)
    if inner.ok:
        return inner
    return failed(
        want,
        f"the Proxmox firewall filters the CT but does not close the port: a LAN client"
        f" ({peer}) is {to_peer.verdict}: {to_peer.why}; and in the CT: {inner.found}",
        proof,
    )

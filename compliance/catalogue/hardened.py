"""Beyond the plan (--profile=hardened): what breaks or exposes this deployment in real use."""

from __future__ import annotations

import ipaddress
import json

from compliance import plan
from compliance.catalogue import advisories, check
from compliance.catalogue.ollama_api import tags_problems
from compliance.catalogue.upstream import container_ip, host_bridge_address
from compliance.catalogue.verdict import Subject, Verdict, failed, not_requested, passed
from compliance.facts.firewall import BOOT_UNITS, CtRuleset
from compliance.facts.http import (
    DirectTags,
    DirectVersion,
    HttpReply,
    ProxiedDelete,
    ProxiedPs,
    ProxiedVersion,
    ReachFromRunner,
)
from compliance.facts.net import HostAddresses, ReachFromNetns
from compliance.facts.nginx import SiteConfig
from compliance.facts.proxmox import PctConfig, PveFirewall
from compliance.facts.stream import ProxiedStream
from compliance.syntax import nginx
from compliance.syntax.nft import Packet
from compliance.syntax.pve_firewall import GuestFirewall

ORDER = 5
WRITE_ENDPOINTS = ("create", "blobs/sha256:0", "pull", "push", "delete", "copy")
NGINX_TIMEOUT_DEFAULT = "60s"


def _version(reply: HttpReply | None) -> str | None:
    if reply is None or reply.status != 200:
        return None
    try:
        value = json.loads(reply.body).get("version")
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) else None


@check("runner", "hardened", "upgrade_ollama", profile="hardened")
def version_floor(s: Subject) -> Verdict:
    """/api/version is the same direct and proxied, and no known advisory affects it."""
    direct = _version(s[DirectVersion].reply)
    url = s.proxy_base() + "api/version"
    proxied = _version(s[ProxiedVersion].reply)
    if direct is None:
        return failed("GET 127.0.0.1:11434/api/version answers {version}", "no version")
    if proxied != direct:
        return failed(f"{url} says {direct} too", proxied or "no version")
    applying = advisories.affecting(direct, advisories.load(s.settings.advisories))
    if applying:
        named = "; ".join(f"{a.id} ({a.remedy()}: {a.summary}; {a.source})" for a in applying)
        return failed("a version no known advisory affects", f"Ollama {direct}: {named}")
    return passed(f"Ollama {direct}")


@check("host", "hardened", "ct_onboot", profile="hardened")
def ct_onboot(s: Subject) -> Verdict:
    """`onboot: 1` in `pct config`: the CT comes back after a host reboot."""
    onboot = s[PctConfig].get("onboot", "0")
    if onboot == "1":
        return passed()
    return failed(f"CT {s.container.ctid} onboot: 1", f"onboot: {onboot}")


@check("host", "hardened", "nginx_site", profile="hardened")
def proxy_llm_ready(s: Subject) -> Verdict:
    """The /ollama/ location fits LLM traffic: long proxy timeouts, no buffering, body size."""
    site = s[SiteConfig]
    floor = s.settings.proxy_timeout
    wrong = []
    for name in ("proxy_read_timeout", "proxy_send_timeout"):
        value = site.directive(name)
        seconds = nginx.seconds(value or NGINX_TIMEOUT_DEFAULT)
        if seconds is None or seconds < floor:
            shown = value or f"{NGINX_TIMEOUT_DEFAULT} (default)"
            wrong.append(f"{name} {shown} (want >= {floor}s)")
    buffering = site.directive("proxy_buffering")
    if (buffering or "on") != "off":
        wrong.append(f"proxy_buffering {buffering or 'on (default)'}")
    size = site.directive("client_max_body_size")
    if s.settings.manage_from and (size or "1m") != "0":
        wrong.append(
            f"client_max_body_size {size or '1m (default)'} (want 0: model uploads are allowed)"
        )
    if wrong:
        return failed("the location's LLM settings", "; ".join(wrong))
    return passed()


@check("runner", "hardened", "nginx_site", profile="hardened")
def manage_closed(s: Subject) -> Verdict:
    """Through the proxy the model-management API is refused unless allowed; reads still work."""
    site = s[SiteConfig]
    allowed = set(site.manage_allow)
    want = set(s.settings.manage_from)
    base = s.proxy_base()
    guarded = bool(site.guards)
    if not guarded or allowed != want:
        shown = f"allow {', '.join(sorted(allowed)) or 'none'}" if guarded else "none"
        return failed(
            "a guard on /ollama/api/{create,blobs,pull,push,delete,copy}: "
            f"allow {', '.join(sorted(want)) or 'none'}, deny all",
            f"guard: {shown}",
        )
    unguarded = [e for e in WRITE_ENDPOINTS if not site.guarded(f"{plan.LOCATION}api/{e}")]
    if unguarded:
        return failed("every write endpoint guarded", f"not guarded: {', '.join(unguarded)}")
    if not want:  # nobody may manage: prove it with a request nginx must refuse
        reply = s[ProxiedDelete].reply
        if reply is None or reply.status != 403:
            status = reply.status if reply else "no reply"
            return failed(f"DELETE {base}api/delete refused by nginx (403)", f"status {status}")
    read = s[ProxiedPs].reply
    if read is None or read.status != 200:
        return failed(f"GET {base}api/ps still answers", f"status {read.status if read else '-'}")
    return passed()


@check("lan", "hardened", "ct_firewall", profile="hardened")
def exposure(s: Subject) -> Verdict:
    """Port 11434 in the CT answers the Proxmox host (the proxy) and nobody else on its network."""
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


@check("runner", "hardened", "nginx_site", profile="hardened")
def proxy_streams(s: Subject) -> Verdict:
    """A streamed /api/generate through the proxy delivers its first chunk well before its last."""
    if not s.settings.probe_streaming:
        return not_requested("the live streaming probe runs only with --probe-streaming=on")
    models, problems = tags_problems(s[DirectTags].reply)
    if problems or not models:
        return failed("a model to stream from", "; ".join(problems) or "no model installed")
    url = s.proxy_base() + "api/generate"
    timing = s.fact(ProxiedStream, str(models[0].get("name")))
    if not timing.answered or timing.status != 200:
        return failed(f"POST {url} streams", f"status {timing.status if timing.answered else '-'}")
    shown = (
        f"{timing.chunks} chunks, first after {timing.first:.2f}s, last after {timing.last:.2f}s"
    )
    if not timing.streamed:
        return failed("the first chunk well before the last (tokens passed on)", shown)
    return passed(shown)

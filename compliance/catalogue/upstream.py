"""Where the proxy must send requests: the container's address, judged from the host's side.

Shared by the checks (site_file, exposure) and the fixes that write it (nginx_site,
ct_firewall), so both read the address the same way.
"""

from __future__ import annotations

import ipaddress

from compliance.catalogue.verdict import Subject
from compliance.facts.net import CtAddresses, HostAddresses
from compliance.facts.proxmox import PctConfig


def container_ip(s: Subject) -> tuple[str | None, str]:
    """(the container's IPv4 the proxy must target, how it was found), or (None, why not).

    A static `ip=` in `pct config` (the host's side) wins when it is live; otherwise the CT's
    own address on net0's interface. A container must not point the host's proxy at the host
    itself or anywhere off its bridge: loopback, link-local, multicast, the host's own
    addresses and addresses outside net0's bridge networks are refused.
    """
    if s.container.ct_ip:
        return _upstream(s, s.container.ct_ip, "setting ollama_ct_ip", bridge="")
    config = s[PctConfig]
    bridge = config.net0.get("bridge", "")
    live = s[CtAddresses].items
    static = config.static_ipv4
    if static and any(addr == static for _i, addr in live):
        return _upstream(s, static, "pct config net0 ip= (live in the CT)", bridge)
    name = config.net0.get("name", "eth0")
    on_net0 = [addr for iface, addr in live if iface == name]
    if on_net0:
        return _upstream(s, on_net0[0], f"ip -4 addr in the CT ({name})", bridge)
    if live:
        return _upstream(s, live[0][1], f"ip -4 addr in the CT ({live[0][0]})", bridge)
    return None, "no IPv4 address found in the CT"


def _upstream(s: Subject, address: str, how: str, bridge: str) -> tuple[str | None, str]:
    """The address, or None with why it may not be the proxy's upstream."""
    ip = ipaddress.IPv4Address(address)
    host = s[HostAddresses].items
    why = ""
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        why = "a loopback, link-local, multicast or unspecified address"
    elif any(ip == iface.ip for _name, iface in host):
        why = "one of the Proxmox host's own addresses"
    elif (nets := [i.network for n, i in host if bridge and n == bridge]) and not any(
        ip in net for net in nets
    ):
        why = f"not on net0's bridge {bridge} ({', '.join(str(net) for net in nets)})"
    if why:
        return None, f"{address} ({how}) refused: {why}"
    return address, how


def host_bridge_address(s: Subject, ct_address: str) -> str | None:
    """The Proxmox host's own address on the CT's network (what the proxy connects from)."""
    ip = ipaddress.IPv4Address(ct_address)
    return next((str(i.ip) for _n, i in s[HostAddresses].items if ip in i.network), None)

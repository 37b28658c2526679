"""A second client on the containers' bridge: "another machine on the LAN" (a netns).

The hardened profile's exposure check tries CT port 11434 from here; only the Proxmox host
may reach it.
"""

from __future__ import annotations

from lab import config
from lab.shell import host_run


def exists() -> bool:
    listed = host_run(["ip", "netns", "list"], check=False).stdout.split()
    return config.LAN_NETNS in listed


def ensure() -> bool:
    """Create the namespace with a veth on the bridge and its address; True if (re)made."""
    bridge_end, lan_end = config.LAN_VETH
    netns = config.LAN_NETNS
    inside = host_run(
        ["ip", "netns", "exec", netns, "ip", "-o", "link", "show", lan_end], check=False
    ).stdout
    outside = host_run(["ip", "-o", "link", "show", bridge_end], check=False).stdout
    if exists() and "UP" in inside and f"master {config.BRIDGE}" in outside:
        return False
    host_run(["ip", "netns", "delete", netns], check=False)
    host_run(["ip", "link", "delete", bridge_end], check=False)
    host_run(["ip", "netns", "add", netns])
    host_run(["ip", "link", "add", bridge_end, "type", "veth", "peer", "name", lan_end])
    host_run(["ip", "link", "set", lan_end, "netns", netns])
    host_run(["ip", "link", "set", bridge_end, "master", config.BRIDGE, "up"])
    in_netns = ["ip", "netns", "exec", netns]
    host_run([*in_netns, "ip", "addr", "add", config.LAN_ADDRESS, "dev", lan_end])
    host_run([*in_netns, "ip", "link", "set", lan_end, "up"])
    host_run([*in_netns, "ip", "link", "set", "lo", "up"])
    return True


def reaches(url: str) -> bool:
    """Whether an HTTP request from the LAN client gets any answer."""
    result = host_run(
        [
            "ip",
            "netns",
            "exec",
            config.LAN_NETNS,
            "curl",
            "-gs",
            "-o",
            "/dev/null",
            "--max-time",
            "3",
            url,
        ],
        check=False,
    )
    return result.returncode == 0


def answers(address: str, port: int = 11434) -> bool:
    """Whether the LAN client gets an HTTP answer from `address`:`port` (an IPv4, or an IPv6
    link-local reached through the namespace's own link)."""
    host = f"[{address}%25{config.LAN_VETH[1]}]" if ":" in address else address
    return reaches(f"http://{host}:{port}/api/version")

"""A live try from the runner itself: a TCP connect to a CT address, with the route and the
neighbour entry around it, printed as compliance/syntax/live_try.py reads it.

The runner's own `ip` tells whether it has a route to the address and whether the address
answered ARP/ND (on a link); without `ip` (not Linux), only an accepted or refused connection
proves anything.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess

IP_TIMEOUT_S = 5.0


def _ip(*args: str) -> tuple[int, str]:
    """`ip ARGS` on the runner: (exit code, first line of its output)."""
    tool = shutil.which("ip")
    if tool is None:
        return 127, "no ip command on the runner"
    try:
        done = subprocess.run(
            [tool, *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return 1, str(exc)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, lines[0] if lines else ""


def _connect(address: str, port: int, seconds: float) -> tuple[int, str]:
    """(0, '') connected, (124, '') no answer in time, else (1, the OS's reason)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        info = socket.getaddrinfo(address, port, family, socket.SOCK_STREAM)[0]
    except OSError as exc:
        return 1, exc.strerror or str(exc)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(seconds)
        try:
            sock.connect(info[4])
        except TimeoutError:
            return 124, ""
        except OSError as exc:
            return 1, exc.strerror or str(exc)
    return 0, ""


def link_of(ipv4: str) -> str:
    """The runner's interface towards an IPv4 address ('' when unknown): where a link-local
    IPv6 address of the same CT is reached, if the runner shares its link."""
    rc, route = _ip("-4", "route", "get", ipv4)
    words = route.split()
    return words[words.index("dev") + 1] if rc == 0 and "dev" in words[:-1] else ""


def try_port(address: str, port: int, seconds: float, zone_of: str = "") -> tuple[int, str]:
    """The try's lines (exit code 0: the lines say what happened). A link-local IPv6 address
    without a zone takes the runner's interface towards `zone_of` (the CT's IPv4)."""
    if address.lower().startswith("fe80:") and "%" not in address and zone_of:
        if not (zone := link_of(zone_of)):
            return 0, f"@@no-vantage the runner has no link towards {zone_of}\n"
        address = f"{address}%{zone}"
    family = "-6" if ":" in address else "-4"
    plain, _, zone = address.partition("%")
    route_args = [family, "route", "get", plain, *(("oif", zone) if zone else ())]
    rc, why = _ip(*route_args)
    lines = [f"@@vantage {zone or 'the runner'}", "@@route ok" if rc == 0 else f"@@route {why}"]
    connected, error = _connect(address, port, seconds)
    lines.append(f"@@connect {connected} {error}".rstrip())
    neigh_args = [family, "neigh", "show", plain, *(("dev", zone) if zone else ())]
    _rc, neighbour = _ip(*neigh_args)
    lines.append(f"@@neigh {neighbour if _rc == 0 else ''}".rstrip())
    return 0, "\n".join(lines) + "\n"

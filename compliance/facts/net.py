"""Network facts: the listener in the container, the addresses of the CT and of the host."""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Interface
from shlex import quote
from typing import Self

from compliance import plan
from compliance.facts import Fact, Scope


@dataclass(frozen=True)
class Listener:
    """One listening TCP socket from `ss -H -tlnp`."""

    address: str  # '*', '0.0.0.0', '[::]', '127.0.0.1', ...
    port: int
    pids: tuple[int, ...]

    @property
    def all_interfaces(self) -> bool:
        return self.address in ("*", "0.0.0.0", "[::]", "::")

    @property
    def stacks(self) -> str:
        """'dual' for `*`, 'ipv4' for 0.0.0.0, 'ipv6' for [::], else 'one address'."""
        return {"*": "dual", "0.0.0.0": "ipv4", "[::]": "ipv6", "::": "ipv6"}.get(
            self.address, "one address"
        )


def ss_listeners(text: str) -> list[Listener]:
    """Parse `ss -H -tlnp` lines (State Recv-Q Send-Q Local Peer [Process])."""
    listeners = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] != "LISTEN":
            continue
        address, _, port = fields[3].rpartition(":")
        address = re.sub(r"%\S+$", "", address)  # drop an interface scope like %lo
        pids = tuple(int(p) for p in re.findall(r"pid=(\d+)", line))
        if port.isdigit():
            listeners.append(Listener(address, int(port), pids))
    return listeners


@dataclass(frozen=True)
class Listeners(Fact):
    """The sockets listening on the plan's port in the container, with their processes."""

    items: tuple[Listener, ...] = ()
    observes = "service"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return f"ss -H -tlnp 'sport = :{plan.PORT}'"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(tuple(item for item in ss_listeners(output) if item.port == plan.PORT))


def ipv4_interfaces(text: str) -> list[tuple[str, IPv4Interface]]:
    """[(interface, address/prefix)] from `ip -4 -o addr show` lines."""
    found = []
    for line in text.splitlines():
        match = re.match(r"\d+:\s+(\S+)\s+inet\s+(\d+\.\d+\.\d+\.\d+/\d+)", line)
        if match:
            found.append((match.group(1).split("@")[0], IPv4Interface(match.group(2))))
    return found


@dataclass(frozen=True)
class CtAddresses(Fact):
    """The container's global IPv4 addresses, by interface."""

    items: tuple[tuple[str, str], ...] = ()
    observes = "container"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return "ip -4 -o addr show scope global"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(tuple((name, str(iface.ip)) for name, iface in ipv4_interfaces(output)))


@dataclass(frozen=True)
class HostAddresses(Fact):
    """The Proxmox host's IPv4 interfaces (its own networks)."""

    items: tuple[tuple[str, IPv4Interface], ...] = ()
    where = "host"
    observes = "host"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return "ip -4 -o addr show"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(tuple(ipv4_interfaces(output)))


@dataclass(frozen=True)
class ReachFromNetns(Fact):
    """Whether a URL answers from a network namespace on the host (a client on the LAN):
    the HTTP status of the answer, None when nothing answered."""

    status: int | None
    where = "host"
    on_demand = True
    observes = "firewall"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        netns, url = args
        return (
            f"ip netns exec {quote(netns)} curl -s -o /dev/null -w '%{{http_code}}' "
            f"--max-time 3 {quote(url)}"
        )

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        text = output.strip()
        return cls(int(text) if rc == 0 and text.isdigit() and text != "000" else None)

"""Network facts: the listener in the container, the addresses of the CT and of the host."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv6Interface
from shlex import quote
from typing import Self

from compliance import plan
from compliance.facts import Fact, Scope
from compliance.syntax.live_try import TRY_SECONDS, Try


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


def ipv6_interfaces(text: str) -> list[tuple[str, IPv6Interface]]:
    """[(interface, address/prefix)] from `ip -o addr show` lines of family inet6."""
    found = []
    for line in text.splitlines():
        match = re.match(r"\d+:\s+(\S+)\s+inet6\s+([0-9a-fA-F:]+/\d+)", line)
        if match:
            found.append((match.group(1).split("@")[0], IPv6Interface(match.group(2))))
    return found


@dataclass(frozen=True)
class HostAddresses(Fact):
    """The Proxmox host's interfaces (its own networks): IPv4 in `items`, IPv6 in `items6`."""

    items: tuple[tuple[str, IPv4Interface], ...] = ()
    items6: tuple[tuple[str, IPv6Interface], ...] = ()
    where = "host"
    observes = "host"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return "ip -o addr show"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(tuple(ipv4_interfaces(output)), tuple(ipv6_interfaces(output)))


@dataclass(frozen=True)
class CtInterfaces(Fact):
    """Every address of the container's interfaces but the loopback, in both families, with
    its prefix: where a client on its networks can reach it (hardened: exposure)."""

    items: tuple[tuple[str, IPv4Interface | IPv6Interface], ...] = ()
    hardened = True
    observes = "container"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return "ip -o addr show"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        found: list[tuple[str, IPv4Interface | IPv6Interface]] = [
            *ipv4_interfaces(output),
            *ipv6_interfaces(output),
        ]
        return cls(tuple(item for item in found if not item[1].ip.is_loopback))


NETNS_TRY = r"""ns=%(ns)s; addr=%(addr)s; port=%(port)d
if ! ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$ns"; then
  echo "@@no-vantage network namespace $ns does not exist on the host"; exit 0
fi
dev=$(ip netns exec "$ns" ip -o link show up \
  | awk -F': ' '$2 != "lo" {sub(/@.*/, "", $2); print $2; exit}')
echo "@@vantage $dev"
case $addr in *:*) fam=-6; target="$addr%%$dev" ;; *) fam=-4; target=$addr ;; esac
if why=$(ip netns exec "$ns" ip $fam route get "$addr" oif "$dev" 2>&1); then echo "@@route ok"
else echo "@@route $(printf %%s "$why" | head -1)"; fi
why=$(ip netns exec "$ns" timeout %(seconds)d \
  bash -c 'exec 3<>"/dev/tcp/$1/$2"' try "$target" "$port" 2>&1)
echo "@@connect $? $(printf %%s "$why" | tail -1)"
echo "@@neigh $(ip netns exec "$ns" ip $fam neigh show "$addr" dev "$dev" | head -1)"
"""


@dataclass(frozen=True)
class ReachFromNetns(Fact):
    """A live try of a CT address's port from a network namespace on the host (a client on
    the CT's network): did the vantage exist, did it reach the link, what did the connection
    do (see compliance/syntax/live_try.py)."""

    seen: Try = field(default_factory=Try)
    where = "host"
    on_demand = True
    observes = "firewall"
    label = "from a network namespace on the host: a TCP connect to the CT's port"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        netns, address = args
        values = {"ns": quote(netns), "addr": quote(address), "port": plan.PORT}
        return NETNS_TRY % {**values, "seconds": TRY_SECONDS}

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(Try.parse(output))

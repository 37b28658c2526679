"""Where the differential test runs: a server to load rulesets into (with a listener on 11434)
and a client to try connections from.

- `private_pair()`: two network namespaces made here (`nfttest-<random>-srv/-cli`), a veth
  pair between them (the server's end is `eth0`, as in a CT), IPv4 addresses and IPv6
  link-local ones; never touches any other namespace, and deletes both when done or failed.
- `lab_side(955)`: the lab's CT 955 (through `lxc-attach`) as the server and the lab's
  `ollama-lan` namespace on `lxcbr0` as the client. Run by the lab tests only.

Both pin the neighbours (ARP, NDP) on both ends for the run: a ruleset that drops ICMPv6 or
ARP at ingress would otherwise starve address resolution, and the try would time out for a
reason the ruleset's TCP verdict is not about. Both remove what they added.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from compliance.syntax.nft_listing import COMMAND as LISTING
from compliance.syntax.nft_listing import read_listing
from selftests.nftdiff.procs import LISTENER, Agent, HelperError, Shell

PORT = 11434
TIMEOUT = 0.3  # seconds a try waits for the handshake on a veth (an answer takes < 1 ms)
Try = tuple[int, str, str, str, int]  # family, source, target, scope, port


@dataclass(frozen=True)
class Addresses:
    """The server's addresses, the client's sources, and the Proxmox host's addresses (which
    the generated rules name; the host is one of the sources only where it can be)."""

    server4: str
    server6: str  # link-local
    clients4: tuple[str, ...]
    clients6: tuple[str, ...]  # link-local
    host4: str
    host6: str
    scope: str  # the client's interface, for link-local targets
    iif: str = "eth0"  # the server's interface the connections arrive on


@dataclass
class Side:
    """A server shell, a client agent, and the addresses between them."""

    name: str
    addresses: Addresses
    server: Shell
    client: Agent

    def load(self, text: str) -> str | None:
        """Replace the server's ruleset with `text`: None, or nft's complaint."""
        rc, out = self.server.run(f"nft flush ruleset && nft -f - <<'@@RULESET'\n{text}\n@@RULESET")
        return None if rc == 0 else out or f"nft exited {rc}"

    def listed(self) -> list[dict[str, Any]]:
        """The loaded ruleset's objects, read as the audit reads them (`CtRuleset`)."""
        return read_listing(self.server.must(LISTING))

    def tries(self) -> list[Try]:
        a = self.addresses
        return [(4, source, a.server4, "", PORT) for source in a.clients4] + [
            (6, source, a.server6, a.scope, PORT) for source in a.clients6
        ]

    def attempt(self) -> list[str]:
        return self.client.attempt(self.tries(), TIMEOUT)


def run(argv: list[str], check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise HelperError(f"exit {done.returncode}: {' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def _mac(text: str) -> str:
    """The link address of `ip -j link show dev X`."""
    found: Any = json.loads(text)
    return str(found[0]["address"])


def _start_listener(server: Shell, tag: str) -> str:
    """The listener started in the background from the server's shell: its pid."""
    path = f"/tmp/nftdiff-listener-{tag}.py"
    if server.run(f"ss -Htln 'sport = :{PORT}' | grep -q .")[0] == 0:
        raise HelperError(f"something already listens on {PORT} on the server: stop it first")
    pid = server.must(
        f"cat > {path} <<'@@LISTENER'\n{LISTENER}\n@@LISTENER\n"
        f"python3 {path} >/dev/null 2>&1 &\necho $!"
    ).split()[-1]
    deadline = time.monotonic() + 10
    while server.run(f"ss -Htln 'sport = :{PORT}' | grep -q .")[0] != 0:
        if time.monotonic() > deadline:
            raise HelperError("the listener did not start")
        time.sleep(0.05)
    return pid


def _stop_listener(server: Shell, pid: str, tag: str) -> None:
    server.run(f"kill {pid} 2>/dev/null; rm -f /tmp/nftdiff-listener-{tag}.py")


CLIENTS4 = ("10.0.3.250", "10.0.3.1", "192.168.77.7")  # a LAN client, the host, elsewhere
CLIENTS6 = ("fe80::250", "fe80::1", "fe80::77")


@contextmanager
def private_pair(
    clients4: tuple[str, ...] = CLIENTS4, clients6: tuple[str, ...] = CLIENTS6
) -> Iterator[Side]:
    """Two namespaces of our own joined by a veth (the server 10.0.3.100 and fe80::100 on
    `eth0`, the client's sources on `lan0`); deleted when done, also on failure."""
    tag = secrets.token_hex(3)
    server_ns, client_ns = f"nfttest-{tag}-srv", f"nfttest-{tag}-cli"
    addresses = Addresses(
        server4="10.0.3.100",
        server6="fe80::100",
        clients4=clients4,
        clients6=clients6,
        host4="10.0.3.1",
        host6="fe80::1",
        scope="lan0",
    )
    lan = ipaddress.ip_network("10.0.3.0/24")
    sources = [*clients4, *clients6]
    made: list[str] = []
    with ExitStack() as cleanup:
        cleanup.callback(lambda: [run(["ip", "netns", "del", ns], check=False) for ns in made])
        for ns in (server_ns, client_ns):
            run(["ip", "netns", "add", ns])
            made.append(ns)
        veth = ["link", "add", "eth0", "type", "veth", "peer", "name", "lan0", "netns", client_ns]
        run(["ip", "-n", server_ns, *veth])
        _address(server_ns, "eth0", ["10.0.3.100/24"], ["fe80::100/64"])
        near = {a: ipaddress.ip_address(a) in lan or a.startswith("fe80:") for a in sources}
        _address(
            client_ns,
            "lan0",
            [f"{a}/24" if near[a] else f"{a}/32" for a in clients4],
            [f"{a}/64" if near[a] else f"{a}/128" for a in clients6],
        )
        for source in sources:
            if not near[source]:  # the server's way back to a source off the link's prefixes
                run(["ip", "-n", server_ns, "route", "add", source, "dev", "eth0"])
        server_mac = _mac(run(["ip", "-n", server_ns, "-j", "link", "show", "dev", "eth0"]))
        client_mac = _mac(run(["ip", "-n", client_ns, "-j", "link", "show", "dev", "lan0"]))
        for source in (*clients4, *clients6):
            _pin(["ip", "-n", server_ns], source, client_mac, "eth0")
        for target in (addresses.server4, addresses.server6):
            _pin(["ip", "-n", client_ns], target, server_mac, "lan0")
        server = Shell(["ip", "netns", "exec", server_ns])
        cleanup.callback(server.close)
        pid = _start_listener(server, tag)
        cleanup.callback(_stop_listener, server, pid, tag)
        client = Agent(["ip", "netns", "exec", client_ns])
        cleanup.callback(client.close)
        yield Side(f"private namespaces {server_ns}, {client_ns}", addresses, server, client)


def _address(ns: str, dev: str, v4: list[str], v6: list[str]) -> None:
    """Only our addresses (no generated link-local, no duplicate detection), then up."""
    run(["ip", "-n", ns, "link", "set", dev, "addrgenmode", "none"])
    for address in v4:
        run(["ip", "-n", ns, "addr", "add", address, "dev", dev])
    for address in v6:
        run(["ip", "-n", ns, "addr", "add", address, "dev", dev, "nodad"])
    run(["ip", "-n", ns, "link", "set", dev, "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])


def _pin(ip: list[str], address: str, mac: str, dev: str) -> None:
    run([*ip, "neigh", "replace", address, "lladdr", mac, "dev", dev, "nud", "permanent"])


CT_ENV = ("HOME=/root", "LANG=C.UTF-8", "PATH=/usr/sbin:/usr/bin:/sbin:/bin")


@contextmanager
def lab_side(ctid: int = 955) -> Iterator[Side]:
    """The lab's CT as the server, its `ollama-lan` namespace as the client. The CT's ruleset
    is flushed at the end; the caller resets the lab (`lab.states.reset`)."""
    from lab import config

    ct = ["lxc-attach", "-n", str(ctid), "--clear-env"]
    for var in CT_ENV:
        ct += ["-v", var]
    lan_ns, lan_dev = config.LAN_NETNS, config.LAN_VETH[1]
    tag = secrets.token_hex(3)
    with ExitStack() as cleanup:
        server = Shell([*ct, "--"])
        cleanup.callback(server.close)
        server_json: Any = json.loads(server.must("ip -j addr show dev eth0"))
        client_json: Any = json.loads(
            run(["ip", "-n", lan_ns, "-j", "addr", "show", "dev", lan_dev])
        )
        bridge_json: Any = json.loads(run(["ip", "-j", "addr", "show", "dev", config.BRIDGE]))
        server4, server6 = _first(server_json, "inet"), _first(server_json, "inet6", "link")
        client4, client6 = _first(client_json, "inet"), _first(client_json, "inet6", "link")
        host6 = _first(bridge_json, "inet6", "link") or "fe80::1"
        if not (server4 and client4):
            raise HelperError(f"no IPv4 address on CT {ctid}'s eth0 or {lan_ns}'s {lan_dev}")
        both6 = bool(server6 and client6)
        addresses = Addresses(
            server4=server4,
            server6=server6 if both6 else "fe80::1",
            clients4=(client4,),
            clients6=(client6,) if both6 else (),
            host4=config.BRIDGE_ADDRESS,
            host6=host6,
            scope=lan_dev,
        )
        server_mac, client_mac = server_json[0]["address"], client_json[0]["address"]
        pinned_server = [a for a in (client4, client6) if a and (a != client6 or both6)]
        pinned_client = [a for a in (server4, server6) if a and (a != server6 or both6)]
        for address in pinned_server:
            server.must(f"ip neigh replace {address} lladdr {client_mac} dev eth0 nud permanent")
            cleanup.callback(server.run, f"ip neigh del {address} dev eth0")
        for address in pinned_client:
            _pin(["ip", "-n", lan_ns], address, server_mac, lan_dev)
            cleanup.callback(
                run, ["ip", "-n", lan_ns, "neigh", "del", address, "dev", lan_dev], False
            )
        server.must("nft flush ruleset")
        cleanup.callback(server.run, "nft flush ruleset")
        pid = _start_listener(server, tag)
        cleanup.callback(_stop_listener, server, pid, tag)
        client = Agent(["ip", "netns", "exec", lan_ns])
        cleanup.callback(client.close)
        yield Side(f"CT {ctid} from {lan_ns}", addresses, server, client)


def _first(addr_json: Any, family: str, scope: str | None = None) -> str:
    """The first address of a family (and scope) in `ip -j addr show dev X`."""
    for link in addr_json:
        for info in link.get("addr_info", []):
            if info.get("family") == family and (scope is None or info.get("scope") == scope):
                return str(info["local"])
    return ""

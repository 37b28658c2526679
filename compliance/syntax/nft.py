"""The CT's loaded packet filter (`nft -j list ruleset`), and what it does to one new TCP
connection: every base chain of the input hook in priority order, rules in order, `jump`,
`goto` and `return` followed, the chain's policy at its end (as netfilter runs them).

Only what a port filter is written with is understood: tcp/th dport, ip saddr, meta iifname /
l4proto / nfproto, ct state, sets, prefixes, ranges. A rule that matches on anything else
makes the outcome unknown from that rule on, and the verdict says which rule: a filter the
suite cannot read is never called closed.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

INET_FAMILIES = ("inet", "ip")
IGNORED = {"counter", "log", "limit", "quota", "notrack", "comment", "meta_set", "mangle"}


@dataclass(frozen=True)
class Packet:
    """A new TCP connection arriving in the CT."""

    saddr: str
    dport: int
    iifname: str = "eth0"


@dataclass(frozen=True)
class Fate:
    """What the ruleset does to a packet: `accept`, `drop` or `unknown`, and why."""

    verdict: str
    why: str


def read_ruleset(output: str) -> list[dict[str, Any]]:
    """The objects of `nft -j list ruleset` (empty when nft printed no JSON)."""
    try:
        data = json.loads(output)
    except ValueError:
        return []
    items = data.get("nftables", []) if isinstance(data, dict) else []
    return [item for item in items if isinstance(item, dict)]


def _chains(items: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (c["family"], c["table"], c["name"]): c
        for item in items
        if isinstance(c := item.get("chain"), dict)
    }


def _rules(items: list[dict[str, Any]], key: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [
        rule
        for item in items
        if isinstance(rule := item.get("rule"), dict)
        and (rule.get("family"), rule.get("table"), rule.get("chain")) == key
    ]


def _value(left: Any, packet: Packet) -> Any:
    """The packet's value for a match's left side, or KeyError when not understood."""
    if isinstance(left, dict):
        if "payload" in left:
            payload = left["payload"]
            field = (payload.get("protocol"), payload.get("field"))
            if field in (("tcp", "dport"), ("th", "dport")):
                return packet.dport
            if field == ("ip", "saddr"):
                return packet.saddr
            if field == ("ip6", "saddr"):
                return None  # an IPv4 packet never matches an ip6 field
        if "meta" in left:
            key = left["meta"].get("key")
            values = {"iifname": packet.iifname, "l4proto": "tcp", "nfproto": "ipv4"}
            if key in values:
                return values[key]
        if "ct" in left and left["ct"].get("key") == "state":
            return "new"
    raise KeyError(json.dumps(left))


def _member(value: Any, right: Any) -> bool:
    """Whether the packet's value is (in) the right side: a value, set, prefix or range."""
    if isinstance(right, dict) and "set" in right:
        return any(_member(value, element) for element in right["set"])
    if isinstance(right, list):
        return any(_member(value, element) for element in right)
    if isinstance(right, dict) and "prefix" in right:
        prefix = right["prefix"]
        network = ipaddress.ip_network(f"{prefix['addr']}/{prefix['len']}", strict=False)
        return value is not None and ipaddress.ip_address(value) in network
    if isinstance(right, dict) and "range" in right:
        low, high = right["range"]
        if isinstance(value, int):
            return int(low) <= value <= int(high)
        if not value:
            return False
        address = int(ipaddress.ip_address(value))
        return int(ipaddress.ip_address(low)) <= address <= int(ipaddress.ip_address(high))
    if isinstance(value, str) and isinstance(right, str) and right.endswith("*"):
        return value.startswith(right[:-1])  # iifname "veth*"
    return bool(value == right)


def _matches(match: dict[str, Any], packet: Packet) -> bool:
    value = _value(match.get("left"), packet)
    hit = _member(value, match.get("right"))
    op = match.get("op", "==")
    if op in ("==", "in"):
        return hit
    if op == "!=":
        return not hit
    raise KeyError(f"operator {op}")


def _run(
    items: list[dict[str, Any]], key: tuple[str, str, str], packet: Packet, depth: int = 0
) -> str:
    """A chain's verdict for the packet: accept, drop, return (fell off the end), or raises
    KeyError naming the first rule not understood."""
    for rule in _rules(items, key):
        verdict = None
        for expression in rule.get("expr", []):
            (name, body), *_ = expression.items()
            if name == "match":
                try:
                    if not _matches(body, packet):
                        break
                except KeyError as what:
                    where = f"rule {rule.get('handle')} of {key[1]}/{key[2]}"
                    raise KeyError(f"{where}: {what}") from None
            elif name in ("accept", "drop", "reject"):
                verdict = "accept" if name == "accept" else "drop"
            elif name in ("jump", "goto"):
                target = (key[0], key[1], body["target"])
                if depth > 16:
                    raise KeyError(f"rule {rule.get('handle')}: jumps too deep")
                inner = _run(items, target, packet, depth + 1)
                if inner in ("accept", "drop"):
                    return inner
                if name == "goto":
                    return "return"
            elif name == "return":
                return "return"
            elif name not in IGNORED:
                raise KeyError(f"rule {rule.get('handle')} of {key[1]}/{key[2]}: {name}")
            if verdict:
                return verdict
    return "return"


def fate(items: list[dict[str, Any]], packet: Packet) -> Fate:
    """The packet's fate through every input-hook base chain, lowest priority first."""
    bases = sorted(
        (
            chain
            for chain in _chains(items).values()
            if chain.get("hook") == "input" and chain.get("family") in INET_FAMILIES
        ),
        key=lambda chain: int(chain.get("prio", 0)),
    )
    passed_through = []
    for chain in bases:
        key = (chain["family"], chain["table"], chain["name"])
        name = f"{chain['family']} {chain['table']}/{chain['name']}"
        try:
            verdict = _run(items, key, packet)
        except KeyError as what:
            return Fate("unknown", f"not understood: {str(what).strip(chr(39))}")
        if verdict == "return":
            verdict = "drop" if chain.get("policy") == "drop" else "accept"
            if verdict == "drop":
                return Fate("drop", f"{name}: policy drop")
        elif verdict == "drop":
            return Fate("drop", f"{name} drops it")
        passed_through.append(name)
    return Fate("accept", f"accepted by {', '.join(passed_through) or 'no filter at all'}")

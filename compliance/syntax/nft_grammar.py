"""Reading `nft -j list ruleset` objects: the ruleset's index, the values a match's right side
stands for (in the domain of its field), a verdict map's entries, and a rule's readable form.

Reading is total over any JSON (a compromised CT prints what it likes): a shape this module
does not know raises `Unread` saying what, and the evaluator makes that part of the ruleset
unknown. Nothing unread is ever taken as "not a member".
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from compliance.syntax.pieces import Budget

ChainKey = tuple[str, str, str]  # family, table, name (also how sets and maps are named)
Span = tuple[int, int]

# Values nft prints by name (nftables' datatypes: inet_proto, nf_proto, ether_type, ct_state).
L4PROTO = {
    "tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "igmp": 2, "sctp": 132,
    "udplite": 136, "dccp": 33, "gre": 47, "esp": 50, "ah": 51, "comp": 108, "ipv6": 41,
}  # fmt: skip
NFPROTO = {"ipv4": 2, "ipv6": 10}
ETHERTYPE = {"ip": 0x0800, "ip6": 0x86DD, "arp": 0x0806, "vlan": 0x8100, "8021ad": 0x88A8}
CT_STATE = {"invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64}
DEPTH = 4  # nesting of sets, elements and lists a right side may have
INDEX_COST = 2  # budget units for indexing one object (a unit is about a microsecond)


class Unread(Exception):
    """A part of a rule the suite does not read; the message says which."""


@dataclass(frozen=True)
class Ruleset:
    """The ruleset's objects by name: chains, their rules in order, named sets and maps."""

    chains: dict[ChainKey, dict[str, Any]] = field(default_factory=dict)
    rules: dict[ChainKey, list[dict[str, Any]]] = field(default_factory=dict)
    sets: dict[ChainKey, dict[str, Any]] = field(default_factory=dict)
    maps: dict[ChainKey, dict[str, Any]] = field(default_factory=dict)


def _key(obj: dict[str, Any], name: str = "name") -> ChainKey | None:
    parts = (obj.get("family"), obj.get("table"), obj.get(name))
    return parts if all(isinstance(p, str) for p in parts) else None  # type: ignore[return-value]


def index(items: Iterable[Any], budget: Budget) -> Ruleset:
    """One pass over the objects, each counted against the budget."""
    ruleset = Ruleset()
    for item in items:
        budget.spend(INDEX_COST)
        if not isinstance(item, dict) or len(item) != 1:
            continue
        (kind, obj), *_ = item.items()
        if not isinstance(obj, dict):
            continue
        if kind == "chain" and (key := _key(obj)):
            ruleset.chains[key] = obj
        elif kind == "rule" and (key := _key(obj, "chain")):
            ruleset.rules.setdefault(key, []).append(obj)
        elif kind == "set" and (key := _key(obj)):
            ruleset.sets[key] = obj
        elif kind == "map" and (key := _key(obj)):
            ruleset.maps[key] = obj
    return ruleset


def leaves(right: Any, table: tuple[str, str], ruleset: Ruleset, budget: Budget) -> list[Any]:
    """The single values a right side stands for: anonymous sets, named sets (`@name`),
    element wrappers (`{"elem": {"val": ...}}`, with comments or timeouts) and lists opened."""
    if isinstance(right, str) and right.startswith("@"):
        found = ruleset.sets.get((table[0], table[1], right[1:]))
        if found is None:
            raise Unread(f"set {right} is not in the ruleset")
        elements = found.get("elem", [])
        if not isinstance(elements, list):
            raise Unread(f"set {right}'s elements")
        return _opened(elements, budget, DEPTH)
    return _opened([right], budget, DEPTH)


def _opened(values: list[Any], budget: Budget, depth: int) -> list[Any]:
    if depth <= 0:
        raise Unread("sets nested too deep")
    budget.spend(len(values))
    out: list[Any] = []
    for value in values:
        if isinstance(value, list):
            out += _opened(value, budget, depth - 1)
        elif isinstance(value, dict) and "set" in value and isinstance(value["set"], list):
            out += _opened(value["set"], budget, depth - 1)
        elif isinstance(value, dict) and "elem" in value and isinstance(value["elem"], dict):
            out += _opened([value["elem"].get("val")], budget, depth - 1)
        else:
            out.append(value)
    return out


def map_entries(
    data: Any, table: tuple[str, str], ruleset: Ruleset, budget: Budget
) -> list[tuple[Any, Any]]:
    """(key, verdict) of a verdict map: anonymous (`{"set": [[k, v], ...]}`) or `@name`."""
    if isinstance(data, str) and data.startswith("@"):
        found = ruleset.maps.get((table[0], table[1], data[1:]))
        if found is None:
            raise Unread(f"map {data} is not in the ruleset")
        if found.get("map") != "verdict":
            raise Unread(f"map {data} does not map to verdicts")
        elements = found.get("elem", [])
    elif isinstance(data, dict) and isinstance(data.get("set"), list):
        elements = data["set"]
    else:
        raise Unread("verdict map data")
    if not isinstance(elements, list):
        raise Unread("verdict map elements")
    budget.spend(len(elements))
    entries = []
    for element in elements:
        if not (isinstance(element, list) and len(element) == 2):
            raise Unread("a verdict map element")
        key, verdict = element
        if isinstance(key, dict) and isinstance(key.get("elem"), dict):
            key = key["elem"].get("val")
        entries.append((key, verdict))
    return entries


# -- one value in a domain ----------------------------------------------------------------


def address_span(leaf: Any, family: int) -> Span:
    """An address, prefix or range of `family` as an inclusive integer span."""
    try:
        if isinstance(leaf, str):
            ip = ipaddress.ip_address(leaf)
            if ip.version == family:
                return int(ip), int(ip)
        elif isinstance(leaf, dict) and isinstance(leaf.get("prefix"), dict):
            prefix = leaf["prefix"]
            net = ipaddress.ip_network(f"{prefix['addr']}/{int(prefix['len'])}", strict=False)
            if net.version == family and isinstance(prefix["addr"], str):
                return int(net.network_address), int(net.broadcast_address)
        elif isinstance(leaf, dict) and isinstance(leaf.get("range"), list):
            low, high = (ipaddress.ip_address(end) for end in leaf["range"])
            if low.version == high.version == family and int(low) <= int(high):
                return int(low), int(high)
    except (ValueError, TypeError, KeyError):
        pass
    raise Unread(f"IPv{family} address {_brief(leaf)}")


def number_span(leaf: Any, names: dict[str, int] | None = None) -> Span:
    """A number (or a name nft prints for one) or a range of them."""
    if isinstance(leaf, dict) and isinstance(leaf.get("range"), list) and len(leaf["range"]) == 2:
        low, high = (number_span(end, names)[0] for end in leaf["range"])
        if low <= high:
            return low, high
    elif isinstance(leaf, int) and not isinstance(leaf, bool) and leaf >= 0:
        return leaf, leaf
    elif isinstance(leaf, str) and leaf.isdigit():
        return int(leaf), int(leaf)
    elif isinstance(leaf, str) and names and leaf in names:
        return names[leaf], names[leaf]
    raise Unread(f"value {_brief(leaf)}")


def name_pattern(leaf: Any) -> tuple[str, bool]:
    """An interface name, and whether it is a wildcard prefix (`veth*`)."""
    if isinstance(leaf, str):
        if leaf.endswith("\\*"):
            return leaf[:-2] + "*", False
        if leaf.endswith("*"):
            return leaf[:-1], True
        return leaf, False
    raise Unread(f"interface name {_brief(leaf)}")


def ct_bits(leaf: Any) -> int:
    """A conntrack state or `|` of states as the kernel's bitmask."""
    if isinstance(leaf, str) and leaf in CT_STATE:
        return CT_STATE[leaf]
    if isinstance(leaf, dict) and isinstance(leaf.get("|"), list):
        bits = 0
        for part in leaf["|"]:
            bits |= ct_bits(part)
        return bits
    raise Unread(f"ct state {_brief(leaf)}")


# -- readable forms -----------------------------------------------------------------------

NAMED_BY_ITSELF = {"iif", "iifname", "oif", "oifname"}  # printed without `meta`
SHOWN_MAX = 120
SHOWN_ITEMS = 8  # elements of an anonymous set shown in a rule's readable form


def _brief(value: Any) -> str:
    if isinstance(value, list | dict) and len(value) > SHOWN_ITEMS:
        return f"({type(value).__name__} of {len(value)})"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def show_left(left: Any) -> str:
    if isinstance(left, dict) and len(left) == 1:
        (kind, body), *_ = left.items()
        if kind == "payload" and isinstance(body, dict) and "protocol" in body:
            return f"{body.get('protocol')} {body.get('field')}"
        if kind == "meta" and isinstance(body, dict):
            key = body.get("key")
            return str(key) if key in NAMED_BY_ITSELF else f"meta {key}"
        if kind == "ct" and isinstance(body, dict):
            return f"ct {body.get('key')}"
        if kind == "concat" and isinstance(body, list):
            return " . ".join(show_left(part) for part in body)
        return str(kind)
    return _brief(left)


def show_right(right: Any, quoted: bool = False) -> str:
    """A right side as nft prints it; `quoted` for interface names."""
    if isinstance(right, dict) and len(right) == 1:
        (kind, body), *_ = right.items()
        if kind == "set" and isinstance(body, list):
            shown = [show_right(item, quoted) for item in body[:SHOWN_ITEMS]]
            more = [f"... {len(body) - SHOWN_ITEMS} more"] if len(body) > SHOWN_ITEMS else []
            return "{ " + ", ".join(shown + more) + " }"
        if kind == "prefix" and isinstance(body, dict):
            return f"{body.get('addr')}/{body.get('len')}"
        if kind == "range" and isinstance(body, list):
            return "-".join(show_right(end) for end in body)
        if kind == "elem" and isinstance(body, dict):
            return show_right(body.get("val"), quoted)
        if kind == "|" and isinstance(body, list):
            return " | ".join(show_right(item) for item in body)
        if kind == "concat" and isinstance(body, list):
            return " . ".join(show_right(item, quoted) for item in body)
        if kind in VERDICTS:
            return show_statement(right)
    if isinstance(right, list):
        if len(right) == 2 and isinstance(right[1], dict) and set(right[1]) & VERDICTS:
            return f"{show_right(right[0])} : {show_right(right[1])}"
        return ",".join(show_right(item, quoted) for item in right)
    if isinstance(right, str):
        plain = right.startswith("@") or (not quoted and " " not in right and right)
        return right if plain else json.dumps(right)
    return _brief(right)


VERDICTS = {"accept", "drop", "continue", "return", "jump", "goto"}


def show_statement(expr: Any) -> str:
    if not (isinstance(expr, dict) and len(expr) == 1):
        return _brief(expr)
    (verb, body), *_ = expr.items()
    if verb == "match" and isinstance(body, dict):
        op = body.get("op", "==")
        shown_op = "" if op in ("==", "in") else f"{op} "
        left = show_left(body.get("left"))
        quoted = left in NAMED_BY_ITSELF
        return f"{left} {shown_op}{show_right(body.get('right'), quoted)}"
    if verb in ("jump", "goto") and isinstance(body, dict):
        return f"{verb} {body.get('target')}"
    if verb == "reject":
        kind = body.get("type") if isinstance(body, dict) else None
        if kind == "tcp reset":
            return "reject with tcp reset"
        return f"reject with {kind} {body.get('expr')}" if isinstance(body, dict) else "reject"
    if verb == "vmap" and isinstance(body, dict):
        return f"{show_left(body.get('key'))} vmap {show_right(body.get('data'))}"
    if verb == "limit" and isinstance(body, dict):
        return f"limit rate {body.get('rate')}/{body.get('per')}"
    if verb == "mangle" and isinstance(body, dict):
        return f"{show_left(body.get('key'))} set {_brief(body.get('value'))}"
    return str(verb)


def show_rule(rule: dict[str, Any]) -> str:
    """A rule as nft would print it, roughly and at most SHOWN_MAX characters."""
    exprs = rule.get("expr")
    if not isinstance(exprs, list):
        return "(no expressions)"
    text = " ".join(show_statement(expr) for expr in exprs)
    if isinstance(rule.get("comment"), str):
        text += f' comment "{rule["comment"]}"'
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 3] + "..."

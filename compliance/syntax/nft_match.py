"""What one nftables match (`{"match": {"op", "left", "right"}}`) selects among the sources of a
new TCP connection: the set of source addresses for which it holds.

Every field but the source address is fixed for the connection judged (destination, port,
interfaces, protocol, conntrack state), so a match on it holds for every source or for none.
The facts used, as the kernel runs them:

- a field of another family never matches, whatever the operator: nft guards `ip saddr` in
  an inet or netdev table with `meta nfproto ipv4` (or `meta protocol ip`), so `ip saddr !=
  ...` never matches an IPv6 packet; likewise `ip6 ...` for IPv4, and a port of another
  transport protocol (`udp dport`) for TCP;
- `ct state` is `new` after conntrack has seen the packet (prerouting above priority -200 and
  every input chain) and `invalid` before it (ingress, prerouting below -200); a list (`new,
  established`) is a bitmask test, a `|` or a plain value an exact compare, a set a lookup;
- on the input path there is no output interface: `oif` reads 0 and `oifname` "", so
  `oifname != "eth0"` holds (so the kernel in selftests/kernel does; old kernels ended the
  rule there instead);
- `iifname "veth*"` is a prefix compare; `iif` names one interface;
- `meta l4proto`, `ip protocol`, `ip6 nexthdr` read tcp, `meta nfproto` the packet's family
  (inet tables only), `meta protocol` its ethertype.

Anything else raises `Unread` (a predicate the suite cannot decide).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compliance.syntax.nft_grammar import (
    ETHERTYPE,
    L4PROTO,
    NFPROTO,
    Ruleset,
    Unread,
    address_span,
    ct_bits,
    leaves,
    name_pattern,
    number_span,
)
from compliance.syntax.pieces import Budget
from compliance.syntax.sources import Sources

TCP = 6
# Transport protocols whose fields a TCP packet never has (nft adds `meta l4proto X`).
OTHER_L4 = {"udp", "udplite", "sctp", "dccp", "icmp", "icmpv6", "igmp", "esp", "ah", "comp", "gre"}
FAMILY_OF = {"ip": 4, "ip6": 6}
ORDER_OPS = {"<", "<=", ">", ">="}
PARSE_COST = 10  # budget units per address read (ipaddress parses slowly)


@dataclass(frozen=True)
class Seen:
    """What the kernel reads for the connection judged, in one table at one hook."""

    family: int  # of the packet: 4 or 6
    table: tuple[str, str]  # family and name of the table whose rule reads it
    daddr: str | None  # None: unknown, so a match on it is undecided
    dport: int
    iif: str
    ct_state: int | None  # the conntrack state bit; None where the kernel's order is unknown


@dataclass(frozen=True)
class Field:
    """The field a match reads: its kind, and the family for address fields."""

    kind: str  # saddr, daddr, dport, l4proto, nfproto, ethertype, iif, iifname, oif, oifname,
    # ctstate, or never (a field the packet does not have)
    family: int = 0


def field_of(left: Any, seen: Seen) -> Field:
    """The field of a match's left side, or Unread."""
    if not (isinstance(left, dict) and len(left) == 1):
        raise Unread(f"match on {_what(left)}")
    (kind, body), *_ = left.items()
    if not isinstance(body, dict):
        raise Unread(f"match on {kind}")
    if kind == "payload":
        return _payload(body.get("protocol"), body.get("field"), seen)
    if kind == "meta":
        return _meta(body.get("key"), seen)
    if kind == "ct" and body.get("key") == "state" and "dir" not in body:
        return Field("ctstate")
    raise Unread(f"match on {_what(left)}")


def _payload(protocol: Any, name: Any, seen: Seen) -> Field:
    if protocol in FAMILY_OF:
        family = FAMILY_OF[protocol]
        if seen.table[0] in ("ip", "ip6") and FAMILY_OF[seen.table[0]] != family:
            raise Unread(f"{protocol} {name} in an {seen.table[0]} table")
        if family != seen.family:
            return Field("never")
        if name in ("saddr", "daddr"):
            return Field(str(name), family)
        if (protocol, name) in (("ip", "protocol"), ("ip6", "nexthdr")):
            return Field("l4proto")
    elif protocol in ("tcp", "th") and name == "dport":
        return Field("dport")
    elif protocol in OTHER_L4:
        return Field("never")
    raise Unread(f"match on {protocol} {name}")


def _meta(key: Any, seen: Seen) -> Field:
    if key in ("iif", "iifname", "oif", "oifname", "l4proto"):
        return Field(str(key))
    if key == "protocol":
        return Field("ethertype")
    if key == "nfproto" and seen.table[0] != "netdev":
        return Field("nfproto")
    raise Unread(f"match on meta {key}")


def match_set(match: Any, seen: Seen, ruleset: Ruleset, budget: Budget) -> Sources:
    """The source addresses (of the packet's family) for which the match holds."""
    if not isinstance(match, dict):
        raise Unread("a match of another shape")
    op = match.get("op", "==")
    if op not in ("==", "!=", "in", *ORDER_OPS):
        raise Unread(f"operator {op}")
    what = field_of(match.get("left"), seen)
    everything, nothing = Sources.everything(seen.family), Sources.nothing(seen.family)
    if what.kind == "never":
        return nothing
    right = match.get("right")
    if what.kind == "saddr":
        return _addresses(op, right, seen, ruleset, budget)
    holds = _holds(what, op, right, seen, ruleset, budget)
    return everything if holds else nothing


def _addresses(op: str, right: Any, seen: Seen, ruleset: Ruleset, budget: Budget) -> Sources:
    if op in ORDER_OPS:
        low, high = address_span(right, seen.family)
        last = (1 << (32 if seen.family == 4 else 128)) - 1
        span = {
            "<": (0, low - 1),
            "<=": (0, high),
            ">": (high + 1, last),
            ">=": (low, last),
        }[op]
        return Sources.of(seen.family, [span])
    values = leaves(right, seen.table, ruleset, budget)
    budget.spend(PARSE_COST * len(values))  # reading an address costs more than a piece
    spans = [address_span(leaf, seen.family) for leaf in values]
    found = Sources.of(seen.family, spans)
    return ~found if op == "!=" else found


def _holds(what: Field, op: str, right: Any, seen: Seen, ruleset: Ruleset, budget: Budget) -> bool:
    """Whether a match on a fixed field holds for this connection."""
    kind = what.kind
    if kind == "ctstate":
        return _ct_state(op, right, seen, ruleset, budget)
    values = leaves(right, seen.table, ruleset, budget)
    if kind in ("iif", "iifname", "oif", "oifname"):
        if op in ORDER_OPS:
            raise Unread(f"operator {op} on {kind}")
        member = any(_names_match(kind, leaf, seen) for leaf in values)
        return member != (op == "!=")
    value = _number(kind, seen)
    if op in ORDER_OPS:
        if len(values) != 1:
            raise Unread(f"operator {op} with a set")
        low, high = _span(kind, values[0], seen)
        return {"<": value < low, "<=": value <= high, ">": value > high, ">=": value >= low}[op]
    member = any(low <= value <= high for low, high in (_span(kind, v, seen) for v in values))
    return member != (op == "!=")


def _number(kind: str, seen: Seen) -> int:
    """The connection's value of a numeric field (daddr as an integer)."""
    if kind == "daddr":
        if seen.daddr is None:
            raise Unread("the destination address is not known")
        return address_span(seen.daddr, seen.family)[0]
    numbers = {
        "dport": seen.dport,
        "l4proto": TCP,
        "nfproto": NFPROTO["ipv4" if seen.family == 4 else "ipv6"],
        "ethertype": ETHERTYPE["ip" if seen.family == 4 else "ip6"],
    }
    return numbers[kind]


def _span(kind: str, leaf: Any, seen: Seen) -> tuple[int, int]:
    if kind == "daddr":
        return address_span(leaf, seen.family)
    names = {"l4proto": L4PROTO, "nfproto": NFPROTO, "ethertype": ETHERTYPE}.get(kind)
    return number_span(leaf, names)


def _names_match(kind: str, leaf: Any, seen: Seen) -> bool:
    """Whether one right-side value names the packet's interface (none on output: oif 0)."""
    if kind in ("oif", "iif") and isinstance(leaf, int) and not isinstance(leaf, bool):
        if kind == "oif":
            return leaf == 0
        raise Unread(f"iif by index {leaf}")
    name, prefix = name_pattern(leaf)
    actual = seen.iif if kind in ("iif", "iifname") else ""
    if prefix and kind in ("iifname", "oifname"):
        return actual.startswith(name)
    if prefix:
        name += "*"  # iif and oif take no wildcard: the name is literal
    return actual == name


def _ct_state(op: str, right: Any, seen: Seen, ruleset: Ruleset, budget: Budget) -> bool:
    if seen.ct_state is None:
        raise Unread("ct state at priority -200 of prerouting (conntrack's own priority)")
    state = seen.ct_state
    if op in ORDER_OPS:
        raise Unread(f"operator {op} on ct state")
    lookup = (isinstance(right, str) and right.startswith("@")) or _is_set(right)
    if lookup:  # a set lookup: exact values
        values = leaves(right, seen.table, ruleset, budget)
        return any(ct_bits(value) == state for value in values) != (op == "!=")
    mask = 0
    for value in right if isinstance(right, list) else [right]:
        mask |= ct_bits(value)
    if op == "in":  # a bitmask test: any of the states listed
        return state & mask != 0
    return (state == mask) != (op == "!=")  # an exact compare (`new`, `established | new`)


def _is_set(right: Any) -> bool:
    return isinstance(right, dict) and "set" in right


def _what(left: Any) -> str:
    if isinstance(left, dict) and left:
        return str(next(iter(left)))
    return type(left).__name__

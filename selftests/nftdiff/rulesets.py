"""Rulesets within the evaluator's grammar, drawn by hypothesis, as `nft -f` text.

A ruleset is 1-3 tables (inet, ip, ip6, netdev) with named sets and verdict maps, regular
chains and base chains (ingress, prerouting, input; priorities on both sides of conntrack's
-200; policies accept and drop; now and then a nat chain). Rules mix source matches over a
small pool of addresses, prefixes and ranges around the client's and the host's addresses,
destination, ports, interfaces (with wildcards), l4proto/nfproto/ethertype, ct state, `!=`,
anonymous and named sets (intervals, comments, timeouts) and maps, with accept, drop, reject
(every form), jump, goto, return, continue, counters, marks and limits. Jumps only go to
regular chains drawn later, so no ruleset loops (the kernel would refuse it).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hypothesis import strategies as st

from selftests.nftdiff.sides import Addresses

ADDRESS_FAMILIES = {"inet": ("ip", "ip6"), "ip": ("ip",), "ip6": ("ip6",), "netdev": ("ip", "ip6")}


@dataclass(frozen=True)
class Pool:
    """Right-hand values a rule may name, per address family ("ip", "ip6")."""

    addresses: dict[str, tuple[str, ...]]
    blocks: dict[str, tuple[str, ...]]  # prefixes and ranges
    server: dict[str, str]
    iif: str

    @classmethod
    def around(cls, a: Addresses) -> Pool:
        four = [*a.clients4, a.host4]
        six = [*a.clients6, a.host6]
        return cls(
            addresses={
                "ip": tuple(dict.fromkeys([*four, a.server4, "192.0.2.9"])),
                "ip6": tuple(dict.fromkeys([*six, a.server6, "fe80::dead"])),
            },
            blocks={
                "ip": _blocks(four, (0, 8, 16, 24, 25, 28, 30, 31)),
                "ip6": (*_blocks(six, (0, 10, 64, 120, 126, 127)), "fd00::/8"),
            },
            server={"ip": a.server4, "ip6": a.server6},
            iif=a.iif,
        )


def _blocks(addresses: list[str], lengths: tuple[int, ...]) -> tuple[str, ...]:
    """Prefixes of each length around each address, and short ranges from and to it."""
    out: list[str] = []
    for text in addresses:
        ip = ipaddress.ip_address(text)
        out += [str(ipaddress.ip_network(f"{ip}/{length}", strict=False)) for length in lengths]
        out += [f"{ip}-{ip + 3}", f"{ip - 2}-{ip}"]
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class Named:
    """A named set or map: its name, what it holds (addr family, "port", "ifname"), its text."""

    name: str
    kind: str
    text: str


def _quoted(values: list[str]) -> str:
    return "{ " + ", ".join(values) + " }"


@st.composite
def _address_value(draw: st.DrawFn, pool: Pool, family: str, sets: list[Named]) -> str:
    """A right side for `ip saddr`: an address, block, anonymous set or named set."""
    named = [s.name for s in sets if s.kind == family]
    choices = ["address", "block", "anonymous"] + (["named"] * 2 if named else [])
    kind = draw(st.sampled_from(choices))
    if kind == "address":
        return draw(st.sampled_from(pool.addresses[family]))
    if kind == "block":
        return draw(st.sampled_from(pool.blocks[family]))
    if kind == "named":
        return "@" + draw(st.sampled_from(named))
    elements = draw(
        st.lists(st.sampled_from(pool.addresses[family] + pool.blocks[family]), min_size=1,
                 max_size=3, unique=True)
    )  # fmt: skip
    return _quoted(elements)


@st.composite
def _match(draw: st.DrawFn, pool: Pool, table: str, sets: list[Named], family: str) -> str:
    """One match a rule of this table may carry (its address fields of one family, as nft
    refuses `ip` and `ip6` fields in one rule)."""
    kinds = ["saddr"] * 6 + ["dport"] * 3 + ["iif", "oif", "l4", "daddr", "ethertype", "port"]
    if table != "netdev":
        kinds += ["ct"] * 2
    if table == "inet":
        kinds.append("nfproto")
    kind = draw(st.sampled_from(kinds))
    negate = draw(st.sampled_from(["", "", "!= "]))
    if kind == "saddr":
        return f"{family} saddr {negate}{draw(_address_value(pool, family, sets))}"
    if kind == "daddr":
        target = draw(st.sampled_from([pool.server[family], pool.addresses[family][0]]))
        return f"{family} daddr {negate}{target}"
    if kind == "dport":
        ports = [s.name for s in sets if s.kind == "port"]
        value = draw(
            st.sampled_from(
                ["11434", "22", "11000-12000", "{ 22, 11434 }", "1-1024"]
                + [f"@{name}" for name in ports]
            )
        )
        return f"tcp dport {negate}{value}"
    if kind == "iif":
        names = [s.name for s in sets if s.kind == "ifname"]
        form = draw(
            st.sampled_from(
                [f'iif "{pool.iif}"', 'iif "lo"', f'iifname "{pool.iif}"', 'iifname "lo"',
                 'iifname "eth*"', 'iifname "veth*"', f'iifname {{ "lo", "{pool.iif}" }}']
                + [f"iifname @{name}" for name in names]
            )
        )  # fmt: skip
        word, _, value = form.partition(" ")
        return f"{word} {negate}{value}"
    if kind == "oif":
        word = draw(st.sampled_from(["oif", "oifname"]))
        value = draw(st.sampled_from([f'"{pool.iif}"', '"lo"']))
        return f"{word} {negate}{value}"
    if kind == "l4":
        word = draw(
            st.sampled_from(["meta l4proto", "ip protocol" if family == "ip" else "ip6 nexthdr"])
        )
        value = draw(st.sampled_from(["tcp", "udp", "{ tcp, udp }"]))
        return f"{word} {negate}{value}"
    if kind == "port":  # another protocol's port, or any transport header's
        return f"{draw(st.sampled_from(['th', 'udp']))} dport {negate}11434"
    if kind == "ethertype":  # of the rule's family: nft refuses a contradiction
        return f"meta protocol {family}"
    if kind == "nfproto":
        return f"meta nfproto {'ipv4' if family == 'ip' else 'ipv6'}"
    return draw(
        st.sampled_from(
            ["ct state new", "ct state established,related", "ct state != established",
             "ct state { new, established }", "ct state invalid", "ct state new,untracked",
             "ct state != new"]
        )
    )  # fmt: skip


def _reject(table: str, family: str) -> list[str]:
    """Every form of reject a rule of this table and address family may end with."""
    icmp = "icmp type port-unreachable" if family == "ip" else "icmpv6 type port-unreachable"
    forms = ["reject", "reject with tcp reset", f"reject with {icmp}"]
    if table in ("inet", "netdev"):
        forms.append("reject with icmpx type admin-prohibited")
    return forms


@st.composite
def _statement(
    draw: st.DrawFn, pool: Pool, table: str, family: str, sets: list[Named], later: list[str],
    regular: bool,
) -> str:  # fmt: skip
    """The end of a rule (of an address family): a verdict, a verdict map, or a statement
    with none."""
    kinds = ["accept"] * 3 + ["drop"] * 3 + ["reject"] * 2 + ["counter", "mark", "limit", "vmap"]
    if later:
        kinds += ["jump"] * 3 + ["goto"]
    if regular:
        kinds += ["return", "continue"]
    kind = draw(st.sampled_from(kinds))
    if kind == "reject":
        return draw(st.sampled_from(_reject(table, family)))
    if kind in ("jump", "goto"):
        return f"{kind} {draw(st.sampled_from(later))}"
    if kind == "counter":
        return "counter"
    if kind == "mark":
        return "meta mark set 0x1 counter"
    if kind == "limit":
        return f"limit rate 5/second {draw(st.sampled_from(['accept', 'drop']))}"
    if kind == "vmap":
        return draw(_vmap(pool, family, sets, later))
    return kind


VERDICTS = ["accept", "drop", "continue", "return"]


def _verdict(draw: st.DrawFn, later: list[str]) -> str:
    options = VERDICTS + [f"jump {c}" for c in later[-1:]] + [f"goto {c}" for c in later[-1:]]
    return draw(st.sampled_from(options))


@st.composite
def _vmap(draw: st.DrawFn, pool: Pool, family: str, sets: list[Named], later: list[str]) -> str:
    """A verdict map on the source address (of the rule's family) or the port: anonymous, or
    a named one."""
    maps = [s for s in sets if s.kind in (f"map {family}", "map port")]
    named: bool = draw(st.booleans())
    if maps and named:
        chosen = draw(st.sampled_from(maps))
        key = chosen.kind.removeprefix("map ")
        left = "tcp dport" if key == "port" else f"{key} saddr"
        return f"{left} vmap @{chosen.name}"
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(["22", "11434", "80"]), min_size=1, max_size=3,
                             unique=True))  # fmt: skip
        left = "tcp dport"
    else:
        candidates = pool.addresses[family] + pool.blocks[family]
        keys = _disjoint(draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3,
                                       unique=True)))  # fmt: skip
        left = f"{family} saddr"
    entries = [f"{key} : {_verdict(draw, later)}" for key in keys]
    return f"{left} vmap {_quoted(entries)}"


def _disjoint(blocks: list[str]) -> list[str]:
    """Keys a map may hold together: no two overlap (nft refuses overlapping intervals)."""
    kept: list[tuple[int, int]] = []
    out = []
    for text in blocks:
        if "-" in text:
            low, high = (int(ipaddress.ip_address(end)) for end in text.split("-"))
        else:
            net = ipaddress.ip_network(text, strict=False)
            low, high = int(net.network_address), int(net.broadcast_address)
        if all(high < a or low > b for a, b in kept):
            kept.append((low, high))
            out.append(text)
    return out


@st.composite
def _named(draw: st.DrawFn, pool: Pool, table: str, index: int, later: list[str]) -> Named:
    """A named set (addresses, ports, interface names) or verdict map of the table."""
    families = ADDRESS_FAMILIES[table]
    kind = draw(st.sampled_from([*families, "port", "ifname", "map"]))
    name = f"s{index}"
    if kind == "map":
        key = draw(st.sampled_from([*families, "port"]))
        if key == "port":
            keys = draw(st.lists(st.sampled_from(["22", "11434"]), min_size=0, max_size=2,
                                 unique=True))  # fmt: skip
            head = "type inet_service : verdict;"
        else:
            keys = _disjoint(draw(st.lists(st.sampled_from(pool.addresses[key] + pool.blocks[key]),
                                           min_size=0, max_size=3, unique=True)))  # fmt: skip
            head = f"type {'ipv4_addr' if key == 'ip' else 'ipv6_addr'} : verdict; flags interval;"
        entries = [f"{k}{_comment(draw)} : {_verdict(draw, later)}" for k in keys]
        body = f" elements = {_quoted(entries)};" if entries else ""
        return Named(name, f"map {key}", f"map {name} {{ {head}{body} }}")
    if kind == "port":
        values = draw(st.lists(st.sampled_from(["22", "11434", "80", "11000-12000"]), min_size=0,
                               max_size=3, unique=True))  # fmt: skip
        head = "type inet_service; flags interval; auto-merge;"
    elif kind == "ifname":
        values = draw(st.lists(st.sampled_from([f'"{pool.iif}"', '"lo"', '"eth*"', '"veth*"']),
                               min_size=0, max_size=2, unique=True))  # fmt: skip
        head = "type ifname; flags interval;"
        if f'"{pool.iif}"' in values and pool.iif.startswith("eth"):
            values = [v for v in values if v != '"eth*"']  # overlapping intervals
    else:
        interval = draw(st.booleans())
        plain = list(pool.addresses[kind])
        candidates = plain + list(pool.blocks[kind]) if interval else plain
        values = draw(st.lists(st.sampled_from(candidates), min_size=0, max_size=4, unique=True))
        kind_type = "ipv4_addr" if kind == "ip" else "ipv6_addr"
        timeout = not interval and draw(st.booleans())
        flags = "flags interval; auto-merge;" if interval else "flags timeout;" if timeout else ""
        head = f"type {kind_type}; {flags}"
        if timeout:
            values = [v + draw(st.sampled_from(["", " timeout 1h"])) for v in values]
    elements = [v + _comment(draw) for v in values]
    body = f" elements = {_quoted(elements)};" if elements else ""
    return Named(name, kind, f"set {name} {{ {head}{body} }}")


def _comment(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", "", ' comment "from the generator"']))


@st.composite
def _chain(
    draw: st.DrawFn, pool: Pool, table: str, name: str, head: str, hook: str,
    sets: list[Named], later: list[str],
) -> str:  # fmt: skip
    regular = not head
    rules = []
    for _ in range(draw(st.integers(0, 4))):
        family = draw(st.sampled_from(ADDRESS_FAMILIES[table]))
        matches = draw(st.lists(_match(pool, table, sets, family), max_size=3))
        if sum(m.split()[0] in ("tcp", "th", "udp") for m in matches) > 1:
            matches = [m for m in matches if m.split()[0] not in ("th", "udp")]
        statement = draw(_statement(pool, table, family, sets, later, regular))
        if any("udp" in m for m in matches):  # nft refuses tcp fields after a udp match
            keep = ("udp dport", "meta l4proto udp", "ip protocol udp", "ip6 nexthdr udp")
            matches = [m for m in matches if "tcp" not in m or m.startswith(keep)]
            if "tcp" in statement:
                statement = "reject" if "reject" in statement else "drop"
        rules.append(" ".join([*matches, statement]))
    lines = ([head] if head else []) + rules
    return f"  chain {name} {{\n" + "".join(f"    {line}\n" for line in lines) + "  }"


@st.composite
def _table(draw: st.DrawFn, pool: Pool, index: int) -> str:
    family = draw(st.sampled_from(["inet", "inet", "ip", "ip6", "netdev"]))
    name = f"t{index}"
    regular = [f"r{i}" for i in range(draw(st.integers(0, 3)))]
    sets = [draw(_named(pool, family, i, regular)) for i in range(draw(st.integers(0, 3)))]
    blocks = [f"  {s.text}" for s in sets]
    # regular chains, the last first (each jumps only to those after it); maps jump to the
    # last one only, so the last one uses no map
    for position in reversed(range(len(regular))):
        last = position == len(regular) - 1
        usable = [s for s in sets if not (last and s.kind.startswith("map "))]
        blocks.append(draw(_chain(pool, family, regular[position], "", "", usable,
                                  regular[position + 1 :])))  # fmt: skip
    for b in range(draw(st.integers(1, 2))):
        head, hook = draw(_base_head(pool, family))
        blocks.append(draw(_chain(pool, family, f"b{b}", head, hook, sets, regular)))
    return f"table {family} {name} {{\n" + "\n".join(blocks) + "\n}"


@st.composite
def _base_head(draw: st.DrawFn, pool: Pool, family: str) -> tuple[str, str]:
    policy = draw(st.sampled_from(["accept", "accept", "drop"]))
    if family == "netdev" or (family == "inet" and draw(st.integers(0, 9)) == 0):
        prio = draw(st.sampled_from([-500, -10, 0, 10]))
        return (
            f'type filter hook ingress device "{pool.iif}" priority {prio}; policy {policy};',
            "ingress",
        )
    if draw(st.integers(0, 9)) == 0:
        return "type nat hook prerouting priority dstnat; policy accept;", "prerouting"
    hook = draw(st.sampled_from(["input", "input", "prerouting"]))
    prio = draw(st.sampled_from([-300, -150, -10, 0, 10]))
    return f"type filter hook {hook} priority {prio}; policy {policy};", hook


@st.composite
def rulesets(draw: st.DrawFn, pool: Pool) -> str:
    """A whole ruleset, as `nft -f` reads it."""
    count = draw(st.integers(1, 3))
    return "\n".join(draw(_table(pool, i)) for i in range(count)) + "\n"

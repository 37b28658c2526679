"""The CT's loaded ruleset judged for the whole source space, as the kernel runs it.

Fixtures are real: `nft/<name>.nft` loaded into a private namespace, `<name>.listing` what
the audit's listing command printed there (the kernel's expressions, the JSON of `nft -j
list ruleset`, `nft list chains`; `tools/nft_fixtures.py` regenerates them and
`selftests/kernel` checks them against the kernel). Hand-built JSON only where no kernel
would load the ruleset (loops, nesting deeper than the kernel allows, shapes nft never
prints): what a compromised CT could print.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.syntax.nft import Packet, fate, judge, read_ruleset
from compliance.syntax.nft_listing import (
    ingress_devices,
    read_listing,
    reject_families,
    with_devices,
)
from compliance.syntax.pieces import TOO_LARGE, Budget
from compliance.syntax.sources import ACCEPT, DROP, UNKNOWN, Sources

FIXTURES = Path(__file__).parent / "nft"
CT4, CT6, PORT = "10.0.3.100", "fe80::100", 11434
HOST4, HOST6, PEER4, PEER6 = "10.0.3.1", "fe80::1", "10.0.3.250", "fe80::250"


def listing(name: str) -> str:
    return (FIXTURES / f"{name}.listing").read_text()


def loaded(name: str) -> list[dict[str, Any]]:
    """A fixture's objects as the audit reads them."""
    return read_listing(listing(name))


def json_only(name: str) -> list[dict[str, Any]]:
    """A fixture's objects from nft's JSON alone (no device, no kernel expressions)."""
    line = next(line for line in listing(name).splitlines() if line.startswith("{"))
    return read_ruleset(line)


def judged(items: list[dict[str, Any]], source: str, **packet: Any) -> tuple[str, str]:
    family = 6 if ":" in source else 4
    daddr = packet.pop("daddr", CT6 if family == 6 else CT4)
    j = judge(items, family, daddr, packet.pop("dport", PORT), packet.pop("iif", "eth0"))
    return j.fate(source)


# fixture, source, outcome, a part of the reason (the rule that decided, or the policy)
CASES = [
    # the plan's guard: the host over IPv4, nobody else (IPv6 included)
    ("guard", HOST4, ACCEPT, "`tcp dport 11434 ip saddr 10.0.3.1 accept`"),
    ("guard", PEER4, DROP, "`tcp dport 11434 reject with tcp reset`"),
    ("guard", HOST6, DROP, "reject with tcp reset"),
    ("only_host", HOST4, ACCEPT, "ip saddr 10.0.3.1 accept"),
    ("only_host", HOST6, ACCEPT, "ip6 saddr fe80::1 accept"),
    ("only_host", PEER4, DROP, "`tcp dport 11434 drop`"),
    ("only_host", "2001:db8::1", DROP, "`tcp dport 11434 drop`"),
    # `iif lo accept` and a policy drop: a closed ruleset, read to the end
    ("lo_policy_drop", PEER4, DROP, "inet filter/input: policy drop"),
    ("lo_policy_drop", HOST4, ACCEPT, "ip saddr 10.0.3.1 tcp dport 11434 accept"),
    ("lo_policy_drop", HOST6, DROP, "policy drop"),
    # `!=` against a named set whose elements carry comments: only non-members dropped
    ("trusted_set", HOST4, ACCEPT, "policy accept"),
    ("trusted_set", "10.0.3.205", ACCEPT, "policy accept"),
    ("trusted_set", "192.168.40.1", ACCEPT, "policy accept"),
    ("trusted_set", PEER4, DROP, "`tcp dport 11434 ip saddr != @trusted drop`"),
    ("trusted_set", PEER6, ACCEPT, "policy accept"),  # `ip6 saddr != fe80::/10`: inside it
    ("trusted_set", "2001:db8::1", DROP, "ip6 saddr != fe80::/10 drop"),
    # an accept ends one base chain only: the next one still drops
    ("two_bases", PEER4, DROP, "ip late/input"),
    ("two_bases", HOST4, ACCEPT, "inet early/input rule 2 `accept`; then ip late/input"),
    ("two_bases", PEER6, ACCEPT, "inet early/input"),  # the ip table never sees IPv6
    # an inet table's `ip saddr != ...` never matches IPv6
    ("inet_ip_only", PEER4, DROP, "ip saddr != 10.0.3.1 drop"),
    ("inet_ip_only", PEER6, ACCEPT, "policy accept"),
    ("families", PEER4, DROP, "ip four/input: policy drop"),
    ("families", HOST4, ACCEPT, "ip four/input rule"),
    ("families", PEER6, DROP, "ip6 six/input rule"),
    ("families", "2001:db8::1", ACCEPT, "ip6 six/input: policy accept"),
    # verdict maps: named (comments, intervals, jump, goto) and anonymous
    ("vmaps", HOST4, ACCEPT, "ip saddr vmap @by_source"),
    ("vmaps", "10.0.3.5", DROP, "`ip saddr 10.0.3.0/24 drop`"),  # jump lan, returned
    ("vmaps", "10.0.3.100", DROP, "`ip saddr 10.0.3.100 drop`"),  # returned into ollama
    ("vmaps", PEER4, DROP, "maps/lan"),  # goto lan
    ("vmaps", "10.0.3.200", DROP, "`ip saddr 10.0.3.0/24 drop`"),  # goto lan, back to input
    ("vmaps", "192.0.2.1", ACCEPT, "policy accept"),  # no entry: the next rule
    ("vmaps", HOST6, ACCEPT, "ip6 saddr vmap"),
    ("vmaps", PEER6, DROP, "ip6 saddr vmap"),
    # jump, goto, return, continue
    ("goto_return", HOST4, ACCEPT, "paths/after_jump"),
    ("goto_return", "10.0.3.2", ACCEPT, "paths/input rule"),  # returned, next rule
    ("goto_return", "10.0.3.3", DROP, "paths/after_jump"),
    ("goto_return", "10.0.3.4", ACCEPT, "paths/after_goto"),
    ("goto_return", "10.0.3.5", ACCEPT, "ip saddr 10.0.3.5 accept"),  # continue
    ("goto_return", "10.0.3.6", DROP, "paths/input: policy drop"),  # goto's end
    ("goto_return", "10.0.3.9", ACCEPT, "`ip saddr 10.0.3.0/24 accept`"),
    # hooks and conntrack: `invalid` before conntrack, `new` after, no output interface
    ("hooks_ct", HOST4, ACCEPT, "policy accept"),  # raw: ct state new does not match yet
    ("hooks_ct", "10.0.3.2", DROP, "ct state invalid drop"),
    ("hooks_ct", "10.0.3.3", DROP, "ct state new drop"),
    ("hooks_ct", "10.0.3.4", ACCEPT, "policy accept"),
    ("hooks_ct", "10.0.3.5", DROP, 'oifname != "eth0" drop'),
    ("hooks_ct", "10.0.3.6", ACCEPT, "policy accept"),
    ("hooks_ct", "10.0.3.7", ACCEPT, "policy accept"),
    ("hooks_ct", "10.0.3.8", DROP, "ct state { established, new } drop"),
    ("hooks_ct", "10.0.3.9", ACCEPT, "policy accept"),
    ("hooks_ct", "10.0.3.10", ACCEPT, "policy accept"),  # == established | new: exact
    ("hooks_ct", "10.0.3.20", DROP, "netdev edge/ingress rule"),
    ("hooks_ct", "fe80::20", DROP, "netdev edge/ingress rule"),
    # interface names
    ("ifnames", HOST4, ACCEPT, 'iif "eth0" accept'),
    ("ifnames", "10.0.3.2", DROP, 'iifname "eth*" drop'),
    ("ifnames", "10.0.3.3", ACCEPT, "policy accept"),
    ("ifnames", "10.0.3.4", DROP, "iifname != @inside drop"),
    ("ifnames", "10.0.3.5", DROP, 'iifname { "lo", "eth0" } drop'),
    # protocols, families, ports
    ("protocols", HOST4, ACCEPT, "policy accept"),  # l4proto udp
    ("protocols", "10.0.3.2", DROP, "meta l4proto { tcp, udp } drop"),
    ("protocols", "10.0.3.3", ACCEPT, "policy accept"),  # udp dport: never a TCP packet
    ("protocols", "10.0.3.4", DROP, "th dport 11434 drop"),
    ("protocols", "10.0.3.5", ACCEPT, "policy accept"),  # nfproto ipv6
    ("protocols", "10.0.3.6", DROP, "meta protocol ip drop"),
    ("protocols", "10.0.3.7", DROP, "tcp dport @ports drop"),
    ("protocols", "10.0.3.8", DROP, "tcp dport < 20000 drop"),
    ("protocols", "10.0.3.9", ACCEPT, "policy accept"),
    ("protocols", "10.0.3.201", DROP, "ip saddr >= 10.0.3.200 drop"),
    ("protocols", "fe80::9", DROP, "ip6 nexthdr tcp"),
    ("protocols", "fe80::10", DROP, "ip6 saddr fe80::10 drop"),
    # reject with icmp is IPv4's, with icmpv6 IPv6's (nft guards them by family)
    ("rejects", PEER4, DROP, "reject with icmp port-unreachable"),
    ("rejects", PEER6, ACCEPT, "policy accept"),
    ("rejects", "fe80::2", DROP, "icmpv6 admin-prohibited"),
    ("rejects", "fe80::3", DROP, "tcp reset"),
    ("rejects", "fe80::4", DROP, "icmpx"),
    ("rejects", "fe80::5", DROP, "reject"),
    # what the suite does not read: unknown where it could change the outcome, named
    ("unknowns", PEER4, ACCEPT, "policy accept"),  # `meta mark 0x1 counter`: no verdict
    ("unknowns", "10.0.3.5", ACCEPT, "policy accept"),  # mark accept, or policy accept
    ("unknowns", "10.0.3.6", UNKNOWN, "`ip saddr 10.0.3.6 tcp flags syn drop`: match on tcp"),
    ("unknowns", "10.0.3.7", ACCEPT, "policy accept"),  # limit ... accept, or policy accept
    ("unknowns", "10.0.3.8", UNKNOWN, "depends on the traffic rate"),
    ("unknowns", "10.0.3.9", UNKNOWN, "match on fib"),
    ("unknowns", "10.0.3.10", UNKNOWN, "notrack"),
    ("unknowns", "10.0.3.11", UNKNOWN, "ip saddr . tcp dport { 10.0.3.11 . 11434 }"),
    ("unknowns", "10.0.3.12", UNKNOWN, "match on tcp sport"),
    # nat: a rewritten destination is unknown, and no later drop makes it closed
    ("nat", PEER4, UNKNOWN, "ip saddr 10.0.3.0/24 tcp dport 11434 dnat`: dnat"),
    ("nat", "192.0.2.1", DROP, "policy drop"),
    ("nat_untracked", PEER4, UNKNOWN, "if conntrack tracks the packet"),
    ("nat_tracked", PEER4, DROP, "ip nat/prerouting rule"),
    ("nat_tracked", HOST4, ACCEPT, "then ip filter/input: policy accept"),
    # a family match nft's JSON hides before `reject with tcp reset`, from the kernel's
    ("hidden_family", PEER4, ACCEPT, "policy accept"),  # `meta nfproto ipv6 ...` at input
    ("hidden_family", PEER6, DROP, "inet quiet/input rule 2 `tcp dport 11434 reject"),
    ("hidden_protocol", "192.0.2.1", DROP, "netdev edge/ingress rule 2"),  # names ip saddr
    ("hidden_protocol", PEER4, DROP, "netdev edge/ingress rule 3"),
    ("hidden_protocol", "10.0.3.7", DROP, "netdev edge/ingress rule 4"),  # `meta protocol ip`
    ("hidden_protocol", PEER6, ACCEPT, "policy accept"),
    # the hostile fan-out (as deep as the kernel loads): judged
    ("fanout", PEER4, DROP, "ip fanout/c15"),
    ("fanout", HOST4, ACCEPT, "policy accept"),
]


@pytest.mark.parametrize(("name", "source", "outcome", "why"), CASES)
def test_fixture(name, source, outcome, why):
    found, reason = judged(loaded(name), source)
    assert (found, why in reason) == (outcome, True), reason


def test_a_judgement_partitions_the_whole_space():
    """Every source is in exactly one region; the trusted set's complement is what drops."""
    j = judge(loaded("trusted_set"), 4, CT4, PORT, "eth0")
    everything = Sources.nothing(4)
    for region in j.regions:
        assert not everything & region.sources
        everything = everything | region.sources
    assert everything == Sources.everything(4)
    trusted = Sources.parse("10.0.3.1") | Sources.parse("10.0.3.200-10.0.3.210")
    assert j.with_outcome(DROP) == ~(trusted | Sources.parse("192.168.0.0/16"))


@pytest.mark.parametrize(
    ("packet", "outcome"),
    [
        ({"dport": 22}, ACCEPT),  # the guard closes 11434 only
        ({"iif": "lo"}, ACCEPT),  # `iifname "lo" accept`
        ({"daddr": None}, DROP),  # the guard does not read the destination
    ],
)
def test_other_connections_through_the_guard(packet, outcome):
    assert judged(loaded("guard"), PEER4, **packet)[0] == outcome


def test_destination_matches():
    items = loaded("inet_ip_only")  # `ip protocol tcp ip daddr != 10.0.3.100 drop`
    assert judged(items, HOST4, daddr="10.0.3.99")[0] == DROP
    assert judged(items, HOST4)[0] == ACCEPT
    unknown, why = judged(items, HOST4, daddr=None)
    assert unknown == UNKNOWN
    assert "the destination address is not known" in why


def test_fate_is_the_judgement_at_one_source():
    items = loaded("guard")
    assert fate(items, Packet(HOST4, PORT, "eth0", CT4)).verdict == ACCEPT
    dropped = fate(items, Packet(PEER6, PORT, "eth0", CT6, 6))
    assert dropped.verdict == DROP
    assert "reject with tcp reset" in dropped.why
    assert fate([], Packet(PEER4, PORT)).why == "accepted by no filter at all"


def test_an_ingress_chain_on_an_unlisted_device_is_unknown_where_it_drops():
    """nft 1.0.6 prints no device for ingress chains: without the text listing, the chain
    may or may not hook eth0."""
    items = json_only("hooks_ct")
    found, why = judged(items, "10.0.3.20")
    assert found == UNKNOWN
    assert "nft does not list an ingress chain's device" in why
    assert judged(items, PEER4)[0] == ACCEPT  # it accepts: the same on or off eth0
    assert judged(loaded("hooks_ct"), "10.0.3.20", iif="eth1")[0] == ACCEPT


def test_the_fan_out_is_linear_work():
    """3^15 paths through the kernel-loadable fan-out; about a thousand units of work."""
    budget = Budget()
    judge(loaded("fanout"), 4, CT4, PORT, "eth0", budget=budget)
    assert budget.spent < 2000, budget.spent


def _deeper(items: list[dict[str, Any]], extra: int) -> list[dict[str, Any]]:
    """The fan-out with `extra` chains more at its bottom (no kernel loads it)."""
    out = copy.deepcopy(items)
    chain = {"family": "ip", "table": "fanout"}
    for n in range(16, 16 + extra):
        out.append({"chain": {**chain, "name": f"c{n}"}})
        for handle in range(3):
            expr = [{"jump": {"target": f"c{n + 1}"}}]
            out.append({"rule": {**chain, "chain": f"c{n - 1}", "handle": 900 + handle,
                                 "expr": expr}})  # fmt: skip
    out.append({"chain": {**chain, "name": f"c{16 + extra}"}})
    return out


def test_a_hostile_fan_out_deeper_than_the_kernel_loads_ends_fast():
    """17 chains of 3 jumps each (a CT prints what it likes): each chain judged once, the
    part deeper than the kernel allows unknown."""
    budget = Budget()
    found, why = judged_with(_deeper(loaded("fanout"), 1), PEER4, budget)
    assert budget.spent < 2000, budget.spent
    assert found == DROP  # c15's drop comes before the jumps into the too-deep chain
    found, why = judged_with(_deeper(loaded("fanout"), 1), HOST4, Budget())
    assert (found, "16 jumps deep" in why) == (UNKNOWN, True), why


def judged_with(items: list[dict[str, Any]], source: str, budget: Budget) -> tuple[str, str]:
    return judge(items, 4, CT4, PORT, "eth0", budget=budget).fate(source)


def _base(*rules: list[dict[str, Any]], policy: str = "accept") -> list[dict[str, Any]]:
    """Hand-built objects: table inet t, base chain input with these rules."""
    chain = {"family": "inet", "table": "t"}
    items: list[dict[str, Any]] = [
        {"chain": {**chain, "name": "input", "type": "filter", "hook": "input", "prio": 0,
                   "policy": policy}}
    ]  # fmt: skip
    for handle, expr in enumerate(rules, start=1):
        items.append({"rule": {**chain, "chain": "input", "handle": handle, "expr": expr}})
    return items


def _regular(name: str, *rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    chain = {"family": "inet", "table": "t"}
    items: list[dict[str, Any]] = [{"chain": {**chain, "name": name}}]
    for handle, expr in enumerate(rules, start=100):
        items.append({"rule": {**chain, "chain": name, "handle": handle, "expr": expr}})
    return items


DROP_ALL = [{"drop": None}]


@pytest.mark.parametrize(
    ("items", "why"),
    [
        (_base([{"jump": {"target": "a"}}]) + _regular("a", [{"jump": {"target": "a"}}]),
         "a jump loops back to inet t/a"),
        (_base([{"jump": {"target": "missing"}}]), "inet t/missing is not in the ruleset"),
        (_base([{"queue": {"num": 1}}]), "rule 1 `queue`: queue"),
        (_base([{"match": {"op": "<<", "left": {"meta": {"key": "l4proto"}}, "right": 1}},
                {"accept": None}], policy="drop"), "operator <<"),
        (_base(["junk"]), "not understood: inet t/input rule 1"),
        (_base([{"match": "junk"}, {"accept": None}], policy="drop"), "a match of another shape"),
        (_base([{"vmap": {"key": {"payload": {"protocol": "ip", "field": "saddr"}},
                          "data": "@nowhere"}}]), "map @nowhere is not in the ruleset"),
        (_base([{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                           "right": "@nowhere"}}, {"drop": None}]), "set @nowhere"),
        (_base([{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                           "right": {"concat": [1, 2]}}}, {"drop": None}]), "IPv4 address"),
        (_base(policy="continue"), "policy continue"),
    ],
)  # fmt: skip
def test_what_no_kernel_loads_or_the_suite_does_not_read_is_unknown_and_named(items, why):
    found, reason = judged(items, PEER4)
    assert (found, why in reason) == (UNKNOWN, True), reason


def test_overlapping_map_keys_are_unknown_where_they_overlap():
    left = {"payload": {"protocol": "ip", "field": "saddr"}}
    entries = [
        [{"prefix": {"addr": "10.0.3.0", "len": 24}}, {"accept": None}],
        [PEER4, {"drop": None}],
    ]
    items = _base([{"vmap": {"key": left, "data": {"set": entries}}}], policy="drop")
    assert judged(items, HOST4)[0] == ACCEPT
    assert judged(items, PEER4)[0] == UNKNOWN
    assert judged(items, "192.0.2.1")[0] == DROP


def test_a_ruleset_beyond_the_budget_is_unknown_past_the_cap():
    rules = [
        [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                    "right": f"10.{i // 250}.{i % 250}.1"}}, {"drop": None}]
        for i in range(2000)
    ]  # fmt: skip
    found, why = judged_with(_base(*rules), PEER4, Budget(limit=5000))
    assert (found, why) == (UNKNOWN, TOO_LARGE)
    assert judged_with(_base(*rules), "10.0.0.1", Budget())[0] == DROP


def test_a_later_base_chain_is_not_read_once_the_budget_is_spent():
    early = _base(DROP_ALL)
    found, _ = judged_with(early, PEER4, Budget(limit=0))
    assert found == UNKNOWN  # even its drop: nothing was read


@pytest.mark.parametrize(
    "junk",
    [[1, "x", None], [{"rule": "x"}], [{"chain": {"family": 1}}], [{"set": {"elem": 5}}],
     [{"chain": {"family": "inet", "table": "t", "name": "c", "hook": "input", "prio": "x"}}],
     [{"rule": {"family": "inet", "table": "t", "chain": "c", "expr": None}}]],
)  # fmt: skip
def test_any_json_is_judged_without_an_exception(junk):
    for family, daddr in ((4, CT4), (6, CT6)):
        judge(junk, family, daddr, PORT, "eth0")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(
        ["@s", "10.0.3.250", "fe80::1", "eth0", "tcp", "new", "drop", "accept", "ip", "saddr"]
    ),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(
        ["match", "op", "left", "right", "payload", "protocol", "field", "meta", "key", "set",
         "elem", "val", "prefix", "addr", "len", "range", "jump", "goto", "target", "vmap",
         "data", "reject", "type", "ct", "limit", "|", "concat"]
    ), inner, max_size=3),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=300, derandomize=True, database=None)
@given(st.lists(JSON, max_size=4), st.lists(JSON, max_size=3))
def test_any_rule_json_is_judged_without_an_exception(exprs, elements):
    """What a compromised CT prints: rules and set elements of any shape."""
    items = _base(exprs, [{"jump": {"target": "a"}}]) + _regular("a", exprs)
    items.append({"set": {"family": "inet", "table": "t", "name": "s", "elem": elements}})
    for family, daddr, source in ((4, CT4, PEER4), (6, CT6, PEER6)):
        j = judge(items, family, daddr, PORT, "eth0")
        covered = Sources.nothing(family)
        for region in j.regions:
            covered = covered | region.sources
        assert covered == Sources.everything(family)
        assert j.fate(source)[0] in (ACCEPT, DROP, UNKNOWN)


def test_read_ruleset_takes_nfts_json_or_nothing():
    text = next(line for line in listing("guard").splitlines() if line.startswith("{"))
    assert read_ruleset(text) == json.loads(text)["nftables"]
    assert read_listing("") == []
    assert read_listing("nft: command not found\n@@chains\n") == []
    assert read_ruleset("Error: syntax error") == []
    assert read_ruleset("[1, 2]") == []
    assert read_ruleset('{"nftables": 5}') == []
    assert read_ruleset("[" * 100_000) == []


def test_a_tcp_reset_whose_family_nft_hides_is_unknown_without_the_kernels_expressions():
    """From the JSON alone `tcp dport 11434 reject with tcp reset` may be for either family
    (nft hides a `meta nfproto` before it): the plan's guard too. A rule that names a
    family's field is for that family whatever nft hides."""
    for source in (PEER4, PEER6):
        found, why = judged(json_only("hidden_family"), source)
        assert (found, "may hide the family" in why) == (UNKNOWN, True), why
    assert judged(json_only("guard"), PEER4)[0] == UNKNOWN
    edge = with_devices(json_only("hidden_protocol"), {("netdev", "edge", "ingress"): ["eth0"]})
    assert judged(edge, "192.0.2.1")[0] == DROP  # `ip saddr != ...`: IPv4's
    assert judged(edge, PEER6)[0] == UNKNOWN


def test_reject_families_from_the_kernels_expressions():
    assert reject_families(listing("hidden_family")) == {("inet", "quiet", "input", 2): "ipv6"}
    assert reject_families(listing("hidden_protocol")) == {
        ("netdev", "edge", "ingress", 2): "ipv4",
        ("netdev", "edge", "ingress", 4): "ipv4",
    }
    assert reject_families(listing("guard")) == {("inet", "ollama_guard", "input", 4): "any"}


def test_ingress_devices_from_the_text_listing():
    listed = listing("hooks_ct").partition("@@chains")[2]
    assert ingress_devices(listed) == {("netdev", "edge", "ingress"): ["eth0"]}
    many = "table netdev n {\n\tchain i {\n\t\ttype filter hook ingress devices = { eth0, lo }"
    assert ingress_devices(many) == {("netdev", "n", "i"): ["eth0", "lo"]}

"""The CT's loaded filter read as netfilter runs it: one new TCP connection through the
input hook's base chains (`nft -j list ruleset` objects, as nft 1.0 prints them)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compliance.syntax.nft import Packet, fate, read_ruleset

HOST, PEER, PORT = "10.0.3.1", "10.0.3.2", 11434


def dport(port: Any, op: str = "==") -> dict[str, Any]:
    return {
        "match": {
            "op": op,
            "left": {"payload": {"protocol": "tcp", "field": "dport"}},
            "right": port,
        }
    }


def saddr(value: Any, op: str = "==", protocol: str = "ip") -> dict[str, Any]:
    left = {"payload": {"protocol": protocol, "field": "saddr"}}
    return {"match": {"op": op, "left": left, "right": value}}


def meta(key: str, value: Any) -> dict[str, Any]:
    return {"match": {"op": "==", "left": {"meta": {"key": key}}, "right": value}}


def ct_state(*states: str) -> dict[str, Any]:
    right: Any = list(states) if len(states) > 1 else states[0]
    return {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": right}}


ACCEPT, DROP, REJECT, RETURN = {"accept": None}, {"drop": None}, {"reject": None}, {"return": None}


def table(*chains: tuple[str, dict[str, Any], list[list[dict[str, Any]]]], name: str = "t"):
    """Objects of one inet table: (chain name, chain attributes, rules as expr lists)."""
    items: list[dict[str, Any]] = [{"table": {"family": "inet", "name": name}}]
    for chain, attributes, rules in chains:
        items.append({"chain": {"family": "inet", "table": name, "name": chain, **attributes}})
        for handle, expr in enumerate(rules, start=1):
            rule = {"family": "inet", "table": name, "chain": chain, "handle": handle}
            items.append({"rule": {**rule, "expr": expr}})
    return items


def base(policy: str = "accept", prio: int = 0) -> dict[str, Any]:
    return {"type": "filter", "hook": "input", "prio": prio, "policy": policy}


GUARD = table(
    (
        "input",
        base(),
        [
            [dport(PORT), meta("iifname", "lo"), ACCEPT],
            [dport(PORT), saddr(HOST), ACCEPT],
            [dport(PORT), REJECT],
        ],
    )
)


def verdict(items: list[dict[str, Any]], source: str, port: int = PORT, iif: str = "eth0") -> str:
    return fate(items, Packet(source, port, iif)).verdict


def test_the_plans_guard_admits_the_host_and_drops_the_lan():
    assert verdict(GUARD, HOST) == "accept"
    assert verdict(GUARD, PEER) == "drop"
    assert verdict(GUARD, PEER, iif="lo") == "accept"
    assert verdict(GUARD, PEER, port=22) == "accept"  # other ports are not its business
    assert fate(GUARD, Packet(PEER, PORT)).why == "inet t/input drops it"


def test_no_filter_accepts_everything():
    assert fate([], Packet(PEER, PORT)).why == "accepted by no filter at all"


@pytest.mark.parametrize(
    ("right", "peer_verdict"),
    [
        ({"set": [HOST, "10.0.3.9"]}, "drop"),
        ({"prefix": {"addr": "10.0.3.0", "len": 24}}, "accept"),  # the whole LAN: exposed
        ({"range": ["10.0.3.1", "10.0.3.5"]}, "accept"),
        ({"range": ["10.0.3.3", "10.0.3.5"]}, "drop"),
    ],
)
def test_source_sets_prefixes_and_ranges(right, peer_verdict):
    items = table(("input", base(), [[dport(PORT), saddr(right), ACCEPT], [dport(PORT), DROP]]))
    assert verdict(items, PEER) == peer_verdict


def test_port_sets_ranges_and_negation():
    drop_others = [[dport(PORT), saddr(HOST, "!="), DROP]]
    assert verdict(table(("input", base(), drop_others)), PEER) == "drop"
    assert verdict(table(("input", base(), drop_others)), HOST) == "accept"
    in_set = [[dport({"set": [22, PORT]}), saddr(HOST, "!="), DROP]]
    assert verdict(table(("input", base(), in_set)), PEER) == "drop"
    in_range = [[dport({"range": [11000, 12000]}), saddr(HOST, "!="), DROP]]
    assert verdict(table(("input", base(), in_range)), PEER) == "drop"


def test_established_first_does_not_admit_a_new_connection():
    items = table(
        (
            "input",
            base("drop"),
            [[ct_state("established", "related"), ACCEPT], [saddr(HOST), ACCEPT]],
        )
    )
    assert verdict(items, PEER) == "drop"
    assert fate(items, Packet(PEER, PORT)).why == "inet t/input: policy drop"
    assert verdict(items, HOST) == "accept"


def test_jump_return_and_goto():
    jumped = table(
        ("input", base(), [[{"jump": {"target": "ollama"}}], [dport(PORT), DROP]]),
        ("ollama", {}, [[saddr(HOST), ACCEPT], [RETURN]]),
    )
    assert verdict(jumped, HOST) == "accept"
    assert verdict(jumped, PEER) == "drop"  # returned, then the next rule drops it
    gone = table(
        ("input", base(), [[{"goto": {"target": "ollama"}}], [dport(PORT), DROP]]),
        ("ollama", {}, [[saddr(HOST), ACCEPT]]),
    )
    assert verdict(gone, PEER) == "accept"  # goto: the end of the chain is the base's policy


def test_every_base_chain_of_the_hook_runs_in_priority_order():
    late_drop = table(("guard", base(prio=10), [[dport(PORT), saddr(HOST, "!="), DROP]]), name="g")
    early_accept = table(("input", base(prio=-10), [[ACCEPT]]), name="filter")
    items = early_accept + late_drop  # an accept ends one base chain, not the hook
    assert verdict(items, PEER) == "drop"
    assert verdict(items, HOST) == "accept"
    assert fate(items, Packet(HOST, PORT)).why == "accepted by inet filter/input, inet g/guard"


def test_chains_of_other_hooks_and_families_are_not_input():
    output = table(("out", {**base(), "hook": "output"}, [[DROP]]))
    bridge = [{"chain": {"family": "bridge", "table": "b", "name": "i", **base("drop")}}]
    assert verdict(output + bridge, PEER) == "accept"


def test_counters_and_logs_are_not_matches():
    items = table(
        ("input", base(), [[dport(PORT), {"counter": {"packets": 0}}, {"log": {}}, DROP]])
    )
    assert verdict(items, PEER) == "drop"


def test_wildcard_interface_and_ipv6_fields():
    items = table(
        (
            "input",
            base(),
            [
                [meta("iifname", "eth*"), saddr("fd00::1", protocol="ip6"), ACCEPT],
                [meta("iifname", "eth*"), meta("l4proto", "tcp"), dport(PORT), DROP],
            ],
        )
    )
    assert verdict(items, PEER) == "drop"


def test_what_is_not_understood_is_unknown_and_named():
    items = table(
        ("input", base(), [[{"match": {"op": "==", "left": {"osf": {}}, "right": "x"}}, DROP]])
    )
    found = fate(items, Packet(PEER, PORT))
    assert found.verdict == "unknown"
    assert "rule 1 of t/input" in found.why
    odd_op = table(
        (
            "input",
            base(),
            [[{"match": {"op": "<", "left": {"meta": {"key": "l4proto"}}, "right": 1}}]],
        )
    )
    assert fate(odd_op, Packet(PEER, PORT)).verdict == "unknown"
    statement = table(("input", base(), [[{"queue": {"num": 1}}]]))
    assert "queue" in fate(statement, Packet(PEER, PORT)).why


def test_jumps_too_deep_are_unknown():
    items = table(("input", base(), [[{"jump": {"target": "input"}}]]))
    assert fate(items, Packet(PEER, PORT)).verdict == "unknown"


def test_read_ruleset_takes_nfts_json_or_nothing():
    text = json.dumps({"nftables": [{"metainfo": {"version": "1.0.6"}}, *GUARD, "junk"]})
    assert read_ruleset(text)[1:] == GUARD
    assert read_ruleset("Error: syntax error") == []
    assert read_ruleset("[1, 2]") == []

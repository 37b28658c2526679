"""Proxmox's firewall files: parsed as pve-firewall reads them, and one packet's fate."""

from __future__ import annotations

import pytest

from compliance.syntax.pve_firewall import GuestFirewall, parse

HOST, PEER, CT = "10.0.3.1", "10.0.3.2", "10.0.3.55"
ON = "[OPTIONS]\nenable: 1\n"


def guest(rules: str, options: str = "", cluster: str = ON, nic: bool = True) -> GuestFirewall:
    """CT 955's firewall with these [RULES] (and extra [OPTIONS] lines) under `cluster`."""
    text = f"{ON}{options}\n[RULES]\n{rules}"
    return GuestFirewall(parse(cluster), parse(text), "955.fw", nic)


def verdict(fw: GuestFirewall, saddr: str, dport: int = 11434) -> str:
    return fw.fate(saddr, CT, dport).verdict


def test_sections_options_rules_groups_sets_aliases():
    fw = parse(
        "# a comment line\n[OPTIONS]\nenable: 1\npolicy_in: REJECT # why\n"
        "[ALIASES]\nProxy 10.0.3.1 # the host\n"
        "[IPSET lan] # the bridge\n10.0.3.0/24\n!10.0.3.9\n"
        "[group web]\nIN HTTP(ACCEPT)\n"
        "[RULES]\n|IN DROP -p tcp\nIN ACCEPT -source proxy -dport 11434 -log nolog\n"
    )
    assert fw.options == {"enable": "1", "policy_in": "REJECT"}
    assert fw.aliases == {"proxy": "10.0.3.1"}
    assert fw.ipsets == {"lan": ("10.0.3.0/24", "!10.0.3.9")}
    assert fw.groups["web"][0].macro == "HTTP"
    first, second = fw.rules
    assert (first.enabled, first.line, first.text) == (False, 13, "IN DROP -p tcp")
    assert second.options == {"source": "proxy", "dport": "11434", "log": "nolog"}
    assert fw.enabled()
    assert not parse("").enabled()


@pytest.mark.parametrize(
    ("cluster", "options", "nic", "active", "why"),
    [
        (ON, "", True, True, ""),
        ("[OPTIONS]\nenable: 0\n", "", True, False, "cluster.fw has no `enable: 1`"),
        (ON, "enable: 0\n", True, False, "955.fw has no `enable: 1`"),
        (ON, "", False, False, "net0 has no firewall=1"),
    ],
)
def test_active_only_when_cluster_guest_and_nic_say_so(cluster, options, nic, active, why):
    fw = guest("", options, cluster, nic)
    assert fw.active() is active
    if why:
        assert fw.why_inactive() == why


def test_no_rule_matched_falls_to_policy_in_default_drop():
    fate = guest("").fate(HOST, CT, 11434)
    assert (fate.verdict, fate.why) == ("drop", "955.fw: policy_in DROP (no rule matched)")
    assert verdict(guest("", "policy_in: ACCEPT\n"), PEER) == "accept"
    assert verdict(guest("", "policy_in: REJECT\n"), PEER) == "drop"


def test_first_match_wins_and_names_the_rule():
    fw = guest(f"IN ACCEPT -source {HOST} -p tcp -dport 11434\nIN DROP -p tcp -dport 11434\n")
    assert fw.fate(HOST, CT, 11434).why == (
        f"955.fw line 5 `IN ACCEPT -source {HOST} -p tcp -dport 11434`"
    )
    assert verdict(fw, HOST) == "accept"
    assert verdict(fw, PEER) == "drop"


@pytest.mark.parametrize(
    ("rule", "peer"),
    [
        ("IN ACCEPT -p tcp -dport 11434", "accept"),
        ("IN ACCEPT -p 6 -dport 11000:12000", "accept"),
        ("IN ACCEPT -dport 80,11434", "accept"),
        ("IN ACCEPT -p udp -dport 11434", "drop"),
        ("IN ACCEPT -dport 22", "drop"),
        ("IN ACCEPT -i net1 -dport 11434", "drop"),
        ("IN ACCEPT -i net0", "accept"),
        ("OUT ACCEPT -dport 11434", "drop"),
        ("|IN ACCEPT -dport 11434", "drop"),
        ("IN SSH(ACCEPT)", "drop"),
        ("IN ACCEPT -source 10.0.3.0/24", "accept"),
        ("IN ACCEPT -source 10.0.3.1-10.0.3.9", "accept"),
        ("IN ACCEPT -source 10.0.3.100-10.0.3.200", "drop"),
        ("IN ACCEPT -source 192.168.0.5,10.0.3.2", "accept"),
        ("IN ACCEPT -dest 10.0.3.99", "drop"),
        ("IN ACCEPT -dest 10.0.3.55", "accept"),
        ("IN REJECT -dport 11434\nIN ACCEPT", "drop"),
    ],
)
def test_rule_matching(rule, peer):
    assert verdict(guest(rule + "\n"), PEER) == peer


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("IN Ollama(ACCEPT)", "IN Ollama(ACCEPT)"),
        ("IN ACCEPT -dport ollama", "-dport ollama"),
        ("IN ACCEPT -sport 4000", "option -sport"),
        ("IN ACCEPT -source", "not understood: -source"),
        ("IN ACCEPT -source +nosuchset", "+nosuchset"),
        ("IN ACCEPT -source nosuchalias", "nosuchalias"),
        ("IN ACCEPT -source 10.0.3.999", "10.0.3.999"),
        ("IN MAYBE", "not a rule"),
        ("GROUP", "GROUP without a name"),
        ("GROUP missing", "no such group in cluster.fw"),
    ],
)
def test_what_the_suite_cannot_read_is_unknown_and_named(rule, why):
    fate = guest(rule + "\n").fate(PEER, CT, 11434)
    assert fate.verdict == "unknown"
    assert why in fate.why


def test_aliases_and_ipsets_of_the_guest_and_the_cluster():
    cluster = f"{ON}[ALIASES]\nproxy {HOST}\nlan 10.0.3.0/24\n[IPSET odd]\n!10.0.3.2\n"
    fw = GuestFirewall(
        parse(cluster),
        parse(
            f"{ON}[IPSET mine]\nproxy\n[RULES]\nIN ACCEPT -source +mine -dport 11434\n"
            "IN DROP -source dc/lan -dport 11434\nIN ACCEPT -source +guest/odd\n"
        ),
        "955.fw",
        True,
    )
    assert verdict(fw, HOST) == "accept"  # the guest's set, through the cluster's alias
    assert verdict(fw, PEER) == "drop"  # dc/lan: the cluster's alias
    assert fw.fate(PEER, CT, 22).verdict == "unknown"  # a set with exclusions is not judged


def test_groups_expand_in_place_with_the_callers_interface():
    cluster = f"{ON}[group ollama]\nIN ACCEPT -source {HOST} -dport 11434\nIN DROP -dport 11434\n"
    fw = guest("GROUP ollama -i net0\nIN ACCEPT\n", cluster=cluster)
    assert verdict(fw, HOST) == "accept"
    assert fw.fate(PEER, CT, 11434).why == "cluster.fw line 5 `IN DROP -dport 11434`"
    assert verdict(guest("GROUP ollama -i net1\nIN ACCEPT\n", cluster=cluster), PEER) == "accept"
    assert verdict(guest("|GROUP ollama\n", cluster=cluster), PEER) == "drop"


def test_the_clusters_blacklist_drops_first():
    cluster = f"{ON}[IPSET blacklist]\n{PEER}\n"
    fw = guest("IN ACCEPT\n", cluster=cluster)
    assert fw.fate(PEER, CT, 11434).why == "cluster.fw [IPSET blacklist] lists it"
    assert verdict(fw, HOST) == "accept"


def test_unresolvable_names_and_stray_lines_are_unknown_or_ignored():
    cluster = f"stray line before any section\n{ON}[ALIASES]\nbad not-an-address\n"
    fw = GuestFirewall(
        parse(cluster),
        parse(f"{ON}[IPSET set]\nnosuchalias\n[RULES]\nIN ACCEPT -source +set\n"),
        "955.fw",
        True,
    )
    assert verdict(fw, PEER) == "unknown"
    assert verdict(guest("IN ACCEPT -source bad\n", cluster=cluster), PEER) == "unknown"

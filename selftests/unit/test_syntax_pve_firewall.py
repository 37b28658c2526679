"""Proxmox's firewall files read as pve-firewall reads them, judged for every source at once."""

from __future__ import annotations

import pytest

from compliance.syntax.pve_firewall import GuestFirewall, parse
from compliance.syntax.sources import ACCEPT, DROP, UNKNOWN, Sources

HOST, PEER, CT = "10.0.3.1", "10.0.3.2", "10.0.3.55"
CT6 = "fd00::55"
ON = "[OPTIONS]\nenable: 1\n"


def guest(rules: str, options: str = "", cluster: str = ON, nic: bool = True) -> GuestFirewall:
    """CT 955's firewall with these [RULES] (and extra [OPTIONS] lines) under `cluster`."""
    return GuestFirewall.of(cluster, f"{ON}{options}\n[RULES]\n{rules}", "955.fw", nic)


def verdict(fw: GuestFirewall, saddr: str, dport: int = 11434) -> str:
    return fw.fate(saddr, CT6 if ":" in saddr else CT, dport).verdict


def test_sections_options_rules_groups_sets_aliases():
    fw = parse(
        "# a comment line\n[OPTIONS]\nenable: 1\npolicy_in: reject\n"
        "[ALIASES]\nProxy 10.0.3.1 # the host\n"
        "[IPSET lan] # the bridge\n10.0.3.0/24\n!10.0.3.9\n"
        "[group web]\nIN HTTP(ACCEPT)\n"
        "[RULES]\n|IN DROP -p tcp\nIN ACCEPT -source proxy -p tcp -dport 11434 -log nolog\n"
    )
    assert fw.options == {"enable": "1", "policy_in": "REJECT"}
    assert fw.aliases["proxy"].cidr == "10.0.3.1"
    assert [(e.cidr, e.nomatch) for e in fw.ipsets["lan"]] == [
        ("10.0.3.0/24", False),
        ("10.0.3.9", True),
    ]
    assert fw.groups["web"][0].macro == "HTTP"
    first, second = fw.rules
    assert (first.enabled, first.line, first.text) == (False, 13, "IN DROP -p tcp")
    assert (second.source, second.dport, second.errors) == ("proxy", "11434", ())
    assert fw.enabled()
    assert not parse("").enabled()


@pytest.mark.parametrize(
    ("cluster", "options", "nic", "active", "why"),
    [
        (ON, "", True, True, ""),
        ("[OPTIONS]\nenable: 0\n", "", True, False, "cluster.fw has no `enable: 1`"),
        (ON, "enable: 0\n", True, False, "955.fw has no `enable: 1`"),
        (ON, "", False, False, "net0 has no firewall=1"),
        (
            "[OPTIONS]\nenable: 1 # on\n",
            "",
            True,
            False,
            "cluster.fw line 2 `enable: 1 # on` skipped by pve-firewall: can't parse option",
        ),
        ("[OPTIONS]\nenable: 1700000000\n", "", True, False, "cluster.fw has no `enable: 1`"),
    ],
)
def test_active_only_when_cluster_guest_and_nic_say_so(cluster, options, nic, active, why):
    fw = guest("", options, cluster, nic)
    assert fw.active() is active
    if why:
        assert fw.why_inactive() == why


def test_an_option_with_a_comment_is_not_read_so_the_guests_firewall_is_off():
    fw = GuestFirewall.of(ON, "[OPTIONS]\nenable: 1 # on\n[RULES]\nIN DROP\n", "955.fw", True)
    assert not fw.active()
    assert verdict(fw, PEER) == ACCEPT
    assert "955.fw line 2 `enable: 1 # on` skipped by pve-firewall" in fw.fate(PEER, CT, 1).why
    assert GuestFirewall.of(ON, "", "955.fw", True).why_inactive() == "955.fw is missing or empty"


def test_no_rule_matched_falls_to_policy_in_default_drop():
    fate = guest("").fate(HOST, CT, 11434)
    assert (fate.verdict, fate.why) == (DROP, "955.fw: policy_in DROP (no rule matched)")
    assert verdict(guest("", "policy_in: ACCEPT\n"), PEER) == ACCEPT
    assert verdict(guest("", "policy_in: REJECT\n"), PEER) == DROP


def test_first_match_wins_and_names_the_rule():
    fw = guest(f"IN ACCEPT -source {HOST} -p tcp -dport 11434\nIN DROP -p tcp -dport 11434\n")
    assert fw.fate(HOST, CT, 11434).why == (
        f"955.fw line 5 `IN ACCEPT -source {HOST} -p tcp -dport 11434`"
    )
    assert verdict(fw, HOST) == ACCEPT
    assert verdict(fw, PEER) == DROP


@pytest.mark.parametrize(
    ("rule", "peer"),
    [
        ("IN ACCEPT -p tcp -dport 11434", ACCEPT),
        ("IN ACCEPT -p 6 -dport 11000:12000", ACCEPT),
        ("IN ACCEPT -p tcp -dport 80,11434", ACCEPT),
        ("IN ACCEPT -p udp -dport 11434", DROP),
        ("IN ACCEPT -p tcp -dport 22", DROP),
        ("IN ACCEPT -i net1 -p tcp -dport 11434", DROP),
        ("IN ACCEPT -i net0", ACCEPT),
        ("in ACCEPT -i net0", ACCEPT),  # the type is read in any case
        ("OUT ACCEPT -p tcp -dport 11434", DROP),
        ("|IN ACCEPT -p tcp -dport 11434", DROP),
        ("IN SSH(ACCEPT)", DROP),
        ("IN ssh(ACCEPT) -dport 11434", DROP),  # a port beside a macro's: refused
        ("IN PMG(ACCEPT)", DROP),
        ("IN ACCEPT -source 10.0.3.0/24", ACCEPT),
        ("IN ACCEPT -source 10.0.3.1-10.0.3.9", ACCEPT),
        ("IN ACCEPT -source 10.0.3.100-10.0.3.200", DROP),
        ("IN ACCEPT -source 192.168.0.5,10.0.3.2", ACCEPT),
        ("IN ACCEPT -dest 10.0.3.99", DROP),
        ("IN ACCEPT -dest 10.0.3.55", ACCEPT),
        ("IN REJECT -p tcp -dport 11434\nIN ACCEPT", DROP),
        ("IN ACCEPT -p tcp -sport 4000", ACCEPT),  # a client picks that source port
        ("IN DROP -p tcp -sport 4000\nIN ACCEPT", ACCEPT),  # and steps around this one
    ],
)
def test_rule_matching(rule, peer):
    assert verdict(guest(rule + "\n"), PEER) == peer


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("IN drop -p tcp -dport 11434", "unknown action 'drop'"),
        ("IN ACCEPT -dport 11434", "-dport needs -p"),
        ("IN ACCEPT -p TCP -dport 11434", "unknown protocol 'TCP'"),
        ("IN ACCEPT -p tcp -dport 70000", "invalid port '70000'"),
        ("IN ACCEPT -p tcp -dport 12000:11000", "backwards range"),
        ("IN ACCEPT -p tcp -dport 11434,", "extraneous commas"),
        ("IN ACCEPT -p  tcp -dport 11434", "unable to parse rule parameters"),
        ("IN ACCEPT -i eth0", "-i must be netN"),
        ("IN ACCEPT -source 10.0.3.5/24", "invalid prefix (host bits set)"),
        ("IN ACCEPT -source 10.0.3.999", "invalid quad"),
        ("IN ACCEPT -source 10.0.3.9-10.0.3.1", "begin address is greater"),
        ("IN ACCEPT -source 10.0.3.1,fd00::1", "mixed ipv4/ipv6"),
        ("IN ACCEPT -source 10.0.3.1-10.0.3.3,10.0.3.9", "range in a list"),
        ("IN ACCEPT -source nosuchalias", "no such alias 'nosuchalias'"),
        ("IN ACCEPT -p icmp -sport 11434", "does not support ports"),
        ("IN ACCEPT -icmp-type echo-request", "needs an ICMP -p"),
        ("IN ACCEPT -source", "unable to parse rule parameters"),
        ("IN MAYBE", "unknown action"),
        ("IN", "unable to parse rule"),
        ("GROUP", "unable to parse rule"),
        ("GROUP 1x", "invalid characters in security group name"),
    ],
)
def test_what_pve_firewall_refuses_is_skipped_and_said(rule, why):
    fw = guest(rule + "\nIN ACCEPT\n")
    assert verdict(fw, PEER) == ACCEPT  # the line after it decides
    notes = fw.skipped()
    assert any("955.fw line 5" in note and why in note for note in notes), notes


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("IN Ollama(ACCEPT)", "macro Ollama is not one pve-firewall 6.0 ships"),
        ("IN ACCEPT -p tcp -dport ollama", "/etc/services"),
        ("IN DROP -source +nosuchset", "only for an SDN IP set"),
        ("IN DROP -source +sdn/vnet-all", "only for an SDN IP set"),
        ("IN DROP -source 010.0.3.2", "Net::IP"),
    ],
)
def test_what_the_suite_cannot_know_is_unknown_and_named(rule, why):
    fate = guest(rule + "\nIN ACCEPT\n").fate(PEER, CT, 11434)
    assert fate.verdict == UNKNOWN
    assert why in fate.why
    assert "955.fw line 5" in fate.why


def test_one_sampled_source_does_not_decide_every_source_is_judged():
    """The review's false pass: a drop of a /30 and an accept after it. The LAN client
    10.0.3.2 is dropped, yet 10.0.3.4 and everyone else get through."""
    fw = guest(
        f"IN ACCEPT -source {HOST} -p tcp -dport 11434\n"
        "IN DROP -source 10.0.3.0/30 -p tcp -dport 11434\nIN ACCEPT -p tcp -dport 11434\n"
    )
    judgement = fw.judge(4, CT, 11434)
    assert judgement.fate(PEER)[0] == DROP
    open_to = judgement.with_outcome(ACCEPT)
    assert all(address in open_to for address in (HOST, "10.0.3.4", "8.8.8.8"))
    assert str(judgement.with_outcome(DROP)) == "10.0.3.0/32, 10.0.3.2/31"
    assert judgement.fate("10.0.3.4")[1] == "955.fw line 7 `IN ACCEPT -p tcp -dport 11434`"


def test_families_are_judged_apart():
    """An IPv4 -source never matches IPv6 (the rule is not in the IPv6 chain), a rule without
    addresses is in both, and so is one with an IP set (each family its own entries)."""
    fw = guest(
        f"IN ACCEPT -source {HOST} -p tcp -dport 11434\nIN DROP -source 10.0.0.0/8\n"
        "IN DROP -source +both\nIN ACCEPT\n",
        cluster=f"{ON}[IPSET both]\n192.168.0.0/16\nfd00::/64\n",
    )
    v6 = fw.judge(6, CT6, 11434)
    assert v6.fate("fd00::9")[0] == DROP
    assert v6.fate("2001:db8::1") == (ACCEPT, "955.fw line 8 `IN ACCEPT`")
    v4 = fw.judge(4, CT, 11434)
    assert v4.fate("192.168.1.1")[0] == DROP
    assert v4.fate("172.16.0.1")[0] == ACCEPT
    with pytest.raises(ValueError, match="not an IPv6 address"):
        fw.judge(6, CT, 11434)


def test_ipsets_exclusions_and_refused_entries():
    """`!` excludes (the longest matching prefix decides); a /0 entry is refused by
    pve-firewall, so the set does not hold everyone."""
    cluster = f"{ON}[IPSET lan]\n10.0.3.0/24\n!10.0.3.0/28\n10.0.3.2\n0.0.0.0/0\n"
    fw = guest("IN DROP -source +lan\nIN ACCEPT -p tcp\n", cluster=cluster)
    judgement = fw.judge(4, CT, 11434)
    assert judgement.fate("10.0.3.200")[0] == DROP
    assert judgement.fate("10.0.3.5")[0] == ACCEPT  # excluded by !10.0.3.0/28
    assert judgement.fate(PEER)[0] == DROP  # 10.0.3.2: a /32 beats the /28 exclusion
    assert judgement.fate("8.8.8.8")[0] == ACCEPT  # 0.0.0.0/0 was refused
    assert any(
        "`0.0.0.0/0` skipped by pve-firewall: a zero prefix" in note for note in fw.skipped()
    )


def test_ipset_and_alias_scopes():
    """A guest's `+name` and alias resolve in its own file first, then the cluster's; `dc/`
    names the cluster's only, `guest/` the guest's only; a security group sees the cluster's
    only; an IP set or alias a rule names must be defined above it in the guest's file."""
    cluster = (
        f"{ON}[ALIASES]\nproxy 10.0.3.9\nlan 10.0.3.0/24\n"
        "[IPSET trusted]\n10.0.3.9\n[group gg]\nIN ACCEPT -source +trusted -p tcp\n"
    )
    own = (
        f"{ON}[ALIASES]\nproxy {HOST}\n[IPSET trusted]\n{HOST}\n[RULES]\n"
        "GROUP gg\n"  # the cluster's set: 10.0.3.9
        "IN ACCEPT -source dc/proxy -p tcp\n"  # the cluster's alias: 10.0.3.9 too
        "IN DROP -source guest/lan\n"  # no guest alias lan: left out at compile time
        "IN ACCEPT -source +trusted -p tcp -dport 11434\n"  # the guest's set: the host
        "IN DROP -source lan\n"
        "IN ACCEPT\n"
    )
    fw = GuestFirewall.of(cluster, own, "955.fw", True)
    judgement = fw.judge(4, CT, 11434)
    assert judgement.fate("10.0.3.9")[1] == (
        "cluster.fw line 9 `IN ACCEPT -source +trusted -p tcp` (group gg, called at 955.fw line 8)"
    )
    assert (
        judgement.fate(HOST)[1] == "955.fw line 11 `IN ACCEPT -source +trusted -p tcp -dport 11434`"
    )
    assert judgement.fate(PEER)[1] == "955.fw line 12 `IN DROP -source lan`"
    assert any("guest/lan" in note and "no such alias" in note for note in fw.skipped())
    below = GuestFirewall.of(ON, f"{ON}[RULES]\nIN DROP -source +late\n[IPSET late]\n{PEER}\n",
                             "955.fw", True)  # fmt: skip
    assert below.fate(PEER, CT, 11434).verdict == UNKNOWN  # not there for the rule


def test_groups_expand_in_place_with_the_callers_interface():
    cluster = (
        f"{ON}[group ollama]\nIN ACCEPT -source {HOST} -p tcp -dport 11434\n"
        "IN DROP -p tcp -dport 11434\n"
    )
    fw = guest("GROUP ollama -i net0\nIN ACCEPT\n", cluster=cluster)
    assert verdict(fw, HOST) == ACCEPT
    assert fw.fate(PEER, CT, 11434).why == (
        "cluster.fw line 5 `IN DROP -p tcp -dport 11434` (group ollama, called at 955.fw line 5)"
    )
    assert verdict(guest("GROUP ollama -i net1\nIN ACCEPT\n", cluster=cluster), PEER) == ACCEPT
    assert verdict(guest("|GROUP ollama\n", cluster=cluster), PEER) == DROP
    upper = guest("GROUP Ollama\nIN ACCEPT\n", cluster=cluster)  # looked up as written
    assert verdict(upper, PEER) == ACCEPT
    assert any("no security group 'Ollama'" in note for note in upper.skipped())


def test_the_clusters_blacklist_drops_first_even_with_the_guests_file_off():
    cluster = f"{ON}[IPSET blacklist]\n{PEER}\n"
    fw = guest("IN ACCEPT\n", cluster=cluster)
    assert fw.fate(PEER, CT, 11434).why == "cluster.fw [IPSET blacklist] lists it"
    assert verdict(fw, HOST) == ACCEPT
    off = GuestFirewall.of(cluster, "[OPTIONS]\nenable: 0\n", "955.fw", True)
    assert verdict(off, PEER) == DROP
    assert verdict(off, HOST) == ACCEPT


def test_ipset_entries_as_pve_firewall_keys_them():
    """A repeated text is refused (with or without `!`); two texts that are one network to
    the kernel make `ipset restore` fail: that set is not known."""
    refused = guest(
        "IN DROP -source +ss\nIN ACCEPT\n", cluster=f"{ON}[IPSET ss]\n{PEER}\n!{PEER}\n"
    )
    assert verdict(refused, PEER) == DROP
    assert any("duplicate ipset entry" in note for note in refused.skipped())
    clash = guest(
        "IN DROP -source +ss\nIN ACCEPT\n", cluster=f"{ON}[IPSET ss]\n10.0.3.5/24\n10.0.3.0/24\n"
    )
    assert verdict(clash, PEER) == UNKNOWN


def test_the_management_set_holds_the_local_network_the_suite_may_not_know():
    cluster = f"{ON}[IPSET management]\n{HOST}\n"
    fw = guest("IN ACCEPT -source +management -p tcp\n", cluster=cluster)
    assert verdict(fw, HOST) == ACCEPT
    assert verdict(fw, PEER) == UNKNOWN
    named = guest(
        "IN ACCEPT -source +management -p tcp\n",
        cluster=f"{ON}[ALIASES]\nlocal_network 192.168.9.0/24\n[IPSET management]\n{HOST}\n",
    )
    assert verdict(named, "192.168.9.4") == ACCEPT
    assert verdict(named, PEER) == DROP


def test_sources_of_a_judgement_cover_the_family():
    judgement = guest("IN ACCEPT -source 10.0.3.0/24 -p tcp\n").judge(4, CT, 11434)
    covered = Sources.nothing(4)
    for region in judgement.regions:
        assert not covered & region.sources
        covered = covered | region.sources
    assert covered == Sources.everything(4)

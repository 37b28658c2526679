"""Network and Proxmox facts: ss listeners, `ip -4 -o addr`, pct config/status/net0, the
host's init and a client's view from a netns: output in, typed value out."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Interface

import pytest

from compliance.facts import Scope
from compliance.facts.net import (
    CtAddresses,
    CtInterfaces,
    HostAddresses,
    Listener,
    Listeners,
    ReachFromNetns,
    ipv4_interfaces,
    ss_listeners,
)
from compliance.facts.proxmox import CtStatus, HostInit, PctConfig
from selftests.unit import samples

SCOPE = samples.default_scope()


@pytest.mark.parametrize(
    ("line", "address", "pids", "everywhere", "stacks"),
    [
        (samples.SS_DUAL, "*", (2231,), True, "dual"),
        (samples.SS_V4, "0.0.0.0", (2231,), True, "ipv4"),
        (samples.SS_V6, "[::]", (2231,), True, "ipv6"),
        (samples.SS_LO4, "127.0.0.1", (2231,), False, "one address"),
        (samples.SS_LO6, "[::1]", (2231,), False, "one address"),
        (samples.SS_LO6_SCOPED, "[::1]", (2231,), False, "one address"),
        (samples.SS_NO_PROCESS, "*", (), True, "dual"),
    ],
    ids=["star", "v4-any", "v6-any", "v4-loopback", "v6-loopback", "scoped-lo", "no-users"],
)
def test_ss_listener_on_11434(line, address, pids, everywhere, stacks):
    (listener,) = ss_listeners(line)
    assert listener == Listener(address, 11434, pids)
    assert listener.all_interfaces is everywhere
    assert listener.stacks == stacks
    assert Listeners.parse(0, line).items == (listener,)


def test_ss_several_sockets_and_scopes():
    text = "\n".join([samples.SS_RESOLVED, samples.SS_SSHD, samples.SS_DUAL, ""])
    found = ss_listeners(text)
    assert found == [
        Listener("127.0.0.53", 53, (412,)),  # %lo scope dropped
        Listener("0.0.0.0", 22, (601, 2990)),  # every pid of a shared socket
        Listener("*", 11434, (2231,)),
    ]
    # The fact keeps the plan's port only (the filter is ss's, the parse holds to it too).
    assert Listeners.parse(0, text).items == (Listener("*", 11434, (2231,)),)


def test_ss_dual_stack_pair():
    text = samples.SS_V4 + "\n" + samples.SS_V6 + "\n"
    assert [item.stacks for item in Listeners.parse(0, text).items] == ["ipv4", "ipv6"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process",
        "ESTAB  0      0          10.0.3.55:11434     10.0.3.1:50522",
        "LISTEN 0 4096",
        "LISTEN 0      4096      /run/x.sock:-           *:*",
    ],
    ids=["empty", "header", "established", "short", "no-port"],
)
def test_ss_ignores_what_is_not_a_tcp_listener(text):
    assert ss_listeners(text) == []
    assert Listeners.parse(0, text).items == ()


def test_listeners_command_filters_the_plans_port():
    assert Listeners.command(SCOPE) == "ss -H -tlnp 'sport = :11434'"


# -- pct config / status ---------------------------------------------------------------------


def test_pct_config_as_dict():
    config = PctConfig.parse(0, samples.PCT_CONFIG)
    assert config.get("net0") == samples.NET0_STATIC
    assert config.get("hostname") == "ollama"
    assert config.get("onboot") == "1"
    assert config.get("lxc.cgroup2.devices.allow") == "c 195:* rwm"  # value keeps its ':'
    assert len(config.values) == 12
    assert config.get("nope", "default") == "default"


def test_pct_config_skips_comments_and_blank_lines():
    text = "#Ollama%20LXC%3A llama models\n\narch: amd64\nnet0: " + samples.NET0_DHCP + "\n"
    assert PctConfig.parse(0, text).values == {"arch": "amd64", "net0": samples.NET0_DHCP}


@pytest.mark.parametrize(
    ("value", "expected_ip", "static"),
    [
        (samples.NET0_STATIC, "10.0.3.55/24", "10.0.3.55"),
        (samples.NET0_DHCP, "dhcp", None),
        ("name=eth0,bridge=vmbr0,ip=manual,type=veth", "manual", None),
        ("name=eth0,bridge=vmbr0,ip6=auto,type=veth", None, None),
        ("name=eth0,bridge=vmbr0,ip=10.0.3.55,type=veth", "10.0.3.55", "10.0.3.55"),
        ("name=eth0,bridge=vmbr0,ip=10.0.3.355/24,type=veth", "10.0.3.355/24", None),
        ("", None, None),
    ],
    ids=["static", "dhcp", "manual", "ipv6-only", "no-prefix", "bad-ip", "empty"],
)
def test_net0_and_static_ipv4(value, expected_ip, static):
    config = PctConfig({"net0": value} if value else {})
    assert config.net0.get("ip") == expected_ip
    assert config.static_ipv4 == static


def test_net0_fields():
    assert PctConfig({"net0": samples.NET0_STATIC}).net0 == {
        "name": "eth0",
        "bridge": "vmbr0",
        "hwaddr": "BC:24:11:2A:3B:4C",
        "ip": "10.0.3.55/24",
        "gw": "10.0.3.1",
        "type": "veth",
    }


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("status: running\n", "running"),
        ("status: stopped\n", "stopped"),
        ("status: running", "running"),
        ("Configuration file 'nodes/pve/lxc/999.conf' does not exist\n", ""),
        ("", ""),
    ],
)
def test_pct_status(text, status):
    fact = CtStatus.parse(0, text)
    assert fact.status == status
    assert fact.running is (status == "running")


def test_pct_commands_follow_the_transport():
    assert CtStatus.command(SCOPE) == "pct status 955"
    assert PctConfig.command(SCOPE) == "pct config 955"
    plain = Scope(replace(SCOPE.settings, transport="lxc-attach"), SCOPE.site)
    assert CtStatus.command(plain) == "echo status: $(lxc-info -n 955 -sH | tr A-Z a-z)"
    assert PctConfig.command(plain) == "true"  # a plain LXC host has no pct config


@pytest.mark.parametrize(("text", "kind"), [("systemd\n", "systemd"), ("sysv\n", "sysv")])
def test_host_init(text, kind):
    assert HostInit.parse(0, text).kind == kind


# -- ip -4 -o addr -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            samples.IP_ADDR,
            [("eth0", "10.0.3.55"), ("eth0", "10.0.3.56"), ("eth1", "192.168.50.7")],
        ),
        ("", []),
        (
            "2: eth0@if17    inet6 fd00::55/64 scope global \\       valid_lft forever\n",
            [],
        ),
        ("container '955' not running!\n", []),
    ],
    ids=["three", "empty", "ipv6-only", "stopped"],
)
def test_ipv4_addresses(text, expected):
    assert list(CtAddresses.parse(0, text).items) == expected


def test_host_interfaces_keep_their_prefix():
    text = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
        "4: vmbr0    inet 10.0.0.2/24 scope global vmbr0\\       valid_lft forever\n"
        "5: vmbr1    inet 10.0.3.1/24 scope global vmbr1\\       valid_lft forever\n"
    )
    assert HostAddresses.parse(0, text).items == (
        ("lo", IPv4Interface("127.0.0.1/8")),
        ("vmbr0", IPv4Interface("10.0.0.2/24")),
        ("vmbr1", IPv4Interface("10.0.3.1/24")),
    )
    assert ipv4_interfaces(samples.IP_ADDR)[0] == ("eth0", IPv4Interface("10.0.3.55/24"))


def test_address_commands():
    assert CtAddresses.command(SCOPE) == "ip -4 -o addr show scope global"
    assert HostAddresses.command(SCOPE) == "ip -o addr show"
    assert CtInterfaces.command(SCOPE) == "ip -o addr show"


def test_ct_interfaces_are_both_families_but_the_loopback():
    text = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
        "1: lo    inet6 ::1/128 scope host \\       valid_lft forever\n"
        "2: eth0    inet 10.0.3.55/24 brd 10.0.3.255 scope global eth0\\       valid_lft x\n"
        "2: eth0    inet6 fd00:3::55/64 scope global \\       valid_lft forever\n"
        "2: eth0    inet6 fe80::216:3eff:fe59:7d60/64 scope link \\       valid_lft forever\n"
    )
    assert [(name, str(address)) for name, address in CtInterfaces.parse(0, text).items] == [
        ("eth0", "10.0.3.55/24"),
        ("eth0", "fd00:3::55/64"),
        ("eth0", "fe80::216:3eff:fe59:7d60/64"),
    ]


# -- a client on the LAN, from a network namespace on the host -------------------------------


LINK_UP = "@@vantage lan0\n@@route ok\n"
REACHED = "@@neigh 10.0.3.55 lladdr 00:16:3e:59:7d:60 REACHABLE\n"


@pytest.mark.parametrize(
    ("output", "outcome", "words"),
    [
        (LINK_UP + "@@connect 0\n" + REACHED, "open", "it accepted a TCP connection"),
        (
            LINK_UP + "@@connect 1 try: line 1: /dev/tcp/10.0.3.55/11434: Connection refused\n",
            "closed",
            "the connection was refused",
        ),
        (LINK_UP + "@@connect 124\n" + REACHED, "closed", "dropped"),
        (
            LINK_UP + "@@connect 124\n@@neigh 10.0.3.55 INCOMPLETE\n",
            "not judged",
            "never answered ARP/ND from the vantage (INCOMPLETE)",
        ),
        (LINK_UP + "@@connect 124\n@@neigh\n", "not judged", "(no neighbour entry)"),
        (
            LINK_UP + "@@connect 1 try: line 1: /dev/tcp/10.0.3.55/11434: No route to host\n"
            "@@neigh 10.0.3.55 FAILED\n",
            "not judged",
            "never answered ARP/ND",
        ),
        (
            LINK_UP
            + "@@connect 1 try: line 1: /dev/tcp/10.0.3.55/11434: No route to host\n"
            + REACHED,
            "closed",
            "refused on the CT's link (No route to host)",
        ),
        (
            LINK_UP + "@@connect 1 Network is unreachable\n",
            "not judged",
            "the network is unreachable from the vantage",
        ),
        (
            "@@vantage lan0\n@@route RTNETLINK answers: Network is unreachable\n@@connect 124\n",
            "not judged",
            "no route to the CT from the vantage (RTNETLINK answers: Network is unreachable)",
        ),
        (
            "@@no-vantage network namespace lan does not exist on the host\n",
            "not judged",
            "the vantage cannot be used: network namespace lan does not exist on the host",
        ),
        ("", "not judged", "no route to the CT from the vantage (unknown)"),
        ("@@vantage lan0\n@@route ok\n", "not judged", "the try did not run"),
        ("@@vantage x\n@@connect 0\n", "open", "it accepted"),  # accepted: route unasked
    ],
    ids=[
        "accepted",
        "refused",
        "dropped on a live link",
        "arp unanswered",
        "no neighbour entry",
        "no route to host, arp failed",
        "icmp unreachable from the ct's link",
        "network unreachable",
        "no route",
        "no namespace",
        "nothing printed",
        "no connect line",
        "connected without a route line",
    ],
)
def test_what_a_live_try_proves(output, outcome, words):
    """Only a try that happened counts: an answer is open; a refusal, or silence while the CT
    answers on the link, is closed; anything else proves nothing."""
    said, why = ReachFromNetns.parse(0, output).seen.outcome()
    assert said == outcome
    assert words in why


def test_reach_from_netns_quotes_its_arguments():
    command = ReachFromNetns.command(SCOPE, "lan client", "10.0.3.55; reboot")
    assert "ns='lan client'; addr='10.0.3.55; reboot'; port=11434" in command

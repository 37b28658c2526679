"""ss listeners, pct config/status, net0 and `ip -4 -o addr`: facts in, values out."""

from __future__ import annotations

import pytest

from compliance import parsers
from compliance.parsers import Listener
from selftests.unit import samples


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
    (listener,) = parsers.ss_listeners(line)
    assert listener == Listener(address, 11434, pids)
    assert listener.all_interfaces is everywhere
    assert listener.stacks == stacks


def test_ss_several_sockets_and_scopes():
    text = "\n".join([samples.SS_RESOLVED, samples.SS_SSHD, samples.SS_DUAL, ""])
    found = parsers.ss_listeners(text)
    assert found == [
        Listener("127.0.0.53", 53, (412,)),  # %lo scope dropped
        Listener("0.0.0.0", 22, (601, 2990)),  # every pid of a shared socket
        Listener("*", 11434, (2231,)),
    ]


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
    assert parsers.ss_listeners(text) == []


def test_pct_config_as_dict():
    config = parsers.pct_config(samples.PCT_CONFIG)
    assert config["net0"] == samples.NET0_STATIC
    assert config["hostname"] == "ollama"
    assert config["onboot"] == "1"
    assert config["lxc.cgroup2.devices.allow"] == "c 195:* rwm"  # value keeps its ':'
    assert len(config) == 12


def test_pct_config_skips_comments_and_blank_lines():
    text = "#Ollama%20LXC%3A llama models\n\narch: amd64\nnet0: " + samples.NET0_DHCP + "\n"
    assert parsers.pct_config(text) == {"arch": "amd64", "net0": samples.NET0_DHCP}


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
    net = parsers.net0(value)
    assert net.get("ip") == expected_ip
    assert parsers.static_ipv4(net) == static


def test_net0_fields():
    net = parsers.net0(samples.NET0_STATIC)
    assert net == {
        "name": "eth0",
        "bridge": "vmbr0",
        "hwaddr": "BC:24:11:2A:3B:4C",
        "ip": "10.0.3.55/24",
        "gw": "10.0.3.1",
        "type": "veth",
    }


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
    assert parsers.ipv4_addresses(text) == expected


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
    assert parsers.pct_status(text) == status

"""systemctl show, ExecStart, Environment, timespans and OLLAMA_HOST: facts in, values out."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import ipaddress
from pathlib import Path

import pytest

from compliance import parsers
from selftests.unit import samples


def test_systemctl_show_reads_every_property():
    props = parsers.systemctl_show(samples.UNIT_SHOW)
    assert props["LoadState"] == "loaded"
    assert props["ExecStart"] == samples.EXEC_START_RUNNING  # split on the first '=' only
    assert props["Environment"].startswith("OLLAMA_HOST=0.0.0.0:11434 ")
    assert props["RestartUSec"] == "3s"
    assert props["MainPID"] == "2231"
    assert props["DropInPaths"] == ""
    assert props["Now"] == "@1762102500"
    assert len(props) == 18


def test_systemctl_show_skips_the_stale_unit_warning():
    props = parsers.systemctl_show(samples.UNIT_SHOW_STALE)
    assert not any(key.startswith("Warning") for key in props)
    assert props["NeedDaemonReload"] == "yes"
    assert props["SubState"] == "auto-restart"
    assert props["NRestarts"] == "17"


def test_systemctl_show_keeps_the_first_value_of_a_repeated_key():
    assert parsers.systemctl_show("MainPID=10\nMainPID=20\n") == {"MainPID": "10"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("no equals sign here\n=orphan value\n", {}),
        ("User=\n", {"User": ""}),
    ],
)
def test_systemctl_show_edge_lines(text, expected):
    assert parsers.systemctl_show(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (samples.EXEC_START_IDLE, ("/usr/local/bin/ollama", "/usr/local/bin/ollama serve")),
        (samples.EXEC_START_RUNNING, ("/usr/local/bin/ollama", "/usr/local/bin/ollama serve")),
        (
            "{ path=/usr/bin/env ; argv[]=/usr/bin/env OLLAMA_HOST=0.0.0.0 /usr/local/bin/ollama "
            "serve ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; "
            "code=(null) ; status=0/0 }",
            ("/usr/bin/env", "/usr/bin/env OLLAMA_HOST=0.0.0.0 /usr/local/bin/ollama serve"),
        ),
        (
            "{ path=/usr/local/bin/ollama ; argv[]=/usr/local/bin/ollama ; ignore_errors=no ; "
            "start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }",
            ("/usr/local/bin/ollama", "/usr/local/bin/ollama"),
        ),
        ("", ("", "")),
    ],
    ids=["idle", "running", "env-wrapper", "no-serve", "absent"],
)
def test_exec_start_path(value, expected):
    assert parsers.exec_start_path(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", {}),
        ("OLLAMA_HOST=0.0.0.0:11434", {"OLLAMA_HOST": "0.0.0.0:11434"}),
        (
            'OLLAMA_HOST=0.0.0.0:11434 "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"',
            {
                "OLLAMA_HOST": "0.0.0.0:11434",
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
            },
        ),
        (
            '"OLLAMA_ORIGINS=http://a.example http://b.example" OLLAMA_HOST=0.0.0.0',
            {"OLLAMA_ORIGINS": "http://a.example http://b.example", "OLLAMA_HOST": "0.0.0.0"},
        ),
        ("OLLAMA_HOST=", {"OLLAMA_HOST": ""}),
        ("OLLAMA_HOST=127.0.0.1 OLLAMA_HOST=0.0.0.0:11434", {"OLLAMA_HOST": "0.0.0.0:11434"}),
        ("OLLAMA_DEBUG=1 junk", {"OLLAMA_DEBUG": "1"}),
    ],
    ids=["empty", "one", "quoted-path", "quoted-space", "empty-value", "later-wins", "junk"],
)
def test_environment(value, expected):
    assert parsers.environment(value) == expected


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3s", 3.0),
        ("100ms", 0.1),
        ("1min 30s", 90.0),
        ("2h", 7200.0),
        ("1h 1min 1s", 3661.0),
        ("500us", 0.0005),
        ("1.5s", 1.5),
        ("infinity", None),
        ("", None),
        ("[not set]", None),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("1d 3h", 97200.0, id="days"),
    ],
)
def test_timespan_seconds(value, seconds):
    assert parsers.timespan_seconds(value) == pytest.approx(seconds)


def _load_standin():
    path = Path(__file__).resolve().parents[2] / "lab" / "standin" / "ollama"
    loader = importlib.machinery.SourceFileLoader("ollama_standin", str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


STANDIN = _load_standin()


@pytest.mark.parametrize(
    ("value", "scheme", "host", "port", "everywhere"),
    [
        ("", "http", "127.0.0.1", 11434, False),
        ("0.0.0.0", "http", "0.0.0.0", 11434, True),
        ("0.0.0.0:11434", "http", "0.0.0.0", 11434, True),
        (":1234", "http", "", 1234, True),
        (":", "http", "", 11434, True),
        ("[::]", "http", "::", 11434, True),
        ("[::]:11434", "http", "::", 11434, True),
        ("::1", "http", "::1", 11434, False),
        ("[::1]", "http", "::1", 11434, False),
        ("[::1]:8080", "http", "::1", 8080, False),
        ("127.0.0.1:11434", "http", "127.0.0.1", 11434, False),
        ("10.0.3.55:11434", "http", "10.0.3.55", 11434, False),
        ("localhost", "http", "localhost", 11434, False),
        ("http://x", "http", "x", 80, False),
        ("https://x", "https", "x", 443, False),
        ("http://0.0.0.0:11434", "http", "0.0.0.0", 11434, True),
        ("http://0.0.0.0:11434/", "http", "0.0.0.0", 11434, True),
        ("http://[::]:11434/api", "http", "::", 11434, True),
        ("https://ollama.example.com:8443/x", "https", "ollama.example.com", 8443, False),
        ("http://", "http", "127.0.0.1", 80, False),
        ("tcp://0.0.0.0", "tcp", "0.0.0.0", 11434, True),
        ('"0.0.0.0:11434"', "http", "0.0.0.0", 11434, True),
        ("'0.0.0.0:11434'", "http", "0.0.0.0", 11434, True),
        ('  " 0.0.0.0:11434 "  ', "http", "0.0.0.0", 11434, True),
        ("0.0.0.0:99999", "http", "0.0.0.0", 11434, True),
        ("0.0.0.0:abc", "http", "0.0.0.0", 11434, True),
        ("0.0.0.0:-1", "http", "0.0.0.0", 11434, True),
        ("0.0.0.0:", "http", "0.0.0.0", 11434, True),
        ("127.0.0.1:0", "http", "127.0.0.1", 0, False),
        pytest.param("http://x:99999", "http", "x", 80, False, id="http-bad"),
        pytest.param("https://x:abc", "https", "x", 443, False, id="https-bad"),
        pytest.param("0:0:0:0:0:0:0:0", "http", "::", 11434, True, id="long-::"),
    ],
)
def test_ollama_host(value, scheme, host, port, everywhere):
    bound = parsers.ollama_host(value)
    assert (bound.scheme, bound.host, bound.port) == (scheme, host, port)
    assert bound.all_interfaces is everywhere
    # The lab's Ollama stand-in must bind where the suite thinks Ollama binds.
    standin = STANDIN.parse_ollama_host(value)
    assert (standin[0], standin[2]) == (scheme, port)
    assert standin[1] == host or ipaddress.ip_address(standin[1]) == ipaddress.ip_address(host)

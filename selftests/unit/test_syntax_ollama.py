"""compliance/syntax/ollama.py: OLLAMA_HOST read as Ollama reads it (and as the lab's
stand-in binds)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import ipaddress
from pathlib import Path

import pytest

from compliance.syntax import ollama


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
        # envconfig's own TestHost cases (config_test.go), in our words: a bare address or
        # name gets 11434; `:P` alone binds everywhere; :0 is a kernel-picked port; a port
        # past 65535 or below 0 falls back; IPv6 with or without brackets; spaces and either
        # kind of quotes around the value; http/https give 80/443 unless a port is written;
        # a path after the address is not part of it; bare ollama.com is https on 443.
        pytest.param("1.2.3.4", "http", "1.2.3.4", 11434, False, id="go-only-address"),
        pytest.param("1.2.3.4:1234", "http", "1.2.3.4", 1234, False, id="go-address-port"),
        pytest.param("example.com", "http", "example.com", 11434, False, id="go-hostname"),
        pytest.param("example.com:1234", "http", "example.com", 1234, False, id="go-name-port"),
        pytest.param(":0", "http", "", 0, True, id="go-zero-port"),
        pytest.param(":66000", "http", "", 11434, True, id="go-too-large-port"),
        pytest.param(":-1", "http", "", 11434, True, id="go-too-small-port"),
        pytest.param("[::1]:1337", "http", "::1", 1337, False, id="go-ipv6-port"),
        pytest.param(" 1.2.3.4 ", "http", "1.2.3.4", 11434, False, id="go-spaces"),
        pytest.param(' " 1.2.3.4 " ', "http", "1.2.3.4", 11434, False, id="go-spaces-quotes"),
        pytest.param("http://1.2.3.4:4321", "http", "1.2.3.4", 4321, False, id="go-http-port"),
        pytest.param("https://1.2.3.4", "https", "1.2.3.4", 443, False, id="go-https"),
        pytest.param(
            "https://example.com/ollama", "https", "example.com", 443, False, id="go-path"
        ),
        pytest.param("ollama.com", "https", "ollama.com", 443, False, id="go-ollama.com"),
        # Where our earlier reading differed from Go's (issue 26): an IPv4-mapped unspecified
        # address is everywhere (ParseIP prints it as 0.0.0.0; net.Listen treats it as a
        # wildcard), a signed port is ParseInt's (`+8080` is 8080, `-0` is 0), digits are ASCII
        # only, and a scheme Ollama does not know keeps 11434.
        pytest.param("::ffff:0.0.0.0", "http", "0.0.0.0", 11434, True, id="mapped-unspecified"),
        pytest.param(
            "[::ffff:0.0.0.0]:11434", "http", "::ffff:0.0.0.0", 11434, True, id="mapped-port"
        ),
        pytest.param("::ffff:127.0.0.1", "http", "127.0.0.1", 11434, False, id="mapped-lo"),
        pytest.param("0.0.0.0:+8080", "http", "0.0.0.0", 8080, True, id="plus-port"),
        pytest.param("0.0.0.0:+11434", "http", "0.0.0.0", 11434, True, id="plus-plan-port"),
        pytest.param("0.0.0.0:-0", "http", "0.0.0.0", 0, True, id="minus-zero"),
        pytest.param("0.0.0.0:011434", "http", "0.0.0.0", 11434, True, id="leading-zero"),
        pytest.param("0.0.0.0:+-1", "http", "0.0.0.0", 11434, True, id="two-signs"),
        pytest.param("0.0.0.0:1_1434", "http", "0.0.0.0", 11434, True, id="underscore"),
        pytest.param(
            "0.0.0.0:\u0661\u0661\u0664\u0663\u0664",
            "http",
            "0.0.0.0",
            11434,
            True,
            id="arabic-digits",
        ),
        pytest.param("0.0.0.0:\u00b2", "http", "0.0.0.0", 11434, True, id="superscript"),
        pytest.param("0.0.0.0: 80", "http", "0.0.0.0", 11434, True, id="space-in-port"),
        pytest.param("fe80::1%eth0", "http", "fe80::1%eth0", 11434, False, id="zone"),
        pytest.param("[::]:11434x", "http", "::", 11434, True, id="junk-port"),
        pytest.param("[::]x:1", "http", "[::]x:1", 11434, False, id="text-after-bracket"),
        pytest.param("ftp://0.0.0.0", "ftp", "0.0.0.0", 11434, True, id="unknown-scheme"),
        pytest.param("\u00a00.0.0.0\u3000", "http", "0.0.0.0", 11434, True, id="unicode-space"),
    ],
)
def test_ollama_host(value, scheme, host, port, everywhere):
    bound = ollama.ollama_host(value)
    assert (bound.scheme, bound.host, bound.port) == (scheme, host, port)
    assert bound.all_interfaces is everywhere
    # The lab's Ollama stand-in must bind where the suite thinks Ollama binds.
    standin = STANDIN.parse_ollama_host(value)
    assert (standin[0], standin[2]) == (scheme, port)
    assert standin[1] == host or ipaddress.ip_address(standin[1]) == ipaddress.ip_address(host)

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

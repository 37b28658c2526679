"""OLLAMA_HOST, read as Ollama's `envconfig.Host()` reads it."""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass

DEFAULT_PORT = 11434  # Ollama's own default (envconfig), not the plan's choice


@dataclass(frozen=True)
class OllamaHost:
    """Where Ollama binds for a given OLLAMA_HOST value."""

    scheme: str
    host: str
    port: int

    @property
    def all_interfaces(self) -> bool:
        if self.host == "":
            return True
        try:
            return ipaddress.ip_address(self.host).is_unspecified
        except ValueError:
            return False


def ollama_host(value: str) -> OllamaHost:
    """Parse OLLAMA_HOST as ollama's envconfig.Host() does: empty is 127.0.0.1:11434, a bare
    host gets port 11434, `:P` binds all interfaces, a scheme without port gets 80/443, a bad
    port falls back to 11434; quotes and spaces are stripped."""
    raw = value.strip().strip("\"'").strip()
    scheme, default_port = "http", DEFAULT_PORT
    if "://" in raw:
        scheme, _, raw = raw.partition("://")
        default_port = {"http": 80, "https": 443}.get(scheme, DEFAULT_PORT)
    raw = raw.split("/", 1)[0]
    if not raw:
        return OllamaHost(scheme, "127.0.0.1", default_port)
    host, port_text = raw, ""
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
    port = default_port if not port_text else _port_or(port_text, default_port)
    with contextlib.suppress(ValueError):  # like net.ParseIP(host).String(): 0:0:0:0:0:0:0:0 -> ::
        host = str(ipaddress.ip_address(host))
    return OllamaHost(scheme, host, port)


def _port_or(text: str, fallback: int) -> int:
    return int(text) if text.isdigit() and 0 <= int(text) <= 65535 else fallback

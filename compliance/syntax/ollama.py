"""OLLAMA_HOST, read as Ollama's `envconfig.Host()` reads it, and bound as Go's `net.Listen`.

Step by step (ollama `envconfig/config.go`, its cases in `config_test.go`): spaces, then quotes,
then spaces are trimmed; `scheme://` is cut off (http defaults to port 80, https to 443, any
other scheme keeps 11434; a bare `ollama.com` means https on 443); a `/path` is dropped; Go's
`net.SplitHostPort` splits host and port, and where it fails the whole text is the host
(`net.ParseIP` normalises an IP: `::ffff:0.0.0.0` is `0.0.0.0`); the port must pass
`strconv.ParseInt(port, 10, 32)` (ASCII digits, one optional sign) and lie in 0..65535, else
the default port is used. The port text is kept as written: `+8080` binds 8080, `-0` and `0`
bind a port the kernel picks.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DEFAULT_PORT = 11434  # Ollama's own default (envconfig), not the plan's choice
SCHEME_PORTS = {"http": 80, "https": 443}
# Go's strings.TrimSpace: ASCII \t \n \v \f \r and space, plus Unicode White_Space.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501
_GO_INT = re.compile(r"[+-]?[0-9]+")  # strconv.ParseInt base 10: ASCII digits only


@dataclass(frozen=True)
class OllamaHost:
    """Where Ollama binds for a given OLLAMA_HOST value (port 0: one the kernel picks)."""

    scheme: str
    host: str
    port: int

    @property
    def all_interfaces(self) -> bool:
        """Go's listen on an empty or unspecified IP (`0.0.0.0`, `::`, `::ffff:0.0.0.0`)."""
        if self.host == "":
            return True
        ip = _go_ip(self.host)
        if ip is None:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_unspecified
        return ip.is_unspecified


def ollama_host(value: str) -> OllamaHost:
    """Parse OLLAMA_HOST as ollama's envconfig.Host() does (see the module's docstring)."""
    text = value.strip(_GO_SPACE).strip("\"'").strip(_GO_SPACE)
    scheme, sep, hostport = text.partition("://")
    default_port = DEFAULT_PORT
    if not sep:
        scheme, hostport = "http", text
        if text == "ollama.com":
            scheme, hostport = "https", "ollama.com:443"
    else:
        default_port = SCHEME_PORTS.get(scheme, DEFAULT_PORT)
    hostport = hostport.partition("/")[0]
    split = split_host_port(hostport)
    if split is None:
        host, port_text = "127.0.0.1", ""
        ip = _go_ip(hostport.strip("[]"))
        if ip is not None:
            host = _go_ip_string(ip)
        elif hostport:
            host = hostport
    else:
        host, port_text = split
    return OllamaHost(scheme, host, _port(port_text, default_port))


def split_host_port(hostport: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort: (host, port), or None where Go returns an error."""
    i = hostport.rfind(":")
    if i < 0:
        return None
    j = k = 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 != i:  # no `]`, no port after it, or more colons than one
            return None
        host, j, k = hostport[1:end], 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            return None
    if "[" in hostport[j:] or "]" in hostport[k:]:
        return None
    return host, hostport[i + 1 :]


def _port(text: str, default: int) -> int:
    """strconv.ParseInt(text, 10, 32) within 0..65535, else the default."""
    if not _GO_INT.fullmatch(text):
        return default
    number = int(text)
    return number if 0 <= number <= 65535 else default


def _go_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """net.ParseIP: dotted IPv4 or IPv6 text, no zone (`%eth0`)."""
    if not text or "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _go_ip_string(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """net.IP.String(): an IPv4-mapped address prints as plain IPv4."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)

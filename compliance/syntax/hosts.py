"""Host names and addresses that may go into a shell command or a config file."""

from __future__ import annotations

import ipaddress
import re

# fullmatch with \Z: `$` would let a trailing newline through into a config file.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*")


def valid_host(value: str) -> bool:
    """True for an IP address or a DNS hostname (no shell metacharacters possible)."""
    if "%" in value:  # an IPv6 zone id may carry any characters: refuse it
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return bool(_HOSTNAME.fullmatch(value))
    return True

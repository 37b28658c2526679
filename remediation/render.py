"""Fill the plan's files from the settings; refuse values that are not plain hosts/IPs."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from compliance.settings import valid_host

FILES = Path(__file__).parent / "files"
HOST_PLACEHOLDER = "<PROXMOX_HOST_IP_OR_DOMAIN>"
IP_PLACEHOLDER = "<LXC_955_IP>"


class RenderError(ValueError):
    """A value cannot go into a config file; nothing was changed."""


def template(name: str) -> str:
    return (FILES / name).read_text()


def site(server_name: str, ct_ip: str) -> str:
    """The plan's nginx site with server name and container IP filled in."""
    if not valid_host(server_name):
        raise RenderError(f"{HOST_PLACEHOLDER}: {server_name!r} is not a hostname or IP address")
    try:
        address = str(ipaddress.IPv4Address(ct_ip))
    except ValueError:
        raise RenderError(f"{IP_PLACEHOLDER}: {ct_ip!r} is not an IPv4 address") from None
    text = template("ollama_proxy")
    return text.replace(HOST_PLACEHOLDER, server_name).replace(IP_PLACEHOLDER, address)

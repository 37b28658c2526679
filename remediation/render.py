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


HARDENING = """\
        # hardened profile (ollama-lxc-compliance): long generations, streamed tokens,
        # and model management only from the allowed networks
        proxy_read_timeout {timeout}s;
        proxy_send_timeout {timeout}s;
        proxy_buffering off;
        client_max_body_size 0;
        location ~ ^/ollama/api/(create|blobs/|pull|push|delete|copy) {{
{allow}            deny all;
            rewrite ^/ollama/(.*)$ /$1 break;
            proxy_pass http://{ct_ip}:11434;
        }}
"""
PLAN_LAST_LINE = '        proxy_set_header Connection "upgrade";\n'


def hardened(text: str, ct_ip: str, timeout: int, manage_from: tuple[str, ...]) -> str:
    """The plan's site with the hardened additions inside `location /ollama/` (only added:
    the plan's directives stay as they are)."""
    allow = "".join(f"            allow {network};\n" for network in manage_from)
    block = HARDENING.format(timeout=timeout, allow=allow, ct_ip=ct_ip)
    return text.replace(PLAN_LAST_LINE, PLAN_LAST_LINE + block, 1)


def site(
    server_name: str,
    ct_ip: str,
    hardening: tuple[int, tuple[str, ...]] | None = None,
) -> str:
    """The plan's nginx site with server name and container IP filled in; with `hardening`
    (proxy timeout, networks allowed to manage models) the hardened profile's additions."""
    if not valid_host(server_name):
        raise RenderError(f"{HOST_PLACEHOLDER}: {server_name!r} is not a hostname or IP address")
    try:
        address = str(ipaddress.IPv4Address(ct_ip))
    except ValueError:
        raise RenderError(f"{IP_PLACEHOLDER}: {ct_ip!r} is not an IPv4 address") from None
    text = template("ollama_proxy")
    text = text.replace(HOST_PLACEHOLDER, server_name).replace(IP_PLACEHOLDER, address)
    if hardening is not None:
        text = hardened(text, address, *hardening)
    return text

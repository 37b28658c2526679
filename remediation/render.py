"""The plan's files as a fix writes them: the plan's texts (compliance/plan), filled in and,
for the hardened profile, with its additions; values that are not plain hosts/IPs are refused."""

from __future__ import annotations

from compliance import plan
from compliance.plan import RenderError

__all__ = ["RenderError", "hardened", "site", "template"]


def template(name: str) -> str:
    """One of the plan's files, verbatim."""
    return plan.text(name)


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
    text = plan.site_text(server_name, ct_ip)
    if hardening is not None:
        text = hardened(text, ct_ip, *hardening)
    return text

"""The plan's files as a fix writes them: the plan's texts (compliance/plan), filled in and,
for the hardened profile, with its additions; values that are not plain hosts/IPs are refused."""

from __future__ import annotations

import re

from compliance import plan
from compliance.plan import RenderError, ollama_routes

__all__ = ["RenderError", "hardened", "read_paths", "read_pattern", "site", "template"]


def template(name: str) -> str:
    """One of the plan's files, verbatim."""
    return plan.text(name)


HARDENING = """\
        # hardened profile (ollama-lxc-compliance): long generations, streamed tokens;
        # Ollama's read endpoints for everyone, the rest of its API only from the
        # networks allowed to manage models (ollama_manage_from)
        proxy_read_timeout {timeout}s;
        proxy_send_timeout {timeout}s;
        proxy_buffering off;
        client_max_body_size 0;
{allow}        deny all;
        location ~ {pattern} {{
            allow all;
            rewrite {rewrite};
            proxy_pass http://{ct_ip}:{port};
        }}
"""
PLAN_LAST_LINE = '        proxy_set_header Connection "upgrade";\n'
REGEX_SPECIAL = set(".^$*+?()[]{}|\\")


def _literal(path: str) -> str:
    """A gin path as a PCRE fragment: `:param` is one segment, the rest literal."""
    parts = re.split(r"(:\w+)", path.lstrip("/"))
    return "".join(
        "[^/]+" if part.startswith(":") else "".join("\\" * (c in REGEX_SPECIAL) + c for c in part)
        for part in parts
    )


def read_paths() -> tuple[str, ...]:
    """The paths every Ollama version the route table knows only reads, whatever the method:
    a path that also has a write route (the experimental aliases: GET lists, POST and DELETE
    change) is not among them, so it stays refused with the rest. Methods are not told apart
    in nginx terms here: inside a `limit_except` block the location's rewrite does not run,
    and a method Ollama does not route on a read path gets its 405."""
    writes = {r.path for r in ollama_routes.ROUTES if r.kind != ollama_routes.READ}
    found: list[str] = []
    for route in ollama_routes.ROUTES:
        if route.path not in writes and route.path not in found:
            found.append(route.path)
    return tuple(found)


def read_pattern(paths: tuple[str, ...]) -> str:
    """The location regex that matches exactly these paths under /ollama/."""
    return f"^{plan.LOCATION}({'|'.join(_literal(path) for path in paths)})$"


def hardened(text: str, ct_ip: str, timeout: int, manage_from: tuple[str, ...]) -> str:
    """The plan's site with the hardened additions inside `location /ollama/` (only added:
    the plan's directives stay as they are). An allow-list: a nested regex location passes
    the read endpoints of Ollama's API (any version) to the CT for everyone; whatever else
    reaches `location /ollama/` is refused unless the client is in `manage_from` (then the
    plan's own rewrite and proxy_pass send it). The nested location inherits the plan's
    headers (it sets none of its own) and the timeouts, not `rewrite` or `proxy_pass`: it
    repeats them."""
    allow = "".join(f"        allow {network};\n" for network in manage_from)
    return text.replace(
        PLAN_LAST_LINE,
        PLAN_LAST_LINE
        + HARDENING.format(
            timeout=timeout,
            allow=allow,
            pattern=read_pattern(read_paths()),
            rewrite=" ".join(plan.SITE.rewrite),
            ct_ip=ct_ip,
            port=plan.SITE.upstream_port,
        ),
        1,
    )


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

"""Beyond the plan (--compliance-profile=hardened): what breaks or exposes the deployment.

The models behind manage_closed and exposure (nginx's choice of location, nftables and
pve-firewall) are imported by those checks when they run: a plain audit never loads them.
"""

from __future__ import annotations

import json

from compliance.catalogue import advisories, check
from compliance.catalogue.ollama_api import tags_problems
from compliance.catalogue.verdict import (
    Subject,
    Verdict,
    failed,
    not_requested,
    passed,
    skipped,
)
from compliance.facts.http import (
    DirectTags,
    DirectVersion,
    HttpReply,
    ProxiedDelete,
    ProxiedPs,
    ProxiedVersion,
)
from compliance.facts.nginx import NginxLoaded, SiteConfig
from compliance.facts.proxmox import PctConfig
from compliance.facts.stream import ProxiedStream
from compliance.syntax import nginx

ORDER = 5
NGINX_TIMEOUT_DEFAULT = "60s"


def _version(reply: HttpReply | None) -> str | None:
    if reply is None or reply.status != 200:
        return None
    try:
        value = json.loads(reply.body).get("version")
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) else None


@check("runner", "hardened", "upgrade_ollama", profile="hardened")
def version_floor(s: Subject) -> Verdict:
    """/api/version is the same direct and proxied, and no known advisory affects it."""
    direct = _version(s[DirectVersion].reply)
    url = s.proxy_base() + "api/version"
    proxied = _version(s[ProxiedVersion].reply)
    if direct is None:
        return failed("GET 127.0.0.1:11434/api/version answers {version}", "no version")
    if proxied != direct:
        return failed(f"{url} says {direct} too", proxied or "no version")
    applying = advisories.affecting(direct, advisories.load(s.settings.advisories))
    if applying:
        named = "; ".join(f"{a.id} ({a.remedy()}: {a.summary}; {a.source})" for a in applying)
        return failed("a version no known advisory affects", f"Ollama {direct}: {named}")
    return passed(f"Ollama {direct}")


@check("host", "hardened", "ct_onboot", profile="hardened")
def ct_onboot(s: Subject) -> Verdict:
    """`onboot: 1` in `pct config`: the CT comes back after a host reboot."""
    onboot = s[PctConfig].get("onboot", "0")
    if onboot == "1":
        return passed()
    return failed(f"CT {s.container.ctid} onboot: 1", f"onboot: {onboot}")


@check("host", "hardened", "nginx_site", profile="hardened")
def proxy_llm_ready(s: Subject) -> Verdict:
    """The /ollama/ location fits LLM traffic: long proxy timeouts, no buffering, body size."""
    site = s[SiteConfig]
    floor = s.settings.proxy_timeout
    wrong = []
    for name in ("proxy_read_timeout", "proxy_send_timeout"):
        value = site.directive(name)
        seconds = nginx.seconds(value or NGINX_TIMEOUT_DEFAULT)
        if seconds is None or seconds < floor:
            shown = value or f"{NGINX_TIMEOUT_DEFAULT} (default)"
            wrong.append(f"{name} {shown} (want >= {floor}s)")
    buffering = site.directive("proxy_buffering")
    if (buffering or "on") != "off":
        wrong.append(f"proxy_buffering {buffering or 'on (default)'}")
    size = site.directive("client_max_body_size")
    if s.settings.manage_from and (size or "1m") != "0":
        wrong.append(
            f"client_max_body_size {size or '1m (default)'} (want 0: model uploads are allowed)"
        )
    if wrong:
        return failed("the location's LLM settings", "; ".join(wrong))
    return passed()


@check("runner", "hardened", "nginx_site", profile="hardened")
def manage_closed(s: Subject) -> Verdict:
    """Through nginx, every write endpoint of the Ollama in use is refused unless the client
    may manage models, on every server and port that proxies to the CT; reads still work."""
    loaded = s[NginxLoaded]
    if not loaded.ok:
        return skipped("not judged: nginx -T shows no configuration (see nginx_valid)")
    from compliance.catalogue import manage

    judged = manage.judge(s)
    want = ", ".join(s.settings.manage_from) or "nobody"
    expected = f"Ollama's write endpoints refused by nginx except from {want}"
    base = s.proxy_base()
    note = f"{judged.table}: {len(judged.routes)} write endpoints"
    if judged.leaks:
        return failed(expected, "; ".join(leak.line() for leak in judged.leaks), note)
    if judged.undecided:
        return skipped(f"not judged: {judged.undecided[0].why}")
    if judged.closed_to_managers:
        shown = ", ".join(judged.closed_to_managers)
        return failed(f"the networks allowed to manage ({want}) reach the CT", shown, note)
    if not judged.servers:
        return failed(expected + f", and {base} proxied to the CT", "no server proxies to it")
    if not s.settings.manage_from:  # nobody may manage: prove it with a request nginx refuses
        reply = s[ProxiedDelete].reply
        if reply is None or reply.status != 403:
            status = reply.status if reply else "no reply"
            return failed(f"DELETE {base}api/delete refused by nginx (403)", f"status {status}")
    read = s[ProxiedPs].reply
    if read is None or read.status != 200:
        return failed(f"GET {base}api/ps still answers", f"status {read.status if read else '-'}")
    return passed(f"{note} refused on {'; '.join(judged.servers)}")


@check("lan", "hardened", "ct_firewall", profile="hardened")
def exposure(s: Subject) -> Verdict:
    """Port 11434 in the CT answers the Proxmox host (the proxy) and nobody else on its network."""
    from compliance.catalogue.exposure import exposure_verdict

    return exposure_verdict(s)


@check("runner", "hardened", "nginx_site", profile="hardened")
def proxy_streams(s: Subject) -> Verdict:
    """A streamed /api/generate through the proxy delivers its first chunk well before its last
    (the first model that can generate, loaded first: this loads a model on the host)."""
    if not s.settings.probe_streaming:
        return not_requested("the live streaming probe runs only with --probe-streaming=on")
    models, problems = tags_problems(s[DirectTags].reply)
    if problems or not models:
        return failed("a model to stream from", "; ".join(problems) or "no model installed")
    url = s.proxy_base() + "api/generate"
    timing = s.fact(ProxiedStream, *(str(m.get("name")) for m in models))
    if timing.skipped:
        return failed("a model that can generate (not embedding-only, not cloud)", timing.skipped)
    if not timing.answered or timing.status != 200:
        return failed(f"POST {url} streams", f"status {timing.status if timing.answered else '-'}")
    shown = (
        f"{timing.model or 'the model'} loaded first, then {timing.chunks} chunks: first after"
        f" {timing.first:.2f}s, last after {timing.last:.2f}s, longest gap {timing.gap:.2f}s"
    )
    if not timing.streamed:
        return failed("the first chunk well before the last (tokens passed on)", shown)
    return passed(shown)

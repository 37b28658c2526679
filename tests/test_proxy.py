"""Plan sections 5 and 6.2: the nginx reverse proxy on the Proxmox host, end to end."""

from __future__ import annotations

from compliance import plan
from compliance.catalogue import check
from compliance.catalogue.ollama_api import parity_differences
from compliance.catalogue.served import shadowed_by
from compliance.catalogue.upstream import container_ip
from compliance.catalogue.verdict import Subject, Verdict, failed, passed, skipped
from compliance.facts.http import DirectTags, ProxiedTags
from compliance.facts.nginx import NginxLoaded, NginxState, NginxTest, SiteConfig, SiteLink
from compliance.facts.proxmox import CtStatus
from compliance.syntax import nginx, nginx_loaded

ORDER = 4
REWRITE = " ".join(plan.SITE.rewrite)


@check("host", "5", "nginx_site")
def site_file(s: Subject) -> Verdict:
    """No placeholder; our server_name on port 80, `location /ollama/`, the rewrite, the CT's IP."""
    settings = s.container
    site = s[SiteConfig]
    if not site.exists:
        return failed(f"{settings.site_file} exists", "it does not exist")
    wrong = list(site.unsafe())
    wrong += [f"unreadable: {error}" for error in site.config.errors]
    if site.placeholders:
        wrong.append(f"placeholders left: {', '.join(site.placeholders)}")
    want_name = settings.server_name_for(s.host_address)
    if want_name not in site.server_names:
        wrong.append(f"server_name {' '.join(site.server_names) or '(none)'} (want {want_name})")
    if plan.SITE.listen_port not in {listen.port for listen in site.listens}:
        shown = ", ".join(site.listen_values) or "(default)"
        wrong.append(f"listen {shown} (want {plan.SITE.listen_port})")
    if site.location is None:
        wrong.append(f"no `location {plan.LOCATION}` block")
    elif plan.SITE.rewrite not in site.rewrites:
        wrong.append(f"no `rewrite {REWRITE};` in it")
    if wrong:
        return failed("the plan's site, placeholders filled in, root-owned", "; ".join(wrong))
    if not s[CtStatus].running and not settings.ct_ip:
        return skipped(f"CT {settings.ctid} not running: its IP cannot be compared")
    address, how = container_ip(s)
    if address is None:
        return failed("the CT's IPv4, to compare with proxy_pass", how)
    note = f"container IP {address}: {how}"
    if nginx.proxy_target(site.proxy_pass) != (address, plan.SITE.upstream_port):
        want = f"proxy_pass http://{address}:{plan.SITE.upstream_port}"
        return failed(want, f"proxy_pass {site.proxy_pass or '-'}", note)
    return passed(note)


@check("host", "5", "nginx_site")
def proxy_headers(s: Subject) -> Verdict:
    """`location /ollama/` sends the plan's proxy headers and speaks HTTP/1.1 upstream."""
    site = s[SiteConfig]
    if site.location is None:
        return failed(f"a `location {plan.LOCATION}` block", "none in the site")
    headers = site.headers
    wrong = []
    for name, value in plan.SITE.headers.items():
        have = headers.values.get(name)
        if have != value:
            shown = "missing" if have is None else f"{have!r}"
            wrong.append(f"proxy_set_header {_header_name(name)} {shown} (want {value!r})")
    if wrong and headers.from_level not in ("", "location"):
        wrong.append(f"the location sets none: it inherits the {headers.from_level}'s")
    elif wrong and headers.from_level == "location" and _outer_sets(site):
        wrong.append("the location sets its own, so it inherits none of the server's")
    version = site.directive("proxy_http_version") or "1.0 (nginx's default)"
    if version != plan.SITE.http_version:
        wrong.append(f"proxy_http_version {version} (want {plan.SITE.http_version})")
    if wrong:
        return failed("the plan's proxy headers and HTTP version", "; ".join(wrong))
    return passed()


# The plan's header names as its site writes them (`X-Real-IP`): compared in lower case.
HEADER_NAMES = {
    d.args[0].lower(): d.args[0]
    for d in nginx.walk(nginx.parse(plan.SITE_TEMPLATE).directives)
    if d.name == "proxy_set_header" and d.args
}


def _header_name(lower: str) -> str:
    return HEADER_NAMES[lower]


def _outer_sets(site: SiteConfig) -> bool:
    """Whether a level above the location sets proxy headers (which it then does not get)."""
    return any(level.children("proxy_set_header") for level in site.levels[:-1])


@check("host", "5", "nginx_site")
def site_enabled(s: Subject) -> Verdict:
    """The sites-enabled link is a symlink to the site file."""
    settings = s.container
    link = s[SiteLink]
    if link.kind != "link":
        return failed(f"{settings.site_link} is a symlink", link.kind)
    if link.target != settings.site_file:
        return failed(f"link to {settings.site_file}", f"link to {link.target}")
    if link.dangling:
        return failed(f"link to {settings.site_file}, which exists", "a dangling link")
    return passed()


@check("host", "6.2.1", "nginx_site", scope="host")
def nginx_valid(s: Subject) -> Verdict:
    """`nginx -t` succeeds."""
    result = s[NginxTest]
    notes = tuple(f"nginx warns: {warning}" for warning in result.warnings)
    if result.ok:
        return passed(*notes)
    culprit = ""
    if result.error_file:
        mine = result.error_file in s.our_paths
        culprit = f" (in {result.error_file}{', our site' if mine else ', not our site'})"
    found = (result.error or "no 'test is successful'") + culprit
    return failed("syntax is ok, test is successful", found, *notes)


@check("host", "6.2.1", "nginx_site", scope="host")
def nginx_running(s: Subject) -> Verdict:
    """nginx runs (master and workers) and serves the config on disk (no pending reload)."""
    state = s[NginxState]
    if not state.running:
        return failed("nginx master and workers running", "nginx is not running")
    stale = state.stale_files()
    if stale:
        return failed("no config change since the workers started", f"changed: {', '.join(stale)}")
    return passed()


@check("host", "5", "nginx_site")
def site_served(s: Subject) -> Verdict:
    """`nginx -T`: nginx loads our site, picks its server block for our server_name on port 80
    and its `location /ollama/` (or one nested in it) for the API; no other file shadows it."""
    loaded = s[NginxLoaded]
    if not loaded.ok:
        return failed("the configuration nginx loads (`nginx -T`)", "unreadable: see nginx_valid")
    settings = s.container
    want = f"our site's server block and `location {plan.LOCATION}` serving the API"
    if (cause := shadowed_by(s)) is not None:
        return failed(want, cause)
    if settings.site_link not in loaded.dump.paths:
        return failed(f"{settings.site_link} among the files nginx loads", "nginx does not read it")
    name = settings.server_name_for(s.host_address)
    port = plan.SITE.listen_port
    choice = loaded.choose(port, name)
    if choice.server is None or choice.server.file not in s.our_paths:
        answering = choice.server.where if choice.server else "nothing"
        return failed(want, f"no server of ours names {name} on port {port}; {answering} answers")
    location = nginx_loaded.top_location_for(choice.server, plan.PROBE_URI)
    if location is None or location.pattern != plan.LOCATION:
        shown = f"`location {location.pattern}`" if location else "no location"
        return failed(want, f"{shown} of {choice.server.where} answers {plan.PROBE_URI}")
    notes = tuple(f"also loaded, ignored by nginx: {other.where}" for other in choice.shadowed)
    return passed(*notes)


@check("runner", "6.2.2", "nginx_site")
def proxy_parity(s: Subject) -> Verdict:
    """GET <proxy>/api/tags returns what the CT answers directly: status, JSON type, models."""
    url = s.tags_url()
    differences = parity_differences(s[DirectTags].reply, s[ProxiedTags].reply)
    if differences:
        return failed(f"{url} identical to the direct call", "; ".join(differences))
    return passed()

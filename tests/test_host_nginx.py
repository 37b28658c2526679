"""Plan sections 5 and 6.2: the nginx reverse proxy on the Proxmox host."""

from __future__ import annotations

import posixpath

import pytest

from compliance import parsers
from compliance.targets import ct_ip


@pytest.mark.fix("nginx_site")
def test_pve_site_file(pve, container, fleet):
    """The site has no placeholder, `location /ollama/`, the rewrite, proxy_pass to the CT's IP."""
    settings = fleet.settings
    fact = pve.fact("site")
    pve.require(fact.ok, f"{settings.site_file} exists", "it does not exist")
    site = parsers.site_file(fact.output.partition("\n")[2])
    wrong = []
    if site.placeholders:
        wrong.append(f"placeholders left: {', '.join(site.placeholders)}")
    want_name = settings.server_name_for(container.pve.address)
    if want_name not in site.server_names:
        wrong.append(f"server_name {' '.join(site.server_names) or '(none)'} (want {want_name})")
    if not site.location_ollama:
        wrong.append("no `location /ollama/` block")
    if not site.rewrite:
        wrong.append("no `rewrite ^/ollama/(.*)$ /$1 break;` in it")
    pve.require(not wrong, "the plan's site, placeholders filled in", "; ".join(wrong))
    target = parsers.proxy_target(site.proxy_pass)
    if not container.running() and not settings.ct_ip:
        pytest.skip(f"CT {container.ctid} not running: its IP cannot be compared with proxy_pass")
    address, how = ct_ip(fleet, container)
    pve.note(f"container IP {address}: {how}")
    want = f"http://{address}:11434"
    pve.require(
        target == (address, 11434),
        f"proxy_pass {want}",
        f"proxy_pass {site.proxy_pass or '(none)'}",
    )


@pytest.mark.fix("nginx_site")
def test_pve_site_enabled(pve, fleet):
    """sites-enabled/ollama_proxy is a symlink to the site file."""
    settings = fleet.settings
    fact = pve.fact("site_link")
    kind, _, target = fact.output.strip().partition(" ")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(settings.site_link), target))
    pve.require(kind == "link", f"{settings.site_link} is a symlink", kind or "(no answer)")
    pve.require(
        resolved == settings.site_file, f"link to {settings.site_file}", f"link to {target}"
    )


@pytest.mark.fix("nginx_site")
def test_pve_nginx_valid(pve, fleet):
    """`nginx -t` succeeds."""
    fact = pve.fact("nginx_t")
    result = parsers.nginx_test(fact.rc, fact.output)
    ours = result.error_file in (fleet.settings.site_file, fleet.settings.site_link)
    culprit = f" (in {result.error_file}{', our site' if ours else ', not our site'})"
    found = (result.error or "no 'test is successful'") + (culprit if result.error_file else "")
    pve.require(result.ok, "syntax is ok, test is successful", found)
    for warning in result.warnings:
        pve.note(f"nginx warns: {warning}")


@pytest.mark.fix("nginx_site")
def test_pve_nginx_running(pve):
    """nginx runs (master and workers) and serves the config on disk (no pending reload)."""
    state = parsers.nginx_state(pve.fact("nginx_state").output)
    pve.require(state.running, "nginx master and workers running", "nginx is not running")
    stale = state.stale_files()
    pve.require(
        not stale,
        "no config file changed since the workers started",
        f"changed: {', '.join(stale)}",
    )

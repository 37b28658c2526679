"""Plan sections 5 and 6.2: the nginx reverse proxy on the Proxmox host."""

from __future__ import annotations

import pytest

from compliance import parsers
from compliance.targets import ct_ip

PLAN_PORT = 80  # the plan's `listen 80;`


@pytest.mark.fix("nginx_site")
def test_pve_site_file(pve, container, fleet):
    """No placeholder; our server_name on port 80, `location /ollama/`, the rewrite, the CT's IP."""
    site_settings = container.site
    fact = pve.fact(f"site_{container.ctid}")
    pve.require(fact.ok, f"{site_settings.site_file} exists", "it does not exist")
    site = parsers.site_file(fact.output.partition("\n")[2])
    wrong = []
    if site.placeholders:
        wrong.append(f"placeholders left: {', '.join(site.placeholders)}")
    want_name = site_settings.server_name_for(container.pve.address)
    if want_name not in site.server_names:
        wrong.append(f"server_name {' '.join(site.server_names) or '(none)'} (want {want_name})")
    if PLAN_PORT not in parsers.listen_ports(site.listens):
        wrong.append(f"listen {', '.join(site.listens) or '(default)'} (want {PLAN_PORT})")
    if not site.location_ollama:
        wrong.append("no `location /ollama/` block")
    if not site.rewrite:
        wrong.append("no `rewrite ^/ollama/(.*)$ /$1 break;` in it")
    pve.require(not wrong, "the plan's site, placeholders filled in", "; ".join(wrong))
    target = parsers.proxy_target(site.proxy_pass)
    if not container.running() and not site_settings.ct_ip:
        pytest.skip(f"CT {container.ctid} not running: its IP cannot be compared with proxy_pass")
    address, how = ct_ip(fleet, container)
    pve.require(address is not None, "the CT's IPv4, to compare with proxy_pass", how)
    pve.note(f"container IP {address}: {how}")
    want = f"http://{address}:11434"
    pve.require(
        target == (address, 11434), f"proxy_pass {want}", f"proxy_pass {site.proxy_pass or '-'}"
    )


@pytest.mark.fix("nginx_site")
def test_pve_site_enabled(pve, container):
    """The sites-enabled link is a symlink to the site file."""
    site = container.site
    fact = pve.fact(f"site_link_{container.ctid}")
    kind, resolved = parsers.link_target(fact.output, site.site_link)
    pve.require(kind == "link", f"{site.site_link} is a symlink", kind)
    want = site.site_file
    pve.require(resolved == want, f"link to {want}", f"link to {resolved}")


@pytest.mark.fix("nginx_site")
def test_pve_nginx_valid(pve, fleet):
    """`nginx -t` succeeds."""
    fact = pve.fact("nginx_t")
    result = parsers.nginx_test(fact.rc, fact.output)
    mine = result.error_file in fleet.site_paths()
    culprit = f" (in {result.error_file}{', our site' if mine else ', not our site'})"
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
        not stale, "no config change since the workers started", f"changed: {', '.join(stale)}"
    )

"""Plan sections 5 and 6.2: the nginx reverse proxy on the Proxmox host."""

from __future__ import annotations

import pytest

from compliance import checks


@pytest.mark.fix("nginx_site")
def test_pve_site_file(pve, container):
    """No placeholder; our server_name on port 80, `location /ollama/`, the rewrite, the CT's IP."""
    pve.judge(checks.site_file)


@pytest.mark.fix("nginx_site")
def test_pve_site_enabled(pve, container):
    """The sites-enabled link is a symlink to the site file."""
    pve.judge(checks.site_enabled)


@pytest.mark.fix("nginx_site")
def test_pve_nginx_valid(pve):
    """`nginx -t` succeeds."""
    pve.judge(checks.nginx_valid)


@pytest.mark.fix("nginx_site")
def test_pve_nginx_running(pve):
    """nginx runs (master and workers) and serves the config on disk (no pending reload)."""
    pve.judge(checks.nginx_running)

"""Beyond the plan (--profile=hardened): what breaks or exposes this deployment in real use."""

from __future__ import annotations

import pytest

from compliance import checks


@pytest.mark.fix("upgrade_ollama")
def test_runner_version_floor(ct, container):
    """/api/version is the same direct and proxied, and no known advisory affects it."""
    ct.judge(checks.version_floor)


@pytest.mark.fix("ct_onboot")
def test_pve_ct_onboot(pve, container):
    """`onboot: 1` in `pct config`: the CT comes back after a host reboot."""
    pve.judge(checks.ct_onboot)


@pytest.mark.fix("nginx_site")
def test_pve_proxy_llm_ready(pve, container):
    """The /ollama/ location fits LLM traffic: long proxy timeouts, no buffering, body size."""
    pve.judge(checks.proxy_llm_ready)


@pytest.mark.fix("nginx_site")
def test_runner_manage_closed(ct, container):
    """Through the proxy the model-management API is refused unless allowed; reads still work."""
    ct.judge(checks.manage_closed)


@pytest.mark.fix("ct_firewall")
def test_ct_exposure(ct, container):
    """Port 11434 in the CT answers the Proxmox host (the proxy) and nobody else on its network."""
    ct.judge(checks.exposure)


@pytest.mark.fix("nginx_site")
def test_runner_proxy_streams(ct, container):
    """A streamed /api/generate through the proxy delivers its first chunk well before its last."""
    ct.judge(checks.proxy_streams)

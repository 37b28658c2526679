"""Plan section 6.2: the proxied /api/tags equals the direct one (end to end)."""

from __future__ import annotations

import pytest

from compliance import checks


@pytest.mark.fix("nginx_site")
def test_runner_proxy_parity(ct, container):
    """GET <proxy>/api/tags returns what the CT answers directly: status, JSON type, models."""
    ct.judge(checks.proxy_parity)

"""Plan section 6.2: the proxied /api/tags equals the direct one (end to end)."""

from __future__ import annotations

import pytest

from compliance import parsers
from compliance.http import fetch
from compliance.ollama_api import parity_differences


@pytest.mark.fix("nginx_site")
def test_runner_proxy_parity(ct, container):
    """GET <proxy>/api/tags returns what the CT answers directly: status, JSON type, models."""
    direct_fact = ct.fact("direct_tags")
    url = container.tags_url()
    proxied_fact, proxied = fetch(url)
    ct.log.add(proxied_fact)
    differences = parity_differences(parsers.curl_reply(direct_fact.output), proxied)
    ct.require(not differences, f"{url} identical to the direct call", "; ".join(differences))

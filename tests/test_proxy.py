"""Plan section 6.2: the proxied /api/tags equals the direct one (end to end)."""

from __future__ import annotations

import pytest
import requests

from compliance import parsers
from compliance.facts import Fact
from compliance.ollama_api import parity_differences

TIMEOUT_S = 5


def fetch(url: str) -> tuple[Fact, parsers.HttpReply | None]:
    """GET from the machine running pytest (no proxy variables), as a fact for the evidence."""
    command = f"GET {url}"
    session = requests.Session()
    session.trust_env = False
    try:
        response = session.get(url, timeout=TIMEOUT_S, allow_redirects=False)
    except requests.RequestException as exc:
        return Fact("proxied_tags", "runner", command, 1, f"{type(exc).__name__}: {exc}"), None
    ctype = response.headers.get("Content-Type", "")
    text = f"HTTP {response.status_code} {ctype}\n{response.text}"
    reply = parsers.HttpReply(response.status_code, ctype, response.text)
    return Fact("proxied_tags", "runner", command, 0, text), reply


@pytest.mark.fix("nginx_site")
def test_runner_proxy_parity(ct, container, fleet):
    """GET <proxy>/api/tags returns what the CT answers directly: status, JSON type, models."""
    direct_fact = ct.fact("direct_tags")
    url = fleet.settings.proxy_url_for(container.pve.address) + "api/tags"
    proxied_fact, proxied = fetch(url)
    ct.log.add(proxied_fact)
    differences = parity_differences(parsers.curl_reply(direct_fact.output), proxied)
    ct.require(not differences, f"{url} identical to the direct call", "; ".join(differences))

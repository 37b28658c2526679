"""HTTP from the machine running pytest (the proxied side of the parity check)."""

from __future__ import annotations

from compliance.facts import Fact
from compliance.parsers import HttpReply

TIMEOUT_S = 5.0


def fetch(url: str, timeout: float = TIMEOUT_S) -> tuple[Fact, HttpReply | None]:
    """GET `url` ignoring proxy variables; the exchange doubles as evidence."""
    import requests  # imported here: the preflight warms it up while ssh is busy

    command = f"GET {url}"
    try:
        with requests.Session() as session:
            session.trust_env = False
            response = session.get(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return Fact("proxied_tags", "runner", command, 1, f"{type(exc).__name__}: {exc}"), None
    ctype = response.headers.get("Content-Type", "")
    text = f"HTTP {response.status_code} {ctype}\n{response.text}"
    reply = HttpReply(response.status_code, ctype, response.text)
    return Fact("proxied_tags", "runner", command, 0, text), reply

"""HTTP from the machine running pytest (the proxied side of the parity check)."""

from __future__ import annotations

from compliance.facts import Fact

TIMEOUT_S = 5.0


def fetch(url: str, name: str = "proxied_tags", timeout: float = TIMEOUT_S) -> Fact:
    """GET `url` ignoring proxy variables; the exchange as a fact (`HTTP STATUS TYPE`, body)."""
    import requests  # imported here: the preflight warms it up while ssh is busy

    command = f"GET {url}"
    try:
        with requests.Session() as session:
            session.trust_env = False
            response = session.get(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return Fact(name, "runner", command, 1, f"{type(exc).__name__}: {exc}")
    ctype = response.headers.get("Content-Type", "")
    return Fact(name, "runner", command, 0, f"HTTP {response.status_code} {ctype}\n{response.text}")

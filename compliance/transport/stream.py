"""The runner's streamed request (the hardened, opt-in live streaming probe): a generation
through the proxy, timed line by line."""

from __future__ import annotations

import json
import time

TIMEOUT_S = 60.0  # a real host may load the model first
MAX_CHUNKS = 10_000
MAX_BYTES = 1024 * 1024  # as compliance.transport.http reads at most


def stream(url: str, model: str, timeout: float = TIMEOUT_S) -> tuple[int, str]:
    """POST a one-word prompt to `url` (/api/generate) and time its NDJSON lines:
    (0, `status S chunks N first F last L`), or (1, why not)."""
    import requests

    body = json.dumps({"model": model, "prompt": "hi", "stream": True})
    began = time.monotonic()
    first = last = 0.0
    chunks = 0
    try:
        with requests.Session() as session:
            session.trust_env = False
            reply = session.post(url, data=body, stream=True, timeout=timeout)
            with reply:
                received = 0
                for line in reply.iter_lines(chunk_size=4096):
                    received += len(line)
                    if not line:
                        continue
                    chunks += 1
                    last = time.monotonic() - began
                    first = first or last
                    if chunks >= MAX_CHUNKS or received > MAX_BYTES or last > timeout:
                        break
    except requests.RequestException as exc:
        return 1, f"{type(exc).__name__}: {exc}"
    return 0, f"status {reply.status_code} chunks {chunks} first {first:.3f} last {last:.3f}"

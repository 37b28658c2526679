"""The runner's streamed request (the hardened, opt-in live streaming probe): a generation
through the proxy, timed line by line.

It loads a model on the host it probes. It takes the first of the models given that can
generate (`/api/show` lists `completion` among its capabilities, and it is no cloud model,
which Ollama would proxy to ollama.com), loads it first with an empty non-streamed request
(as `ollama run` does), and only then times the streamed generation: a cold model's load
time is never counted as buffering.
"""

from __future__ import annotations

import json
import time
from typing import Any

TIMEOUT_S = 60.0  # a real host may load the model first
MAX_CHUNKS = 10_000
MAX_BYTES = 1024 * 1024  # as compliance.transport.http reads at most


def stream(url: str, models: list[str], timeout: float = TIMEOUT_S) -> tuple[int, str]:
    """POST a one-word prompt to `url` (/api/generate) for the first model that can generate,
    warmed up first, and time its NDJSON lines: (0, `status S chunks N first F last L gap G
    model M`), (0, `skipped: why, per model`) when none can, or (1, why not)."""
    import requests

    show = url.rsplit("/", 1)[0] + "/show"
    skipped = []
    try:
        with requests.Session() as session:
            session.trust_env = False
            for model in models:
                why = _cannot_generate(session, show, model, timeout)
                if why:
                    skipped.append(f"{model} {why}")
                    continue
                warm = json.dumps({"model": model, "stream": False})  # no prompt: loads it
                session.post(url, data=warm, timeout=timeout).close()
                return 0, _timed(session, url, model, timeout) + f" model {model}"
    except requests.RequestException as exc:
        return 1, f"{type(exc).__name__}: {exc}"
    return 0, "skipped: " + ("; ".join(skipped) or "no model")


def _cannot_generate(session: Any, show: str, model: str, timeout: float) -> str:
    """Why `model` is not streamed from ('' when it can generate), from /api/show."""
    reply = session.post(show, data=json.dumps({"model": model}), timeout=timeout)
    with reply:
        if reply.status_code != 200:
            return f"(/api/show answered {reply.status_code})"
        info = reply.json() if len(reply.content) <= MAX_BYTES else {}
    capabilities = info.get("capabilities") if isinstance(info, dict) else None
    if isinstance(info, dict) and info.get("remote_host"):
        return f"is a cloud model (proxied to {info['remote_host']})"
    if isinstance(capabilities, list) and "completion" not in capabilities:
        return f"cannot generate (capabilities: {', '.join(map(str, capabilities))})"
    return ""


def _timed(session: Any, url: str, model: str, timeout: float) -> str:
    """The streamed generation: when its first and last lines came, and the longest gap."""
    body = json.dumps({"model": model, "prompt": "hi", "stream": True})
    began = time.monotonic()
    first = last = gap = 0.0
    chunks = 0
    reply = session.post(url, data=body, stream=True, timeout=timeout)
    with reply:
        received = 0
        for line in reply.iter_lines(chunk_size=4096):
            received += len(line)
            if not line:
                continue
            chunks += 1
            now = time.monotonic() - began
            gap = max(gap, now - last) if chunks > 1 else 0.0
            last = now
            first = first or last
            if chunks >= MAX_CHUNKS or received > MAX_BYTES or last > timeout:
                break
    timing = f"first {first:.3f} last {last:.3f} gap {gap:.3f}"
    return f"status {reply.status_code} chunks {chunks} {timing}"

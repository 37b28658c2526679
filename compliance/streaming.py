"""The live streaming probe (hardened, opt-in): does the proxy pass tokens on as they come?"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from compliance.facts import Fact

TIMEOUT_S = 60.0  # a real host may load the model first
MAX_CHUNKS = 10_000
MAX_BYTES = 1024 * 1024  # as compliance.http reads at most


@dataclass(frozen=True)
class StreamTiming:
    """When the first and the last chunk of a streamed reply arrived (seconds after sending)."""

    status: int
    chunks: int
    first: float
    last: float

    @property
    def streamed(self) -> bool:
        """The first chunk came well before the last one (not held back by a buffer)."""
        return self.chunks >= 3 and self.first < 0.5 * self.last


def timing_of(rc: int, output: str) -> StreamTiming | None:
    match = re.fullmatch(r"status (\d+) chunks (\d+) first ([\d.]+) last ([\d.]+)", output.strip())
    if rc != 0 or not match:
        return None
    return StreamTiming(int(match[1]), int(match[2]), float(match[3]), float(match[4]))


def stream(url: str, model: str, name: str = "proxied_stream", timeout: float = TIMEOUT_S) -> Fact:
    """POST a one-word prompt to `url` (/api/generate) and time its NDJSON lines."""
    import requests

    command = f"STREAM {url}"
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
        return Fact(name, "runner", command, 1, f"{type(exc).__name__}: {exc}")
    text = f"status {reply.status_code} chunks {chunks} first {first:.3f} last {last:.3f}"
    return Fact(name, "runner", command, 0, text)

"""The runner's streamed request (the hardened, opt-in live streaming probe): a generation
through the proxy, timed line by line, under a hard deadline and a byte cap."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

TIMEOUT_S = 60.0  # the whole probe, first byte to last: a real host may load the model first
MAX_CHUNKS = 10_000
MAX_BYTES = 1024 * 1024  # raw bytes read, counted as they arrive (as compliance.transport.http)
READ_SIZE = 4096


@dataclass
class _Timing:
    """What the reading thread saw so far: the reply's status, and when lines ended."""

    status: int = 0
    chunks: int = 0
    first: float = 0.0
    last: float = 0.0
    received: int = 0
    error: str = ""
    reply: Any = None
    done: threading.Event = field(default_factory=threading.Event)


def stream(url: str, model: str, timeout: float = TIMEOUT_S) -> tuple[int, str]:
    """POST a one-word prompt to `url` (/api/generate) and time its NDJSON lines:
    (0, `status S chunks N first F last L`), or (1, why not). Returns by `timeout` whatever
    the server does (a trickle, a flood, a body with no newline, no headers at all)."""
    timing = _Timing()
    began = time.monotonic()
    reader = threading.Thread(target=_read, args=(url, model, timeout, began, timing), daemon=True)
    reader.start()
    if not timing.done.wait(timeout):
        _abort(timing.reply)
        return 1, f"no complete stream within the probe's {timeout:g} s deadline"
    if timing.error:
        return 1, timing.error
    return 0, (
        f"status {timing.status} chunks {timing.chunks}"
        f" first {timing.first:.3f} last {timing.last:.3f}"
    )


def _read(url: str, model: str, timeout: float, began: float, timing: _Timing) -> None:
    """Read the reply in raw pieces: bytes counted on arrival, lines found in each new piece
    only (linear in the body), stopped by the byte, chunk or time cap."""
    import requests

    body = json.dumps({"model": model, "prompt": "hi", "stream": True})
    try:
        with requests.Session() as session:
            session.trust_env = False
            reply = session.post(url, data=body, stream=True, timeout=timeout)
            timing.reply = reply
            timing.status = reply.status_code
            with reply:
                pending = 0  # bytes of the line not yet ended
                for piece in reply.iter_content(chunk_size=READ_SIZE):
                    timing.received += len(piece)
                    now = time.monotonic() - began
                    lines, pending = _ended_lines(piece, pending)
                    if lines:
                        timing.chunks += lines
                        timing.last = now
                        timing.first = timing.first or now
                    if timing.chunks >= MAX_CHUNKS or timing.received > MAX_BYTES or now > timeout:
                        break
    except (requests.RequestException, OSError) as exc:
        timing.error = f"{type(exc).__name__}: {exc}"
    finally:
        timing.done.set()


def _ended_lines(piece: bytes, pending: int) -> tuple[int, int]:
    """(non-empty lines that `piece` ends, bytes of the line left open): only the new piece
    is scanned, so a body with no newline costs linear time."""
    *ended, rest = piece.split(b"\n")
    lines = sum(1 for i, line in enumerate(ended) if line or (i == 0 and pending))
    return lines, (len(rest) if ended else pending + len(rest))


def _abort(reply: Any) -> None:
    """Stop a reading thread blocked on the socket: shut the connection down under it."""
    if reply is None:
        return
    with contextlib.suppress(AttributeError, OSError):
        sock = reply.raw._fp.fp.raw._sock  # urllib3 -> http.client -> socket
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):  # a half-read reply may raise anything on close
        reply.close()

"""The runner's streamed request (the hardened, opt-in live streaming probe): a generation
through the proxy, timed line by line, under a hard deadline and a byte cap.

It loads a model on the host it probes (`probe`): the first of the models given that can
generate (`/api/show` lists `completion` among its capabilities, and it is no cloud model,
which Ollama would proxy to ollama.com), loaded first with an empty non-streamed request (as
`ollama run` does), and only then timed: a cold model's load time is never counted as
buffering."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TIMEOUT_S = 60.0  # the whole probe, first byte to last: a real host may load the model first
MAX_CHUNKS = 10_000
MAX_BYTES = 1024 * 1024  # raw bytes read, counted as they arrive (as compliance.transport.http)
READ_SIZE = 4096
SHOW_TIMEOUT_S = 10.0


@dataclass
class _Timing:
    """What the reading thread saw so far: the reply's status, and when lines ended."""

    status: int = 0
    chunks: int = 0
    first: float = 0.0
    last: float = 0.0
    received: int = 0
    gap: float = 0.0  # the longest wait between two lines
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
        f" first {timing.first:.3f} last {timing.last:.3f} gap {timing.gap:.3f}"
    )


def probe(
    url: str,
    models: list[str],
    timeout: float = TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[int, str]:
    """The probe: the first model that can generate, loaded, then streamed (`stream`, with
    ` model M` added); (0, `skipped: why, per model`) when none can; (1, why not)."""
    from compliance.transport.http import fetch

    show = url.rsplit("/", 1)[0] + "/show"
    skipped: list[str] = []
    began = clock()
    for model in models:
        if clock() - began > timeout:  # the choice shares the probe's deadline
            asked = "; ".join(skipped)
            return 1, f"no model chosen within the probe's {timeout:g} s deadline ({asked})"
        rc, said = fetch(show, SHOW_TIMEOUT_S, "POST", json.dumps({"model": model}).encode())
        why = _cannot_generate(rc, said)
        if why:
            skipped.append(f"{model} {why}")
            continue
        warm = json.dumps({"model": model, "stream": False}).encode()  # no prompt: loads it
        rc, said = fetch(url, timeout, "POST", warm)
        if rc != 0:
            return 1, f"loading {model} first: {said}"
        rc, said = stream(url, model, timeout)
        return rc, f"{said} model {model}" if rc == 0 else said
    return 0, "skipped: " + ("; ".join(skipped) or "no model")


def _cannot_generate(rc: int, said: str) -> str:
    """Why a model is not streamed from, from its /api/show reply ('' when it can generate,
    or when the reply does not say)."""
    head, _, body = said.partition("\n")
    if rc != 0 or not head.startswith("HTTP 200"):
        return f"(/api/show: {head if rc == 0 else said})"
    try:
        info = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(info, dict):
        return ""
    if info.get("remote_host"):
        return f"is a cloud model (proxied to {info['remote_host']})"
    capabilities = info.get("capabilities")
    if isinstance(capabilities, list) and "completion" not in capabilities:
        return f"cannot generate (capabilities: {', '.join(map(str, capabilities))})"
    return ""


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
                        if timing.chunks:
                            timing.gap = max(timing.gap, now - timing.last)
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

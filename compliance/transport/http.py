"""HTTP from the machine running pytest (the proxied side of the parity check).

Bounded in time and in bytes, whatever the other side does: the whole exchange (connect,
headers, body) ends by its deadline even when the server trickles a byte at a time, and at
most MAX_BODY bytes of the body are read.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

TIMEOUT_S = 5.0  # the deadline of the whole exchange, not of one read
MAX_BODY = 1024 * 1024  # bytes of a body read at most (curl's --max-filesize too)
CHUNK = 64 * 1024


@dataclass
class _Exchange:
    """What the worker thread learnt so far (read by the caller when the deadline passes)."""

    cancel: threading.Event = field(default_factory=threading.Event)
    response: Any = None  # the requests.Response once the headers are in
    status: int | None = None
    content_type: str = ""
    body: bytes = b""
    cut: bool = False
    received: int = 0  # body bytes read so far
    error: str | None = None


class _Cancelled(Exception):
    """The caller gave up on the exchange (its deadline passed)."""


def request(command: str) -> tuple[int, str]:
    """Run a runner fact's command: `<METHOD> <url>`, `STREAM <url> <model>...` (the live
    streaming probe) or `TRY <address> <port> <seconds> [<ipv4 of the same CT>]` (a TCP
    connect from the runner); (exit code, output) as a shell command's would be."""
    method, _, rest = command.partition(" ")
    if method == "TRY":
        from compliance.transport import tcp_try

        address, port, seconds, *zone_of = rest.split()
        return tcp_try.try_port(address, int(port), float(seconds), *zone_of)
    if method == "STREAM":
        from compliance.transport import stream  # only the opt-in streaming probe needs it

        url, *models = rest.split()
        return stream.probe(url, models)
    return fetch(rest, method=method)


def fetch(
    url: str, timeout: float = TIMEOUT_S, method: str = "GET", data: bytes | None = None
) -> tuple[int, str]:
    """`method` `url` ignoring proxy variables: (0, `HTTP STATUS TYPE` line then the body), or
    (1, why there is no reply).

    `timeout` is the deadline of the whole exchange. A body longer than MAX_BODY is cut there
    and the output says so on its last line. The body is decoded as UTF-8 with replacement.
    """
    deadline = time.monotonic() + timeout
    exchange = _Exchange()
    worker = threading.Thread(
        target=_run,
        args=(method, url, timeout, deadline, exchange, data),
        name=f"fetch {url}",
        daemon=True,
    )
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if worker.is_alive():
        exchange.cancel.set()
        _abort(exchange.response)
        if exchange.status is None:
            progress = "no HTTP response"
        else:
            progress = f"HTTP {exchange.status}, {exchange.received} body bytes"
        return 1, f"timed out: no complete reply within {timeout:g} s ({progress})"
    if exchange.error is not None:
        return 1, exchange.error
    text = exchange.body.decode("utf-8", errors="replace")
    if exchange.cut:
        text += f"\n... (body cut at {MAX_BODY} bytes)"
    return 0, f"HTTP {exchange.status} {exchange.content_type}\n{text}"


def _run(
    method: str,
    url: str,
    timeout: float,
    deadline: float,
    exchange: _Exchange,
    data: bytes | None = None,
) -> None:
    """The exchange itself (in a worker thread: the caller waits only until the deadline)."""
    import requests  # imported here: the preflight warms it up while ssh is busy

    try:
        with requests.Session() as session:
            session.trust_env = False
            response = session.request(
                method,
                url,
                # a write is probed with an empty object: refused by nginx, or rejected by
                # Ollama as a bad request; never a change
                data=data if data is not None else b"{}" if method != "GET" else None,
                timeout=timeout,  # per connect and per read; the deadline bounds the sum
                allow_redirects=False,
                stream=True,
                headers={"Accept-Encoding": "identity"},
            )
            exchange.response = response
            with response:
                exchange.status = response.status_code
                exchange.content_type = response.headers.get("Content-Type", "")
                _read_body(response.raw, deadline, exchange)
    except requests.RequestException as exc:
        exchange.error = f"{type(exc).__name__}: {exc}"
    except _Cancelled:
        pass
    except Exception as exc:  # a worker must not die with a traceback on stderr
        exchange.error = f"{type(exc).__name__}: {exc}"


def _read_body(raw: Any, deadline: float, exchange: _Exchange) -> None:
    """Read the body in chunks until its end, MAX_BODY + 1 bytes, or the deadline."""
    read = getattr(raw, "read1", None) or raw.read  # read1: what has arrived, no waiting
    chunks: list[bytes] = []
    while exchange.received <= MAX_BODY:
        if exchange.cancel.is_set() or time.monotonic() > deadline:
            raise _Cancelled
        data = read(min(CHUNK, MAX_BODY + 1 - exchange.received), decode_content=True)
        if not data:
            break
        chunks.append(data)
        exchange.received += len(data)
    body = b"".join(chunks)
    exchange.body, exchange.cut = body[:MAX_BODY], len(body) > MAX_BODY


def _abort(response: Any) -> None:
    """Wake a worker blocked reading `response` (shut its socket down); best effort."""
    sock = getattr(getattr(getattr(response, "raw", None), "connection", None), "sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)

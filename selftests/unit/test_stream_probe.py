"""The streaming probe's bounds against a local server that misbehaves on purpose: a hard
deadline whatever the server sends, a byte cap counted on arrival, lines found in linear time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest

from compliance.transport import stream

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n"


@contextmanager
def serving(behave: Callable[[socket.socket], None]) -> Iterator[str]:
    """A one-connection server on 127.0.0.1 that reads the request, then does `behave`."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            conn.recv(65536)
            with suppress(OSError):
                behave(conn)
            stop.wait(10)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/api/generate"
    finally:
        stop.set()
        listener.close()


def lines(count: int, gap: float) -> Callable[[socket.socket], None]:
    def behave(conn: socket.socket) -> None:
        conn.sendall(HEAD)
        for n in range(count):
            conn.sendall(b'{"response":"t%d"}\n\n' % n)  # a blank keep-alive line after each
            time.sleep(gap)
        conn.shutdown(socket.SHUT_WR)

    return behave


def trickle(conn: socket.socket) -> None:
    conn.sendall(HEAD)
    for _ in range(100):
        conn.sendall(b"x")  # never a newline
        time.sleep(0.1)


def flood(conn: socket.socket) -> None:
    conn.sendall(HEAD)
    piece = b"y" * 65536
    for _ in range(64):  # 4 MiB with no newline
        conn.sendall(piece)


def silent(conn: socket.socket) -> None:
    """Accepts, reads the request, never answers (no status line, no headers)."""


def timed(url: str, timeout: float) -> tuple[tuple[int, str], float]:
    began = time.monotonic()
    result = stream.stream(url, "m", timeout=timeout)
    return result, time.monotonic() - began


def test_a_stream_of_lines_is_timed_and_blank_lines_are_not_chunks() -> None:
    with serving(lines(4, 0.05)) as url:
        (rc, said), _ = timed(url, 5)
    assert rc == 0, said
    assert said.startswith("status 200 chunks 4 first "), said


@pytest.mark.parametrize("behave", [trickle, silent], ids=["trickle", "no headers"])
def test_the_deadline_holds_whatever_the_server_does(behave) -> None:
    with serving(behave) as url:
        (rc, said), took = timed(url, 1.0)
    assert rc == 1
    assert "deadline" in said, said
    assert took < 1.5, took


def test_a_flood_with_no_newline_stops_at_the_byte_cap() -> None:
    with serving(flood) as url:
        (rc, said), took = timed(url, 10)
    assert rc == 0, said
    assert said.startswith("status 200 chunks 0 "), said
    assert took < 5, took


@pytest.mark.parametrize(
    ("piece", "pending", "ended"),
    [
        (b"abc", 0, (0, 3)),
        (b"abc", 2, (0, 5)),
        (b"\n", 2, (1, 0)),  # ends the open line
        (b"\n", 0, (0, 0)),  # an empty line
        (b"a\n\nb\nc", 0, (2, 1)),
        (b"\n\n\n", 0, (0, 0)),
        (b"\na\n", 3, (2, 0)),
    ],
)
def test_lines_are_counted_in_the_new_piece_only(piece, pending, ended) -> None:
    assert stream._ended_lines(piece, pending) == ended


def test_choosing_a_model_shares_the_probes_deadline(monkeypatch) -> None:
    """Many models whose /api/show is slow: the probe gives up at its deadline, naming the
    models it asked, instead of asking each in turn with a bound of its own."""
    from compliance.transport import http

    ticks = iter(range(0, 1000, 40))  # every /api/show takes 40 s

    def clock() -> float:
        return float(next(ticks))

    monkeypatch.setattr(http, "fetch", lambda *a: (0, 'HTTP 200\n{"capabilities": ["embedding"]}'))
    models = [f"m{n}" for n in range(9)]
    rc, said = stream.probe("http://127.0.0.1:9/api/generate", models, 60, clock)
    assert rc == 1
    assert said.startswith("no model chosen within the probe's 60 s deadline (m0 cannot"), said

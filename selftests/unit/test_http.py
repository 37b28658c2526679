"""HTTP on the runner against hostile servers: bounded in time and bytes, never a traceback."""

from __future__ import annotations

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple

import pytest

from compliance.catalogue.ollama_api import parity_differences, tags_problems
from compliance.facts.http import HttpReply, curl
from compliance.transport.http import MAX_BODY, fetch, request

BIG = 5 * 1024 * 1024
DEADLINE = 1.0


class Hostile(BaseHTTPRequestHandler):
    """One behaviour per path; `stop` ends the slow ones when the test is over."""

    stop = threading.Event()
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def head(self, length: int, ctype: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def do_GET(self) -> None:
        # a client that stopped reading (what a byte cap does) breaks the pipe
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            getattr(self, "path_" + self.path.strip("/").replace("-", "_"))()

    def path_tags(self) -> None:
        body = b'{"models":[]}'
        self.head(len(body), "application/json; charset=utf-8")
        self.wfile.write(body)

    def path_latin1(self) -> None:
        body = b"caf\xe9 \xff"
        self.head(len(body), "text/plain")
        self.wfile.write(body)

    def path_trickle(self) -> None:
        """Headers at once, then one body byte every 0.2 s (each read returns in time)."""
        self.head(1000)
        for _ in range(1000):
            if self.stop.wait(0.2):
                return
            self.wfile.write(b"[")
            self.wfile.flush()

    def path_trickle_headers(self) -> None:
        """The status line, then one header byte every 0.2 s: the headers never end."""
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        self.wfile.flush()
        for _ in range(1000):
            if self.stop.wait(0.2):
                return
            self.wfile.write(b"a")
            self.wfile.flush()

    def path_big(self) -> None:
        """5 MiB with its length announced."""
        self.head(BIG)
        chunk = b"x" * 65536
        for _ in range(BIG // len(chunk)):
            self.wfile.write(chunk)

    def path_big_unannounced(self) -> None:
        """5 MiB without a length (HTTP/1.0 style: the body ends when the connection does)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"y" * 65536
        for _ in range(BIG // len(chunk)):
            self.wfile.write(chunk)

    def path_big_chunked(self) -> None:
        """5 MiB in chunked transfer encoding."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"z" * 65536
        for _ in range(BIG // len(chunk)):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up on a capped body resets the connection: expected


@pytest.fixture(scope="module")
def server():
    """A hostile HTTP server on 127.0.0.1 (port chosen by the kernel)."""
    Hostile.stop.clear()
    httpd = QuietServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    Hostile.stop.set()
    httpd.shutdown()
    httpd.server_close()


class Fetched(NamedTuple):
    """What `fetch` returned, as a shell command's exit code and output."""

    rc: int
    output: str


def timed_fetch(url: str, timeout: float = DEADLINE) -> tuple[Fetched, float]:
    started = time.monotonic()
    fact = Fetched(*fetch(url, timeout=timeout))
    return fact, time.monotonic() - started


def test_a_plain_exchange_keeps_its_format(server):
    fact = Fetched(*fetch(f"{server}/tags"))
    assert fact.rc == 0
    assert fact.output == 'HTTP 200 application/json; charset=utf-8\n{"models":[]}'
    assert request(f"GET {server}/tags") == fetch(f"{server}/tags")  # a runner fact's command


def test_a_non_utf8_body_is_decoded_with_replacement(server):
    fact = Fetched(*fetch(f"{server}/latin1"))
    assert fact.output == "HTTP 200 text/plain\ncaf\ufffd \ufffd"


def test_a_server_trickling_its_body_ends_by_the_deadline(server):
    fact, seconds = timed_fetch(f"{server}/trickle")
    assert seconds < DEADLINE + 1
    assert fact.rc != 0
    assert fact.output.startswith(f"timed out: no complete reply within {DEADLINE:g} s (HTTP 200")
    assert "\n" not in fact.output


def test_a_server_trickling_its_headers_ends_by_the_deadline(server):
    fact, seconds = timed_fetch(f"{server}/trickle-headers")
    assert seconds < DEADLINE + 1
    assert fact.rc != 0
    assert fact.output == f"timed out: no complete reply within {DEADLINE:g} s (no HTTP response)"


@pytest.mark.parametrize("path", ["big", "big-unannounced", "big-chunked"])
def test_a_5_mib_body_is_cut_at_the_cap_and_says_so(server, path):
    fact, seconds = timed_fetch(f"{server}/{path}", timeout=10)
    assert seconds < 10
    assert fact.rc == 0
    head, body = fact.output.split("\n", 1)
    assert head == "HTTP 200 application/json"
    assert body.endswith(f"\n... (body cut at {MAX_BODY} bytes)")
    assert len(body) == MAX_BODY + len(f"\n... (body cut at {MAX_BODY} bytes)")
    assert MAX_BODY <= 1024 * 1024


def test_a_refused_connection_is_a_failed_fact():
    fact, seconds = timed_fetch("http://127.0.0.1:9/api/tags")
    assert fact.rc != 0
    assert fact.output.startswith("ConnectionError: ")
    assert seconds < DEADLINE + 1


def test_curl_caps_time_and_bytes():
    command = curl("http://127.0.0.1:11434/api/tags", seconds=7)
    assert "--max-time 7 " in command
    assert f"--max-filesize {MAX_BODY} " in command


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100000,
        "[" * 100000 + "]" * 100000,
        '{"models": ' + "[" * 100000 + "]" * 100000 + "}",
        '{"models": [{"details": ' + '{"a":' * 100000 + "1" + "}" * 100000 + "}]}",
    ],
    ids=["open", "closed", "models", "details"],
)
def test_deeply_nested_json_is_a_problem_not_a_recursion_error(body):
    reply = HttpReply(200, "application/json", body)
    assert tags_problems(reply) == ([], ["body is not JSON (nested too deep)"])
    assert parity_differences(reply, reply) == [
        "direct reply unusable: body is not JSON (nested too deep)"
    ]

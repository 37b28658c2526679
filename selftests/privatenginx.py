"""A private nginx for differential tests: its own prefix directory, loopback high ports only.

The real nginx of this machine (port 80, /etc/nginx) is never touched: the instance runs in
the foreground from a temporary prefix (`nginx -p DIR -c DIR/nginx.conf -e stderr`), listens
only on 127.0.0.1 ports chosen free from 18080 up, and is stopped (its master, by the pid this
module started) when the `running` block ends, whatever happened inside it.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FIRST_PORT = 18080
LAST_PORT = 18999
MAIN = """\
worker_processes 1;
daemon off;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
{servers}
}}
"""


def available() -> bool:
    """Whether an nginx binary is installed here (the differential tests skip without it)."""
    return shutil.which("nginx") is not None


def free_ports(count: int, first: int = FIRST_PORT) -> list[int]:
    """`count` ports of 127.0.0.1 nobody listens on, from a window of this process (parallel
    test workers start apart, so they do not pick the same free port before nginx binds it)."""
    found: list[int] = []
    window = first + (os.getpid() % 45) * 20
    for port in [*range(window, LAST_PORT + 1), *range(first, window)]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError(f"no {count} free ports between {first} and {LAST_PORT}")


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    headers: dict[str, str]


def request(
    port: int, method: str, uri: str, source: str = "127.0.0.1", body: bytes = b""
) -> Reply:
    """One HTTP/1.1 request to 127.0.0.1:`port`, sent from the loopback address `source`."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=5, source_address=(source, 0)
    )
    try:
        connection.request(method, uri, body=body or None)
        answer = connection.getresponse()
        text = answer.read().decode("utf-8", "replace")
        return Reply(answer.status, text, {k.lower(): v for k, v in answer.getheaders()})
    finally:
        connection.close()


@contextlib.contextmanager
def running(servers: str, ports: list[int]) -> Iterator[Path]:
    """An nginx serving these `server` blocks (each listening on 127.0.0.1:<one of ports>),
    stopped on exit; yields its prefix directory. `nginx -t` runs first, so a config it
    refuses fails here with nginx's own line."""
    with tempfile.TemporaryDirectory(prefix="private-nginx-") as tmp:
        prefix = Path(tmp)
        prefix.chmod(0o755)  # the workers (nobody) find no file under it: 404, not 403
        conf = prefix / "nginx.conf"
        conf.write_text(MAIN.format(dir=prefix, servers=servers))
        command = ["nginx", "-p", str(prefix), "-c", str(conf), "-e", "stderr"]
        options = ["-g", f"pid {prefix}/nginx.pid; error_log stderr;"]
        tested = subprocess.run(
            [*command, *options, "-t"], capture_output=True, text=True, timeout=20, check=False
        )
        if tested.returncode != 0:
            raise RuntimeError(f"nginx -t refused the private config: {tested.stderr.strip()}")
        master = subprocess.Popen(
            [*command, *options], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            _wait_listening(ports, master)
            yield prefix
        finally:
            master.terminate()  # SIGTERM to the master we started: it stops its workers
            try:
                master.wait(timeout=10)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait(timeout=10)
            if master.stderr is not None:
                master.stderr.close()


def _wait_listening(ports: list[int], master: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    waiting = set(ports)
    while waiting:
        if master.poll() is not None:
            error = master.stderr.read().decode() if master.stderr else ""
            raise RuntimeError(f"the private nginx exited {master.returncode}: {error.strip()}")
        for port in list(waiting):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    waiting.discard(port)
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"the private nginx does not listen on {sorted(waiting)}")
        time.sleep(0.02)


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers every request 200, saying in headers what reached it (method, URI, headers)."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("X-Seen", f"{self.command} {self.path}")
        for name in ("Host", "X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto", "Connection"):
            self.send_header(f"X-Seen-{name}", self.headers.get(name, "-"))
        self.send_header("Content-Length", "2")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b"ok")

    do_GET = do_POST = do_HEAD = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the headers, not a log."""


@contextlib.contextmanager
def upstream(port: int) -> Iterator[None]:
    """A stand-in upstream on 127.0.0.1:`port` that echoes what reached it, stopped on exit."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

"""Long-lived helper processes of the differential test: a shell on the server side (one per
run, so loading a ruleset costs one `nft -f`, not a process start), and a client agent that
tries many TCP connections at once and says what the kernel answered to each."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import time
import uuid
from typing import Any

# The client agent: one JSON line in (tries, timeout), one JSON line out (an answer per try:
# connected, refused, timeout, or the errno's name). Connected means the SYN was answered by a
# SYN-ACK: the handshake completed, even if a later packet was reset (ECONNRESET: a ruleset may
# accept `ct state new` and reject what follows; the judgement is about the new connection).
# Sockets close with a reset (linger 0), so no TIME_WAIT piles up between rulesets.
AGENT = r"""
import errno, json, selectors, socket, struct, sys, time

def attempt(tries, timeout):
    answers = [None] * len(tries)
    sel = selectors.DefaultSelector()
    for i, (family, source, target, scope, port) in enumerate(tries):
        s = socket.socket(socket.AF_INET if family == 4 else socket.AF_INET6)
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        index = socket.if_nametoindex(scope) if scope else 0
        try:
            if family == 4:
                s.bind((source, 0))
                err = s.connect_ex((target, port))
            else:
                s.bind((source, 0, 0, index))
                err = s.connect_ex((target, port, 0, index))
        except OSError as e:
            err = e.errno
        if err == errno.EINPROGRESS:
            sel.register(s, selectors.EVENT_WRITE, i)
            continue
        answers[i] = "connected" if err == 0 else errno.errorcode.get(err, str(err))
        s.close()
    deadline = time.monotonic() + timeout
    while sel.get_map():
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for key, _ in sel.select(left):
            err = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            # a reset after the handshake (a later packet rejected) still answered the SYN
            answers[key.data] = "connected" if err in (0, errno.ECONNRESET) else (
                "refused" if err == errno.ECONNREFUSED else errno.errorcode.get(err, str(err)))
            sel.unregister(key.fileobj)
            key.fileobj.close()
    for key in list(sel.get_map().values()):
        answers[key.data] = "timeout"
        sel.unregister(key.fileobj)
        key.fileobj.close()
    return answers

print("ready", flush=True)
for line in sys.stdin:
    asked = json.loads(line)
    print(json.dumps(attempt(asked["tries"], asked["timeout"])), flush=True)
"""

# The server's listener on 11434, IPv4 and IPv6 (one dual-stack socket), accepting and
# closing so its queue never fills.
LISTENER = r"""
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 11434))
s.listen(1024)
while True:
    c, _ = s.accept()
    c.close()
"""


class HelperError(Exception):
    """A helper process failed or did not answer in time."""


class Lines:
    """A child process spoken to in lines, each read with a deadline."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.buffer = b""
        self.selector = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise HelperError(f"{self.argv[:4]} has exited: {self.buffer.decode()}") from exc

    def line(self, timeout: float) -> str:
        """The next line (without its newline)."""
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self.selector.select(left):
                raise HelperError(f"no answer in {timeout}s from {self.argv[:4]}")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise HelperError(f"{self.argv[:4]} has exited: {self.buffer.decode()[-500:]}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode(errors="replace")

    def close(self) -> None:
        """End the process (it is ours), waiting briefly."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.selector.close()


class Shell(Lines):
    """A `sh` kept open (in a namespace, or a CT through lxc-attach): scripts run one after
    another, each answering its exit status and output."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__([*argv, "sh"])

    def run(self, script: str, timeout: float = 30) -> tuple[int, str]:
        marker = f"@@done-{uuid.uuid4().hex}"
        self.send(
            f"{{\n{script}\n}} </dev/null 2>&1\nnftdiff_rc=$?; echo; echo {marker} $nftdiff_rc\n"
        )
        out: list[str] = []
        while True:
            line = self.line(timeout)
            if line.startswith(marker):
                if out and out[-1] == "":
                    out.pop()  # the newline the marker's `echo` added
                return int(line.split()[1]), "\n".join(out)
            out.append(line)

    def must(self, script: str, timeout: float = 30) -> str:
        rc, out = self.run(script, timeout)
        if rc != 0:
            raise HelperError(f"exit {rc}: {script[:120]}: {out[-500:]}")
        return out


class Agent(Lines):
    """The client agent, started with `argv` (e.g. `ip netns exec <ns>`)."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__([*argv, "python3", "-u", "-c", AGENT])
        if self.line(20) != "ready":
            raise HelperError("the client agent did not start")

    def attempt(self, tries: list[tuple[int, str, str, str, int]], timeout: float) -> list[str]:
        """The kernel's answer to each try (family, source, target, scope, port)."""
        self.send(json.dumps({"tries": tries, "timeout": timeout}) + "\n")
        answers: Any = json.loads(self.line(timeout + 10))
        return [str(answer) for answer in answers]

"""The Ollama stand-in (lab/standin/ollama) where the suite looks, run here as a process: its
start order (`Listening on` before HTTP answers), a cold model's load, capabilities, and how
it reports a missing $HOME and a taken port (as Ollama's cmd.go does: `Error: ...`, exit 1)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

STANDIN = Path(__file__).resolve().parents[2] / "lab" / "standin" / "ollama"
MODELS = [
    {"name": "llama3.2:1b", "modified_at": "2026-10-14T09:12:41Z"},
    {"name": "nomic-embed-text:latest", "capabilities": ["embedding"]},
    {"name": "gpt-oss:120b-cloud", "remote_model": "gpt-oss:120b", "remote_host": "ollama.com"},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(home: Path, port: int, **knobs: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "OLLAMA_HOST": f"127.0.0.1:{port}",
        **knobs,
    }


@pytest.fixture
def home(tmp_path: Path) -> Path:
    models = tmp_path / ".ollama" / "models"
    models.mkdir(parents=True)
    (models / "standin-models.json").write_text(json.dumps(MODELS))
    return tmp_path


def _serve(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(STANDIN), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_listening(proc: subprocess.Popen[str]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        if "Listening on" in line:
            return
    raise AssertionError("no `Listening on` line")


@pytest.fixture
def server(home: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    proc = _serve(_env(home, port, OLLAMA_STANDIN_STARTUP_DELAY="0.8"))
    try:
        _wait_listening(proc)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(5)


def _post(url: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_http_answers_only_after_the_startup_delay_that_follows_listening_on(server):
    base, _ = server
    began = time.monotonic()
    with urllib.request.urlopen(base + "/", timeout=10) as reply:  # waits in the backlog
        assert reply.read() == b"Ollama is running"
    assert 0.5 < time.monotonic() - began < 5


def test_capabilities_and_what_cannot_generate(server):
    base, _ = server
    assert _post(base + "/api/show", {"model": "llama3.2:1b"})[1]["capabilities"] == ["completion"]
    show = _post(base + "/api/show", {"model": "nomic-embed-text"})[1]
    assert show["capabilities"] == ["embedding"]
    status, body = _post(base + "/api/generate", {"model": "nomic-embed-text", "prompt": "hi"})
    assert (status, body) == (400, {"error": '"nomic-embed-text" does not support generate'})
    status, _ = _post(base + "/api/generate", {"model": "gpt-oss:120b-cloud", "prompt": "hi"})
    assert status == 502


def test_a_cold_model_loads_once_before_its_first_answer(home):
    port = _free_port()
    proc = _serve(_env(home, port, OLLAMA_STANDIN_STARTUP_DELAY="0", OLLAMA_STANDIN_LOAD_DELAY="1"))
    try:
        _wait_listening(proc)
        url = f"http://127.0.0.1:{port}/api/generate"
        began = time.monotonic()
        status, body = _post(url, {"model": "llama3.2:1b", "stream": False})  # the warm-up
        cold = time.monotonic() - began
        assert (status, body["done_reason"]) == (200, "load")
        began = time.monotonic()
        assert _post(url, {"model": "llama3.2:1b", "prompt": "hi", "stream": False})[0] == 200
        assert cold >= 1 > time.monotonic() - began
    finally:
        proc.terminate()
        proc.wait(5)


def test_missing_home_is_an_error_line_and_exit_1(home):
    env = _env(home, _free_port())
    del env["HOME"]
    run = subprocess.run(
        [sys.executable, str(STANDIN), "serve"], env=env, capture_output=True, text=True
    )
    assert (run.returncode, run.stderr.splitlines()[-1]) == (1, "Error: $HOME is not defined")


def test_a_taken_port_is_ollamas_bind_error_and_exit_1(home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, str(STANDIN), "serve"],
            env=_env(home, port),
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1] == (
        f"Error: listen tcp 127.0.0.1:{port}: bind: address already in use"
    )


def test_the_streaming_probe_skips_what_cannot_generate_and_loads_first(home):
    """compliance.transport.stream.probe against the stand-in: the embedding-only and the
    cloud model are skipped, the model is loaded (1 s) before the timed stream, which so
    starts at once."""
    from compliance.transport import stream

    port = _free_port()
    proc = _serve(_env(home, port, OLLAMA_STANDIN_STARTUP_DELAY="0", OLLAMA_STANDIN_LOAD_DELAY="1"))
    try:
        _wait_listening(proc)
        url = f"http://127.0.0.1:{port}/api/generate"
        rc, said = stream.probe(url, ["nomic-embed-text:latest", "gpt-oss:120b-cloud"])
        assert (rc, said) == (
            0,
            "skipped: nomic-embed-text:latest cannot generate (capabilities: embedding);"
            " gpt-oss:120b-cloud is a cloud model (proxied to ollama.com)",
        )
        rc, said = stream.probe(url, ["nomic-embed-text:latest", "llama3.2:1b"])
    finally:
        proc.terminate()
        proc.wait(5)
    assert rc == 0, said
    assert said.endswith(" model llama3.2:1b"), said
    first = float(said.split(" first ")[1].split()[0])
    assert first < 0.5, said  # the load happened before the timed request

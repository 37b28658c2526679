"""HTTP facts: curl replies in the container (body + trailer), the runner's requests through
the proxy, and the streaming probe: output in, typed value out."""

from __future__ import annotations

import pytest

from compliance.facts import Scope, http
from compliance.facts.http import (
    DirectTags,
    DirectVersion,
    HttpReply,
    ProxiedDelete,
    ProxiedPs,
    ProxiedTags,
    ProxiedVersion,
    ReachFromRunner,
)
from compliance.facts.stream import ProxiedStream
from selftests.unit import samples

SCOPE = samples.default_scope()
PROXY = f"http://{samples.HOST_ADDRESS}/ollama/"


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        (
            '{"models":[]}\n@@http 200 application/json; charset=utf-8',
            HttpReply(200, "application/json; charset=utf-8", '{"models":[]}'),
        ),
        (
            "Ollama is running\n@@http 200 text/plain; charset=utf-8",
            HttpReply(200, "text/plain; charset=utf-8", "Ollama is running"),
        ),
        (
            samples.NGINX_502 + "\n@@http 502 text/html",
            HttpReply(502, "text/html", samples.NGINX_502),
        ),
        (
            "404 page not found\n@@http 404 text/plain",
            HttpReply(404, "text/plain", "404 page not found"),
        ),
        ("\n@@http 204 ", HttpReply(204, "", "")),
        (
            "line one\n@@http 7 lines\n@@http 200 application/json",
            HttpReply(200, "application/json", "line one\n@@http 7 lines"),
        ),
    ],
    ids=["json", "root", "502-html", "404", "no-content", "last-trailer-wins"],
)
def test_curl_reply(text, reply):
    assert http.curl_reply(text) == reply
    assert DirectTags.parse(0, text).reply == reply  # the container's facts read curl's output


@pytest.mark.parametrize(
    "text",
    [
        "curl: (7) Failed to connect to 127.0.0.1 port 11434 after 0 ms: Couldn't connect to "
        "server\n@@http 000 ",
        "\n@@http 000 curl: (28) Operation timed out after 5001 milliseconds with 0 bytes received",
        "sh: 1: curl: not found",
        "",
        "@@http 200 application/json",  # trailer without the newline before it
    ],
    ids=["refused", "timeout", "no-curl", "empty", "no-newline"],
)
def test_curl_reply_none_without_an_http_exchange(text):
    assert http.curl_reply(text) is None
    assert DirectVersion.parse(7, text).reply is None


def test_curl_command_and_parser_agree_on_the_trailer():
    command = http.curl("http://127.0.0.1:11434/api/tags")
    assert "@@http %{http_code} %{content_type}" in command
    reply = http.curl_reply('{"models":[]}\n' + http.TRAILER + " 200 x/y")
    assert reply is not None
    assert reply.status == 200


def test_curl_is_bounded_like_the_runners_requests():
    from compliance.transport.http import MAX_BODY

    command = http.curl("http://127.0.0.1:11434/api/tags", seconds=5)
    assert "--max-time 5 " in command
    assert f"--max-filesize {MAX_BODY} " in command
    assert command.endswith(" http://127.0.0.1:11434/api/tags")


def test_direct_facts_ask_the_plans_port_on_loopback():
    assert DirectTags.command(SCOPE).endswith(" http://127.0.0.1:11434/api/tags")
    assert DirectVersion.command(SCOPE).endswith(" http://127.0.0.1:11434/api/version")


@pytest.mark.parametrize(
    ("rc", "output", "reply"),
    [
        (
            0,
            "HTTP 200 application/json; charset=utf-8\n" + samples.tags_body(samples.LLAMA),
            HttpReply(200, "application/json; charset=utf-8", samples.tags_body(samples.LLAMA)),
        ),
        (
            0,
            "HTTP 502 text/html\n" + samples.NGINX_502,
            HttpReply(502, "text/html", samples.NGINX_502),
        ),
        (0, "HTTP 204\n", HttpReply(204, "", "")),
        (0, "HTTP 200 text/plain\nfirst\nsecond", HttpReply(200, "text/plain", "first\nsecond")),
        (
            1,
            "ConnectionError: HTTPConnectionPool(host='10.0.0.2', port=80): Max retries exceeded",
            None,
        ),
        (1, "timed out: no complete reply within 10 s (no HTTP response)", None),
        (0, "HTTPS 200 text/plain\nx", None),
        (1, "HTTP 200 text/plain\nan rc that disagrees", None),
    ],
    ids=["tags", "502", "no-type", "multi-line", "refused", "timeout", "garbled", "rc1"],
)
def test_runner_reply(rc, output, reply):
    assert http.runner_reply(rc, output) == reply
    assert ProxiedTags.parse(rc, output).reply == reply  # runner facts read the runner's lines


def test_runner_facts_ask_through_the_sites_proxy_url():
    assert ProxiedTags.command(SCOPE) == f"GET {PROXY}api/tags"
    assert ProxiedVersion.command(SCOPE) == f"GET {PROXY}api/version"
    assert ProxiedPs.command(SCOPE) == f"GET {PROXY}api/ps"
    assert ProxiedDelete.command(SCOPE) == f"DELETE {PROXY}api/delete"
    assert ReachFromRunner.command(SCOPE, "10.0.3.55") == "TRY 10.0.3.55 11434 2"
    link_local = ReachFromRunner.command(SCOPE, "fe80::1", "10.0.3.55")
    assert link_local == "TRY fe80::1 11434 2 10.0.3.55"


def test_a_runner_request_is_about_one_container():
    with pytest.raises(AssertionError):
        ProxiedTags.command(Scope(SCOPE.settings))


@pytest.mark.parametrize(
    ("rc", "output", "value"),
    [
        (0, "status 200 chunks 42 first 0.214 last 3.902", (True, 200, 42, 0.214, 3.902)),
        (0, "status 200 chunks 1 first 3.900 last 3.902\n", (True, 200, 1, 3.9, 3.902)),
        (1, "ReadTimeout: HTTPConnectionPool(host='10.0.0.2', port=80): Read timed out.", None),
        (0, "HTTP 200 application/x-ndjson\n{}", None),
        (1, "status 200 chunks 42 first 0.214 last 3.902", None),
    ],
    ids=["streamed", "buffered", "timeout", "garbled", "rc1"],
)
def test_proxied_stream(rc, output, value):
    stream = ProxiedStream.parse(rc, output)
    if value is None:
        assert stream == ProxiedStream(False)
    else:
        got = (stream.answered, stream.status, stream.chunks, stream.first, stream.last)
        assert got == pytest.approx(value)


@pytest.mark.parametrize(
    ("chunks", "first", "last", "streamed"),
    [
        (42, 0.2, 3.9, True),
        (42, 3.8, 3.9, False),  # held back by a buffer: every chunk came at the end
        (2, 0.1, 3.9, False),  # too few chunks to tell
        (3, 1.0, 2.0, False),  # the first chunk at half-time is not early enough
    ],
)
def test_proxied_stream_streamed(chunks, first, last, streamed):
    assert ProxiedStream(True, 200, chunks, first, last).streamed is streamed


def test_proxied_stream_command_names_the_model():
    assert ProxiedStream.command(SCOPE, "llama3.2:1b") == f"STREAM {PROXY}api/generate llama3.2:1b"

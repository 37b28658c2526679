"""curl replies (body + trailer) and the service journal: facts in, values out."""

from __future__ import annotations

import pytest

from compliance import parsers, probes
from compliance.parsers import HttpReply
from selftests.unit import samples


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
    assert parsers.curl_reply(text) == reply


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
    assert parsers.curl_reply(text) is None


def test_curl_command_and_parser_agree_on_the_trailer():
    command = probes.curl("http://127.0.0.1:11434/api/tags")
    assert "@@http %{http_code} %{content_type}" in command
    assert parsers.curl_reply('{"models":[]}\n' + probes.HTTP_TRAILER + " 200 x/y").status == 200


@pytest.mark.parametrize(
    ("text", "listening", "errors"),
    [
        (samples.JOURNAL_OK, True, []),
        ("", False, []),
        (samples.JOURNAL_BIND, False, [samples.JOURNAL_BIND.strip()]),
        (samples.JOURNAL_PANIC, False, ["panic: $HOME is not defined"]),
        (samples.JOURNAL_PERMISSION, False, [samples.JOURNAL_PERMISSION.strip()]),
        (
            samples.JOURNAL_OK + samples.JOURNAL_BIND,
            True,
            [samples.JOURNAL_BIND.strip()],
        ),
        (
            'time=2026-11-02T16:50:01.2Z level=WARN source=x.go:1 msg="no compatible GPUs"\n'
            + samples.JOURNAL_OK,
            True,
            [],
        ),
    ],
    ids=["healthy", "empty", "bind", "panic", "permission", "restart-then-bind", "warn-only"],
)
def test_journal_problems(text, listening, errors):
    assert parsers.journal_problems(text) == (listening, errors)

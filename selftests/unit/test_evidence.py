"""Evidence: excerpts of outputs, facts as report text, and the failure a check raises."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pytest

from compliance.facts import Observation as Fact
from compliance.report.evidence import (
    EXCERPT_CHARS,
    EXCERPT_LINES,
    LINE_CHARS,
    CheckFailed,
    EvidenceLog,
    ReportedFailure,
    clip,
    describe,
    excerpt,
    neutralise,
)
from compliance.report.extras import attach_html
from selftests.unit import samples

NGINX_T = Fact("nginx_t", "pve", "nginx -t", 1, samples.NGINX_T_BOGUS.rstrip("\n"))
STATUS = Fact("ct_status_955", "pve", "pct status 955", 0, "status: running")


@pytest.mark.parametrize(
    ("text", "lines", "shown"),
    [
        ("", 12, "(no output)"),
        ("\n", 12, "(no output)"),
        ("a\nb\n", 12, "a\nb"),
        ("a\nb\nc", 2, "... (1 earlier lines)\nb\nc"),
        (
            "\n".join(str(n) for n in range(1, 21)),
            12,
            "... (8 earlier lines)\n" + "\n".join(str(n) for n in range(9, 21)),
        ),
        ("x\ny\n", 2, "x\ny"),
    ],
    ids=["empty", "newline", "short", "cut", "twenty", "exactly"],
)
def test_excerpt(text, lines, shown):
    assert excerpt(text, lines) == shown


def test_describe_shows_where_command_exit_and_output():
    assert describe(NGINX_T) == (
        "[pve] $ nginx -t\n"
        "  exit 1\n"
        '  | nginx: [emerg] unknown directive "bogus" in /etc/nginx/sites-enabled/zz:3\n'
        "  | nginx: configuration file /etc/nginx/nginx.conf test failed"
    )


def test_describe_shows_the_label_of_a_long_script():
    fact = Fact("nginx_state", "pve", "pid=$(cat /run/nginx.pid)\n...", 0, "master 812", "nginx")
    assert describe(fact).splitlines()[0] == "[pve] $ nginx"


def test_describe_empty_output():
    assert describe(Fact("x", "ct955", "true", 0, "")).endswith("  exit 0\n  | (no output)")


def test_evidence_log_keeps_each_fact_once_in_order_then_notes():
    log = EvidenceLog()
    log.add(STATUS)
    log.add(NGINX_T)
    log.add(STATUS)
    log.notes.append("container IP 10.0.3.55: from pct config net0")
    assert log.facts == [STATUS, NGINX_T]
    text = log.text()
    assert text.index("pct status 955") < text.index("nginx -t")
    assert text.endswith("container IP 10.0.3.55: from pct config net0")
    assert EvidenceLog().text() == ""


def test_check_failed_is_an_assertion_with_the_whole_story():
    failure = CheckFailed("syntax is ok, test is successful", "unknown directive", [NGINX_T])
    assert isinstance(failure, ReportedFailure)
    assert isinstance(failure, AssertionError)
    lines = str(failure).splitlines()
    assert lines[0] == "expected: syntax is ok, test is successful"
    assert lines[1] == "found:    unknown directive"
    assert lines[2] == "[pve] $ nginx -t"
    assert (failure.expected, failure.found, failure.evidence) == (
        "syntax is ok, test is successful",
        "unknown directive",
        [NGINX_T],
    )


# -- hostile output: escape sequences, control characters, huge lines ---------------------

UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mFAILED\x1b[0m ok", "\\x1b[31mFAILED\\x1b[0m ok"),
        ("\x1b]0;pwned\x07title", "\\x1b]0;pwned\\x07title"),
        ("\x1b[2J\x1b[Hclear", "\\x1b[2J\\x1b[Hclear"),
        ("\x9b31mC1 CSI", "\\x9b31mC1 CSI"),
        ("status: failed\rstatus: ok    ", "status: failed\\rstatus: ok    "),
        ("a\x00b\x08c\x7fd", "a\\x00b\\x08c\\x7fd"),
        ("form\x0cfeed\x0bvt\x1cfs\x85nel", "form\\x0cfeed\\x0bvt\\x1cfs\\x85nel"),
        ("user\u202e\u2066txt.exe", "user\\u202e\\u2066txt.exe"),
        ("line\u2028sep", "line\\u2028sep"),
        ("byte \udcff kept by surrogateescape", "byte \\xff kept by surrogateescape"),
        ("caf\ufffd \ufffd replaced bytes", "caf\ufffd \ufffd replaced bytes"),
        ("café, 模型, tab\there", "café, 模型, tab\there"),
    ],
    ids=[
        "ansi-colour",
        "osc-title",
        "clear-screen",
        "c1-csi",
        "cr-overwrite",
        "c0-del",
        "other-breaks",
        "bidi",
        "line-separator",
        "surrogate",
        "replacement-char",
        "printable",
    ],
)
def test_control_characters_are_shown_escaped(text, shown):
    assert neutralise(text) == shown
    assert excerpt(text) == shown
    fact = Fact("x", "ct955", "cat /etc/profile.d/ollama.sh", 0, text)
    assert describe(fact).endswith(f"  | {shown}")


def test_cr_overwrites_do_not_hide_lines_but_crlf_ends_them():
    assert excerpt("one\r\ntwo\r\n") == "one\ntwo"
    assert excerpt("10%\r50%\r100%\n") == "10%\\r50%\\r100%"
    assert excerpt("\r\n") == "(no output)"


def test_describe_neutralises_where_and_command_too():
    fact = Fact("x", "ct\x1b[8m955", "GET http://h/\x1b[2J", 0, "ok", "")
    assert describe(fact).splitlines()[0] == "[ct\\x1b[8m955] $ GET http://h/\\x1b[2J"


def test_a_line_of_millions_of_characters_is_cut_and_marked():
    text = "x" * 3_000_000
    started = time.monotonic()
    shown = excerpt(text)
    assert time.monotonic() - started < 1
    assert shown == "x" * LINE_CHARS + f" ... ({3_000_000 - LINE_CHARS} more characters)"
    assert len(describe(Fact("x", "runner", "GET /", 0, text))) < 600


def test_many_long_lines_are_capped_by_characters_and_marked():
    text = "\n".join(f"{n:04d}" + "y" * 2000 for n in range(1, 1001))
    shown = excerpt(text)
    assert len(shown) <= EXCERPT_CHARS
    rows = shown.split("\n")
    assert all(len(row) <= LINE_CHARS + 40 for row in rows)
    kept = len(rows) - 1
    assert rows[0] == f"... ({1000 - kept} earlier lines)"
    assert rows[-1].startswith("1000yyy")
    assert rows[-1].endswith(f" ... ({2004 - LINE_CHARS} more characters)")
    assert 1 < kept < EXCERPT_LINES


def test_a_cut_never_splits_an_escape():
    shown = clip("\x1b" * 1000)
    assert shown == "\\x1b" * (LINE_CHARS // 4) + f" ... ({1000 - LINE_CHARS // 4} more characters)"
    assert clip("ab\x1b", 4) == "ab ... (1 more characters)"


def test_check_failed_neutralises_and_caps_expected_and_found():
    found = "\x1b[32mactive\x1b[0m\r" + "z" * 1_000_000
    failure = CheckFailed("active (running)\x07", found, [])
    expected_line, found_line = str(failure).split("\n")
    assert expected_line == "expected: active (running)\\x07"
    assert found_line.startswith("found:    \\x1b[32mactive\\x1b[0m\\rzzz")
    assert found_line.endswith(" more characters)")
    assert len(found_line) < EXCERPT_CHARS + 60
    assert failure.found == found  # the raw value stays on the exception


def test_evidence_text_and_html_carry_no_control_characters():
    log = EvidenceLog()
    log.add(Fact("tags", "runner", "GET /", 0, "HTTP 200 \x1b[5m\nbody\x1b[0m\r\x9b"))
    log.notes.append("note \x1b[1mbold")
    text = log.text()
    assert not UNSAFE.search(text)
    report = SimpleNamespace(extras=[])
    attach_html(report, "evidence", "Evidence", text)  # type: ignore[arg-type]
    assert not UNSAFE.search(report.extras[0]["content"])
    assert "\\x1b[5m" in report.extras[0]["content"]

"""Evidence: excerpts of outputs, facts as report text, and the failure a check raises."""

from __future__ import annotations

import pytest

from compliance.evidence import CheckFailed, EvidenceLog, ReportedFailure, describe, excerpt
from compliance.facts import Fact
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

"""Fix plumbing: the unified diff a plan shows and the bounded wait after a change."""

from __future__ import annotations

import time

import pytest

from remediation.base import Plan, unified_diff, wait_until


@pytest.mark.parametrize(
    ("old", "new", "diff"),
    [
        ("a\n", "a\n", ""),
        (None, None, ""),
        (None, "a\n", "--- /dev/null\n+++ /etc/x\n@@ -0,0 +1 @@\n+a"),
        ("a\n", None, "--- /etc/x\n+++ /dev/null\n@@ -1 +0,0 @@\n-a"),
        ("a\nb\n", "a\nc\n", "--- /etc/x\n+++ /etc/x\n@@ -1,2 +1,2 @@\n a\n-b\n+c"),
        ("a", "b", "--- /etc/x\n+++ /etc/x\n@@ -1 +1 @@\n-a\n+b"),  # no final newline
        ("", "a\n", "--- /etc/x\n+++ /etc/x\n@@ -0,0 +1 @@\n+a"),  # empty file is not absent
    ],
    ids=["same", "both-absent", "create", "remove", "change", "no-eol", "empty-file"],
)
def test_unified_diff(old, new, diff):
    assert unified_diff("/etc/x", old, new) == diff


def test_plan_text_and_emptiness():
    assert Plan().empty
    plan = Plan(
        diffs=[unified_diff("/etc/x", None, "a\n")], commands=["nginx -t", "nginx -s reload"]
    )
    assert not plan.empty
    assert plan.text().splitlines()[-2:] == ["$ nginx -t", "$ nginx -s reload"]
    assert plan.text().startswith("--- /dev/null\n")


def test_wait_until_good_at_once_does_not_sleep():
    calls = []
    began = time.monotonic()
    assert wait_until(lambda: calls.append(1), seconds=5, every=1) is None
    assert calls == [1]
    assert time.monotonic() - began < 0.5


def test_wait_until_polls_until_good():
    answers = iter(["not listening", "not listening", None])
    calls = []

    def check():
        calls.append(1)
        return next(answers)

    assert wait_until(check, seconds=5, every=0.01) is None
    assert len(calls) == 3


def test_wait_until_gives_up_with_the_last_reason():
    count = []

    def check():
        count.append(1)
        return f"reload not in effect yet ({len(count)})"

    began = time.monotonic()
    reason = wait_until(check, seconds=0.2, every=0.05)
    spent = time.monotonic() - began
    assert reason == f"reload not in effect yet ({len(count)})"
    assert 0.2 <= spent < 1.0
    assert 3 <= len(count) <= 8

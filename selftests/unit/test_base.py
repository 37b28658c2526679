"""Fix plumbing: the unified diff a plan shows and the bounded wait after a change."""

from __future__ import annotations

import time

import pytest

from compliance.facts.store import GatherError
from remediation.base import CHANGED, FAILED, Fix, FixError, Plan, unified_diff, wait_until


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


# -- apply, verify, roll back: any error after a change is rolled back ---------------------


class _Remote:
    def __init__(self):
        self.steps = []


class _Ct:
    label = "pve-ct955"
    host = type("Host", (), {"label": "pve"})()


class _Context:
    """Just what Fix.run touches; the checks are replaced by `unverified`."""

    def __init__(self):
        self.target, self.dry_run = _Ct(), False
        self.ct, self.host = _Remote(), _Remote()
        self.refreshed = 0

    def refresh(self):
        self.refreshed += 1


class _Scripted(Fix):
    name, target = "scripted", "ct"

    def __init__(self, apply, unverified=None, keeps=None):
        self.apply, self.verdict, self.keeps, self.undone = apply, unverified, keeps, []

    def plan(self, ctx):
        return Plan(
            commands=["change it"],
            apply=self.apply,
            rollback=lambda: self.undone.append("rolled back") or "restored the old state",
            settle_s=0.2,
            keeps=self.keeps,
        )

    def unverified(self, ctx):
        return self.verdict


def _raise(error):
    def apply():
        raise error

    return apply


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("paramiko: Socket is closed"),
        UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte"),
        RecursionError("maximum recursion depth exceeded"),
        GatherError("ct 955: probes did not run (exit 124)"),
        FixError("restart failed"),
    ],
    ids=["transport", "decode", "recursion", "gather", "fix-error"],
)
def test_any_error_mid_fix_is_rolled_back_and_reported_in_one_line(error):
    fix = _Scripted(_raise(error))
    outcome = fix.run(_Context())
    assert outcome.status == FAILED
    assert fix.undone == ["rolled back"]
    assert "restored the old state" in outcome.message
    assert "\n" not in outcome.message


def test_a_change_never_verified_is_rolled_back():
    fix = _Scripted(lambda: None, unverified="unit_active: expected active (running)")
    outcome = fix.run(_Context())
    assert outcome.status == FAILED
    assert outcome.message.startswith("not verified 0s after the change: unit_active")
    assert fix.undone == ["rolled back"]


def test_a_change_that_loses_something_is_rolled_back():
    fix = _Scripted(lambda: None, keeps=lambda: "the service no longer serves llama3.2:1b")
    outcome = fix.run(_Context())
    assert outcome.status == FAILED
    assert "no longer serves llama3.2:1b; restored the old state" in outcome.message


def test_an_interrupt_mid_fix_is_rolled_back_and_let_through():
    fix = _Scripted(_raise(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        fix.run(_Context())
    assert fix.undone == ["rolled back"]


def test_a_verified_change_is_not_rolled_back():
    fix = _Scripted(lambda: None)
    outcome = fix.run(_Context())
    assert outcome.status == CHANGED
    assert outcome.message == "applied and verified"
    assert fix.undone == []

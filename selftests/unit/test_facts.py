"""Batched facts: one /bin/sh script per target, framed output, cached until invalidated."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import testinfra

from compliance import probes
from compliance.backends import run_text
from compliance.facts import Fact, FactStore, GatherError, Probe, batch_script, parse_batch

MARKER = "5f3a9c1e02bd"


@pytest.mark.parametrize(
    ("command", "rc", "output"),
    [
        ("echo hello", 0, "hello"),
        ("printf 'no newline'", 0, "no newline"),
        ("true", 0, ""),
        ("false", 1, ""),
        ("exit 42", 42, ""),
        ("echo out; echo err >&2; exit 3", 3, "out\nerr"),
        ("printf 'a\\n\\nb\\n\\n'", 0, "a\n\nb\n"),
        ("cat", 0, ""),  # stdin is /dev/null: a reader does not hang the batch
        ("echo done # a trailing comment", 0, "done"),
        ("printf '%s\\n' \"it's\" 'two words'", 0, "it's\ntwo words"),
        ("echo '@@0123456789ab other'", 0, "@@0123456789ab other"),
        ("set -e; false; echo unreachable", 1, ""),
        ("no-such-command-here 2>&1 | sed 's/.*not found.*/missing/'", 0, "missing"),
        (
            "printf '%s\\n%s' '{\"models\":[]}' '@@http 200 application/json'",
            0,
            '{"models":[]}\n@@http 200 application/json',
        ),
    ],
    ids=[
        "echo",
        "no-newline",
        "silent",
        "false",
        "exit",
        "stderr-merged",
        "blank-lines",
        "stdin",
        "comment",
        "quotes",
        "marker-like",
        "set-e",
        "pipe",
        "curl-trailer",
    ],
)
def test_batch_round_trip(sh, command, rc, output):
    script = batch_script([Probe("first", "echo 1"), Probe("it", command)], MARKER)
    parsed = parse_batch(sh(script)[1], MARKER)
    assert parsed == {"first": (0, "1"), "it": (rc, output)}


def test_batch_probes_are_isolated_subshells(sh):
    batch = [
        Probe("set_var", "x=changed; cd /; exit 5"),
        Probe("see_var", 'echo "x=${x:-unset} pwd=$(pwd)"'),
    ]
    rc, output = sh("cd /tmp && " + batch_script(batch, MARKER))
    assert rc == 0
    assert parse_batch(output, MARKER) == {"set_var": (5, ""), "see_var": (0, "x=unset pwd=/tmp")}


def test_parse_batch_drops_a_probe_cut_off_before_its_exit_code():
    output = f"@@{MARKER} a\none\n\n@@{MARKER} rc 0\n@@{MARKER} b\npartial outp"
    assert parse_batch(output, MARKER) == {"a": (0, "one")}


def test_parse_batch_ignores_noise_outside_frames():
    output = f"motd banner\n@@{MARKER} a\nyes\n\n@@{MARKER} rc 0\ntrailing noise\n"
    assert parse_batch(output, MARKER) == {"a": (0, "yes")}


def test_parse_batch_other_marker_is_output():
    output = f"@@{MARKER} a\n@@ffffffffffff rc 9\n\n@@{MARKER} rc 0\n"
    assert parse_batch(output, MARKER) == {"a": (0, "@@ffffffffffff rc 9")}


class Counting:
    """A runner that counts its round trips (and can be slowed down)."""

    def __init__(self, run, delay=0.0):
        self.run, self.delay, self.calls = run, delay, 0
        self.lock = threading.Lock()

    def __call__(self, script):
        with self.lock:
            self.calls += 1
        if self.delay:
            threading.Event().wait(self.delay)
        return self.run(script)


def counter_probe(path):
    """A probe whose output says how many times it has run (state in a file)."""
    return Probe(
        "count", f"n=$(cat {path} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {path}; echo $n"
    )


def test_first_get_gathers_every_probe_in_one_round_trip(sh, tmp_path):
    runner = Counting(sh)
    store = FactStore(
        "ct955",
        runner,
        [counter_probe(tmp_path / "n"), Probe("fails", "echo nope; exit 2"), Probe("ok", "echo y")],
    )
    fact = store.get("count")
    assert (runner.calls, store.round_trips) == (1, 1)
    assert fact == Fact("count", "ct955", store.probe("count").command, 0, "1")
    assert store.get("fails") == Fact("fails", "ct955", "echo nope; exit 2", 2, "nope")
    assert not store.get("fails").ok
    assert store.get("ok").ok
    assert store.get("count").output == "1"  # cached, not re-run
    assert (runner.calls, store.round_trips) == (1, 1)


def test_invalidate_makes_the_next_get_see_fresh_state(sh, tmp_path):
    store = FactStore("ct955", sh, [counter_probe(tmp_path / "n")])
    assert store.get("count").output == "1"
    store.invalidate()
    assert store.get("count").output == "2"
    assert store.get("count").output == "2"
    assert store.round_trips == 2


def test_prefetch_then_get_costs_one_round_trip(sh):
    store = FactStore("pve", sh, [Probe("a", "echo a"), Probe("b", "echo b")])
    store.prefetch()
    store.prefetch()
    assert (store.get("a").output, store.get("b").output) == ("a", "b")
    assert store.round_trips == 1


def test_concurrent_gets_share_one_round_trip(sh):
    runner = Counting(sh, delay=0.05)
    names = [f"p{i}" for i in range(8)]
    store = FactStore("pve", runner, [Probe(n, f"echo {n}") for n in names])
    with ThreadPoolExecutor(len(names)) as pool:
        facts = list(pool.map(store.get, names))
    assert [f.output for f in facts] == names
    assert runner.calls == 1


def test_fact_keeps_the_probe_label_for_evidence(sh):
    store = FactStore("pve", sh, [Probe("state", "echo master 812", "nginx state")])
    fact = store.get("state")
    assert (fact.label, fact.shown) == ("nginx state", "nginx state")
    plain = FactStore("pve", sh, [Probe("t", "echo x")]).get("t")
    assert plain.shown == "echo x"


def test_unknown_fact_is_a_key_error(sh):
    store = FactStore("pve", sh, [Probe("a", "echo a")])
    with pytest.raises(KeyError):
        store.get("nope")


@pytest.mark.parametrize(
    ("runner", "words"),
    [
        (
            lambda script: (255, "ssh: connect to host 10.0.0.2 port 22: Connection refused\n"),
            ["pve:", "exit 255", "Connection refused"],
        ),
        (
            lambda script: (255, "container '955' not running!\n"),
            ["exit 255", "not running"],
        ),
        (lambda script: (0, ""), ["exit 0", "(no output)"]),
    ],
    ids=["ssh-down", "ct-stopped", "silent"],
)
def test_gather_error_says_where_and_why(runner, words):
    store = FactStore("pve", runner, [Probe("a", "echo a")])
    with pytest.raises(GatherError) as caught:
        store.get("a")
    for word in words:
        assert word in str(caught.value)


def test_batch_killed_midway_is_a_gather_error_and_retried(sh, tmp_path):
    flag = tmp_path / "killed-once"
    killer = Probe("killer", f"[ -e {flag} ] || {{ touch {flag}; kill -9 $$; }}; echo alive")
    store = FactStore("ct955", sh, [Probe("before", "echo b"), killer, Probe("after", "echo a")])
    with pytest.raises(GatherError, match="exit -9"):
        store.get("after")
    assert store.get("before").output == "b"  # nothing half-cached: the retry ran them all
    assert store.get("killer").output == "alive"
    assert store.round_trips == 2


def test_real_container_probes_run_as_one_batch(sh):
    """The catalogue's probes survive batching even where their tools are missing here."""
    store = FactStore("ct955", sh, probes.ct_probes())
    store.prefetch()
    assert store.round_trips == 1
    names = {p.name for p in probes.ct_probes()}
    assert {name: store.get(name).where for name in names} == dict.fromkeys(names, "ct955")


def test_a_hung_probe_ends_the_batch_at_the_deadline():
    """A probe that never returns does not hang the run: the batch fails, naming it."""
    local = testinfra.get_host("local://")
    store = FactStore(
        "local",
        lambda script: run_text(local, script, deadline=1),
        [Probe("quick", "echo ok"), Probe("hung", "sleep 30")],
    )
    began = time.monotonic()
    with pytest.raises(GatherError, match="timed out before hung finished"):
        store.get("quick")
    assert time.monotonic() - began < 10
    with pytest.raises(GatherError, match="timed out before hung finished"):
        store.get("hung")  # the next check of the target does not wait the deadline again
    assert store.round_trips == 1
    assert time.monotonic() - began < 10

"""Batched facts: one /bin/sh script per target, framed output, two views (audit and live),
and the registry of fact classes."""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import ClassVar, Self

import pytest
import testinfra

from compliance import facts
from compliance.facts import Fact, Observation, Scope, batch_facts
from compliance.facts.http import ProxiedTags
from compliance.facts.store import (
    FactStore,
    FactTimedOut,
    FactTooLarge,
    GatherError,
    RunnerStore,
    batch_script,
    key_name,
    parse_batch,
)
from compliance.facts.systemd import UnitState
from compliance.transport.backends import run_text
from selftests.unit import samples

MARKER = "5f3a9c1e02bd"
SETTINGS = samples.default_scope().settings
SITE = SETTINGS.site("955")


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
    script = batch_script([("first", "echo 1"), ("it", command)], MARKER)
    parsed = parse_batch(sh(script)[1], MARKER)
    assert parsed == {"first": (0, "1"), "it": (rc, output)}


def test_batch_commands_are_isolated_subshells(sh):
    batch = [
        ("set_var", "x=changed; cd /; exit 5"),
        ("see_var", 'echo "x=${x:-unset} pwd=$(pwd)"'),
    ]
    rc, output = sh("cd /tmp && " + batch_script(batch, MARKER))
    assert rc == 0
    assert parse_batch(output, MARKER) == {"set_var": (5, ""), "see_var": (0, "x=unset pwd=/tmp")}


def test_parse_batch_drops_a_command_cut_off_before_its_exit_code():
    output = f"@@{MARKER} a\none\n\n@@{MARKER} rc 0\n@@{MARKER} b\npartial outp"
    assert parse_batch(output, MARKER) == {"a": (0, "one")}


def test_parse_batch_ignores_noise_outside_frames():
    output = f"motd banner\n@@{MARKER} a\nyes\n\n@@{MARKER} rc 0\ntrailing noise\n"
    assert parse_batch(output, MARKER) == {"a": (0, "yes")}


def test_parse_batch_other_marker_is_output():
    output = f"@@{MARKER} a\n@@ffffffffffff rc 9\n\n@@{MARKER} rc 0\n"
    assert parse_batch(output, MARKER) == {"a": (0, "@@ffffffffffff rc 9")}


# -- test facts (not registered: the registry is the product's facts only) ----------------------


@dataclass(frozen=True)
class Raw(Fact, register=False):
    """A test fact: runs its class's `script`, keeps exit code and output as they came."""

    rc: int
    output: str
    where: ClassVar[str] = "selftest"
    script: ClassVar[str] = "true"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return cls.script.format(*args)

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(rc, output)


def raw(name: str, script: str, label: str = "") -> type[Raw]:
    """A Raw fact class named `name` (CamelCase) running `script`."""
    return type(name, (Raw,), {"script": script, "label": label}, register=False)


def counter(path) -> type[Raw]:
    """A fact whose output says how many times it has run (state in a file)."""
    return raw(
        "Count", f"n=$(cat {path} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {path}; echo $n"
    )


def store_of(run, *batch: type[Fact], label: str = "ct 955 on pve", settings=SETTINGS) -> FactStore:
    store = FactStore("selftest", label, run, settings)
    assert store.batch == []  # no registered fact runs on a `selftest` target
    store.batch = [(fact, "", ()) for fact in batch]
    return store


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


def value(store: FactStore, fact: type[Fact], *args: str, live: bool = False):
    return store.read((fact, "", args), live)[0]


def test_first_read_gathers_the_whole_batch_in_one_round_trip(sh, tmp_path):
    runner = Counting(sh)
    count, fails, ok = (
        counter(tmp_path / "n"),
        raw("Fails", "echo nope; exit 2"),
        raw("Ok", "echo y"),
    )
    store = store_of(runner, count, fails, ok)
    reading, observation = store.read((count, "", ()))
    assert (runner.calls, store.round_trips) == (1, 1)
    assert reading == count(0, "1")
    assert observation == Observation(
        "count", "ct 955 on pve", count.command(store.scope("")), 0, "1"
    )
    assert store.read((fails, "", ()))[1] == Observation(
        "fails", "ct 955 on pve", "echo nope; exit 2", 2, "nope"
    )
    assert not store.read((fails, "", ()))[1].ok
    assert store.read((ok, "", ()))[1].ok
    assert value(store, count).output == "1"  # cached, not re-run
    assert (runner.calls, store.round_trips) == (1, 1)


def test_invalidate_makes_the_next_live_read_see_fresh_state(sh, tmp_path):
    count = counter(tmp_path / "n")
    store = store_of(sh, count)
    assert value(store, count).output == "1"
    store.invalidate()
    assert value(store, count, live=True).output == "2"
    assert value(store, count, live=True).output == "2"
    assert store.round_trips == 2


def test_the_audit_view_is_what_the_target_answered_first(sh, tmp_path):
    """A fix changes the target: re-checks read the live view, audit verdicts the first."""
    count = counter(tmp_path / "n")
    store = store_of(sh, count)
    assert value(store, count).output == "1"
    store.invalidate()
    assert value(store, count).output == "1"  # the audit view: no round trip
    assert store.round_trips == 1
    assert value(store, count, live=True).output == "2"
    assert value(store, count).output == "1"  # still the first answer
    assert store.round_trips == 2


def test_a_live_read_before_any_audit_read_is_also_the_audit_view(sh, tmp_path):
    count = counter(tmp_path / "n")
    store = store_of(sh, count)
    assert value(store, count, live=True).output == "1"
    store.invalidate()
    assert value(store, count, live=True).output == "2"
    assert value(store, count).output == "1"


def test_prefetch_then_read_costs_one_round_trip(sh):
    a, b = raw("A", "echo a"), raw("B", "echo b")
    store = store_of(sh, a, b)
    store.prefetch()
    store.prefetch()
    assert (value(store, a).output, value(store, b).output) == ("a", "b")
    assert store.round_trips == 1


def test_concurrent_reads_share_one_round_trip(sh):
    runner = Counting(sh, delay=0.05)
    names = [f"P{i}" for i in range(8)]
    batch = [raw(n, f"echo {n}") for n in names]
    store = store_of(runner, *batch)
    with ThreadPoolExecutor(len(names)) as pool:
        found = list(pool.map(lambda fact: value(store, fact), batch))
    assert [f.output for f in found] == names
    assert runner.calls == 1


def test_observation_keeps_the_facts_label_for_evidence(sh):
    state = raw("State", "echo master 812", "nginx state")
    store = store_of(sh, state)
    observation = store.read((state, "", ()))[1]
    assert (observation.label, observation.shown) == ("nginx state", "nginx state")
    plain = raw("Plain", "echo x")
    assert store_of(sh, plain).read((plain, "", ()))[1].shown == "echo x"


def test_a_fact_outside_the_batch_is_read_when_asked(sh):
    """An on-demand fact (with arguments) costs one more round trip, the batch is not re-run;
    its name in the batch carries its arguments."""
    runner = Counting(sh)
    batched, asked = raw("Batched", "echo b"), raw("Asked", "echo {0}-{1}")
    store = store_of(runner, batched)
    store.prefetch()
    reading, observation = store.read((asked, "", ("x", "y")))
    assert reading.output == "x-y"
    assert observation.name == "asked::x:y"
    assert store.read((asked, "", ("x", "y")))[0].output == "x-y"  # cached per arguments
    assert store.read((asked, "", ("z", "w")))[0].output == "z-w"
    assert runner.calls == 3


def test_key_names():
    assert key_name((UnitState, "", ())) == "unit_state"
    assert key_name((UnitState, "955", ())) == "unit_state:955"
    assert key_name((UnitState, "955", ("a", "b"))) == "unit_state:955:a:b"


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
    a = raw("A", "echo a")
    store = store_of(runner, a, label="pve")
    with pytest.raises(GatherError) as caught:
        store.read((a, "", ()))
    for word in words:
        assert word in str(caught.value)


def test_batch_killed_midway_is_a_gather_error_and_retried(sh, tmp_path):
    flag, batch_pid = tmp_path / "killed-once", tmp_path / "batch-pid"
    before, after = raw("Before", "echo b"), raw("After", "echo a")
    killer = raw(
        "Killer",
        f"[ -e {flag} ] || {{{{ touch {flag}; kill -9 $(cat {batch_pid}); }}}}; echo alive",
    )
    store = store_of(lambda script: sh(f"echo $$ > {batch_pid}\n{script}"), before, killer, after)
    with pytest.raises(GatherError, match="exit -9"):
        store.read((after, "", ()))
    assert value(store, before).output == "b"  # nothing half-cached: the retry ran them all
    assert value(store, killer).output == "alive"
    assert store.round_trips == 2


def test_a_fact_past_its_own_bound_fails_alone_and_the_batch_goes_on():
    """Each fact's command runs under its own bound: one that blocks is ended there (its
    reading raises, naming it and the bound), and the facts after it are read in the same
    round trip."""
    local = testinfra.get_host("local://")
    hung = type("Hung", (Raw,), {"script": "sleep 30", "label": "", "bound": 1}, register=False)
    after = raw("After", "echo a")
    store = store_of(lambda script: run_text(local, script, deadline=20), hung, after)
    began = time.monotonic()
    assert value(store, after).output == "a"
    with pytest.raises(FactTimedOut, match="hung gave no answer within its bound of 1 s"):
        store.read((hung, "", ()))
    assert time.monotonic() - began < 5
    assert store.round_trips == 1


def test_a_fact_that_floods_is_cut_at_its_cap_and_not_judged(sh):
    """A target controls what its commands print: a fact's output past its cap is not read
    (the batch stays small) and the fact is reported, not parsed from a cut text."""
    body = {"script": "yes x | head -c 10000000", "label": "", "max_bytes": 1000}
    flood = type("Flood", (Raw,), body, register=False)
    after = raw("After", "echo a")
    sizes: list[int] = []

    def run(script):
        rc, output = sh(script)
        sizes.append(len(output))
        return rc, output

    store = store_of(run, flood, after)
    assert value(store, after).output == "a"
    with pytest.raises(FactTooLarge, match="flood printed more than the 1000 bytes"):
        store.read((flood, "", ()))
    assert sizes[0] < 2000


def test_a_facts_exit_code_survives_its_cap(sh):
    store = store_of(sh, raw("Five", "echo out; exit 5"))
    reading = store.read((store.batch[0][0], "", ()))
    assert (reading[1].rc, reading[1].output) == (5, "out")


def test_a_hung_fact_ends_the_batch_at_the_deadline():
    """A command that never returns does not hang the run: the batch fails, naming it."""
    local = testinfra.get_host("local://")
    quick, hung = raw("Quick", "echo ok"), raw("Hung", "sleep 30")
    quick_deadline = dataclasses.replace(SETTINGS, command_timeout=1)  # as --command-timeout=1
    store = store_of(
        lambda script: run_text(local, script, deadline=1),
        quick,
        hung,
        label="local",
        settings=quick_deadline,
    )
    began = time.monotonic()
    with pytest.raises(GatherError, match="timed out before hung finished"):
        store.read((quick, "", ()))
    assert time.monotonic() - began < 10
    store.invalidate()  # a fix ran: a frozen target stays stuck, it is not waited for again
    with pytest.raises(GatherError, match="timed out before hung finished"):
        store.read((hung, "", ()))
    assert store.round_trips == 1
    assert time.monotonic() - began < 10


# -- the product's facts, batched here -------------------------------------------------------


@pytest.mark.parametrize("profile", ["plan", "hardened"])
def test_real_container_facts_run_as_one_batch(sh, profile):
    """The registered container facts survive batching even where their tools are missing
    here, and every one parses what it got."""
    settings = replace(SETTINGS, profile=profile)
    store = FactStore("ct", "ct 955 on pve", sh, settings, own_site=SITE, host_address="10.0.0.2")
    assert {key[0] for key in store.batch} == set(batch_facts("ct", settings))
    store.prefetch()
    assert store.round_trips == 1
    for key in store.batch:
        reading, observation = store.read(key)
        assert isinstance(reading, key[0])
        assert observation.where == "ct 955 on pve"
    assert store.round_trips == 1


def test_real_host_facts_run_as_one_batch_with_one_set_per_site(sh):
    other = replace(SITE, ctid="956", site_file=SITE.site_file + "_956")
    store = FactStore("host", "pve", sh, SETTINGS, sites=[SITE, other], host_address="10.0.0.2")
    per_ct = batch_facts("host", SETTINGS, per_ct=True)
    assert per_ct
    assert [key for key in store.batch if key[1]] == [
        *((fact, "955", ()) for fact in per_ct),
        *((fact, "956", ()) for fact in per_ct),
    ]
    store.prefetch()
    assert store.round_trips == 1
    commands = {key_name(key): store.read(key)[1].command for key in store.batch}
    assert SITE.site_file + "_956" in commands["site_config:956"]
    assert "_956" not in commands["site_config:955"]
    assert all(isinstance(store.read(key)[0], key[0]) for key in store.batch)


def test_runner_store_makes_each_request_on_its_own():
    asked: list[str] = []
    lock = threading.Lock()

    def request(command: str) -> tuple[int, str]:
        with lock:
            asked.append(command)
        return 0, "HTTP 200 application/json\n" + samples.tags_body(samples.LLAMA)

    settings = replace(SETTINGS, profile="hardened")
    store = RunnerStore("runner for ct 955", request, settings, SITE, "10.0.0.2")
    store.prefetch()
    assert store.round_trips == 1
    assert sorted(asked) == sorted(
        fact.command(store.scope("")) for fact in batch_facts("runner", settings)
    )
    reply = store.read((ProxiedTags, "", ()))[0].reply
    assert reply is not None
    assert reply.status == 200
    assert "GET http://10.0.0.2/ollama/api/tags" in asked


def test_runner_store_runs_no_shell():
    store = RunnerStore("runner", lambda c: (0, ""), SETTINGS, SITE, "10.0.0.2")
    with pytest.raises(AssertionError, match="requests, not shell scripts"):
        store._run("echo")


# -- the registry ----------------------------------------------------------------------------


def test_every_fact_is_registered_once_by_its_class():
    loaded = facts.load()
    assert len(set(loaded)) == len(loaded)
    assert len({fact.name() for fact in loaded}) == len(loaded)
    assert UnitState in loaded
    assert Raw not in loaded  # register=False keeps test and base classes out


def test_fact_names():
    assert UnitState.name() == "unit_state"
    assert ProxiedTags.name() == "proxied_tags"


@pytest.mark.parametrize("fact", facts.load(), ids=lambda fact: fact.__name__)
def test_every_fact_names_the_part_of_the_deployment_it_observes(fact):
    """The lab faults that touch a part state its facts (test_fault_facts): a fact without a
    part would escape them."""
    assert fact.observes in facts.PARTS, (
        f"{fact.__name__}.observes = {fact.observes!r}: set it to one of {sorted(facts.PARTS)}"
    )


def test_every_part_is_observed_by_some_fact():
    """The vocabulary stays the parts the facts observe, no more."""
    assert {fact.observes for fact in facts.load()} == set(facts.PARTS)


@pytest.mark.parametrize(
    ("where", "profile", "hardened_in"),
    [("ct", "plan", False), ("ct", "hardened", True), ("runner", "hardened", True)],
)
def test_batch_facts_follow_the_profile(where, profile, hardened_in):
    settings = replace(SETTINGS, profile=profile)
    found = batch_facts(where, settings)
    assert all(fact.where == where and not fact.on_demand for fact in found)
    assert any(fact.hardened for fact in found) is hardened_in


def test_base_fact_has_no_command_or_parse():
    with pytest.raises(NotImplementedError):
        Fact.command(samples.default_scope())
    with pytest.raises(NotImplementedError):
        Fact.parse(0, "")


def test_a_thread_marking_the_host_stale_rereads_it_and_shares_the_reread(sh, tmp_path):
    """stale_for_me: this thread's next read is newer than the mark; a re-read begun after
    several threads' marks serves them all (a round's fixes share one host re-read)."""
    runner = Counting(sh, delay=0.2)
    count = counter(tmp_path / "n")
    store = store_of(runner, count)
    assert value(store, count, live=True).output == "1"
    store.stale_for_me()
    assert value(store, count, live=True).output == "2"  # this thread: read again
    assert value(store, count, live=True).output == "2"  # once

    def poll(_: int) -> str:
        store.stale_for_me()
        return value(store, count, live=True).output

    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(poll, range(4)))
    assert all(int(out) > 2 for out in outputs)
    assert runner.calls < 2 + 4  # four marks, fewer than four re-reads

"""Every fact's parser on sample outputs, discovered from selftests/unit/facts/.

A sample is `facts/<fact name>/<case>.json` (the name is `FactClass.name()`, as a batch
names it), holding `{"command": the command it answers (for the default settings, as
pyinfra's fact tests pin theirs), "rc": exit code, "output": what the command printed (stdout
and stderr merged), "value": {attribute: expected}}`. A fact whose command changes fails its
samples until each is checked against the new command's real output and re-pinned. `value`
lists only what the case is about: a field, a property, or a method taking no arguments
(called), or a dotted path of those (`dump.paths`); the attribute is compared as plain JSON
(dataclasses as objects of their fields, tuples as lists, dict keys and other values such as
addresses as strings; floats within 1e-6). Adding a case is adding a file;
a new fact needs a folder (the test below fails until it has one).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path

import pytest

from compliance import facts
from compliance.facts import Fact
from selftests.unit import samples

SAMPLES = Path(__file__).parent / "facts"
FACTS = {fact.name(): fact for fact in facts.load()}
CASES = sorted(SAMPLES.glob("*/*.json"))

# The arguments of the facts read on demand (a check passes them: `s.fact(Fact, *args)`).
ARGS: dict[str, tuple[str, ...]] = {
    "reach_from_netns": ("lan", "10.0.3.55"),
    "reach_from_runner": ("10.0.3.55",),
    "proxied_stream": ("llama3.2:1b",),
}


def plain(value: object) -> object:
    """A value as JSON holds it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def same(got: object, want: object) -> bool:
    """Equal as JSON, floats within 1e-6 (epoch seconds are computed)."""
    if isinstance(got, float) or isinstance(want, float):
        return (
            isinstance(got, (int, float))
            and isinstance(want, (int, float))
            and not isinstance(got, bool)
            and math.isclose(got, want, rel_tol=0, abs_tol=1e-6)
        )
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in got)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want, strict=True))
    return type(got) is type(want) and got == want


def attribute(value: object, path: str) -> object:
    """`path` (`field`, `property`, `method`, `dump.paths`) of a fact, as plain JSON."""
    for name in path.split("."):
        assert hasattr(value, name), f"{type(value).__name__} has no {name!r} ({path})"
        value = getattr(value, name)
        value = value() if callable(value) else value
    return plain(value)


def load(path: Path) -> dict[str, object]:
    case = json.loads(path.read_text())
    assert set(case) - {"args"} == {"command", "rc", "output", "value"}, (
        f"{path}: keys command, rc, output, value (and args for a fact read on demand)"
    )
    assert isinstance(case["rc"], int), path
    assert isinstance(case["output"], str), path
    assert isinstance(case["value"], dict), path
    assert case["value"], f"{path}: a case asserts something"
    return case


def test_samples_are_found():
    assert len(CASES) >= len(FACTS)


@pytest.mark.parametrize("path", CASES, ids=[f"{path.parent.name}/{path.stem}" for path in CASES])
def test_sample(path):
    case = load(path)
    fact = FACTS.get(path.parent.name)
    assert fact is not None, f"{path.parent.name}: no registered fact of that name"
    args = case.get("args", ARGS.get(path.parent.name, ()))
    command = fact.command(samples.default_scope(), *args)
    assert case["command"] == command, f"{path}: the fact's command changed since this sample"
    parsed = fact.parse(case["rc"], case["output"])
    assert isinstance(parsed, fact)
    wrong = {}
    for name, want in case["value"].items():
        got = attribute(parsed, name)
        if not same(got, want):
            wrong[name] = {"got": got, "want": want}
    assert not wrong, json.dumps(wrong, indent=2)


def parses(fact: type[Fact]) -> bool:
    return fact.parse.__func__ is not Fact.parse.__func__  # type: ignore[attr-defined]


def test_every_fact_has_samples():
    """Every registered fact with a parser (batched or on demand) has a sample folder with at
    least one case, and every folder names a registered fact."""
    folders = {path.name for path in SAMPLES.iterdir() if path.is_dir()}
    assert all(parses(fact) for fact in FACTS.values())
    assert sorted(set(FACTS) - folders) == [], "facts without samples"
    assert sorted(folders - set(FACTS)) == [], "sample folders that name no fact"
    empty = sorted(name for name in folders if not list((SAMPLES / name).glob("*.json")))
    assert empty == []
    stray = sorted(
        str(path.relative_to(SAMPLES))
        for path in SAMPLES.rglob("*")
        if path.is_file() and (path.suffix != ".json" or path.parent.parent != SAMPLES)
    )
    assert stray == [], "a sample is facts/<fact>/<case>.json"


def test_on_demand_arguments_are_known():
    on_demand = {name for name, fact in FACTS.items() if fact.on_demand}
    assert set(ARGS) <= on_demand


@pytest.mark.parametrize("name", sorted(FACTS))
def test_command_for_the_default_settings(name):
    """Every fact's command, for a container's scope under the default settings, is a
    non-empty string (runner facts: `<METHOD> <url>`, or `TRY <address> <port> <seconds>`)."""
    fact = FACTS[name]
    command = fact.command(samples.default_scope(), *ARGS.get(name, ()))
    assert isinstance(command, str)
    assert command.strip()
    if fact.where == "runner":
        method, _, rest = command.partition(" ")
        assert method in ("GET", "DELETE", "STREAM", "TRY"), command
        if method == "TRY":
            assert rest == "10.0.3.55 11434 2", command
        else:
            assert rest.startswith(f"http://{samples.HOST_ADDRESS}/ollama/"), command


def test_plain_and_same():
    from ipaddress import IPv4Interface

    from compliance.facts.net import Listener

    assert plain((Listener("*", 1, (2,)), IPv4Interface("10.0.0.2/24"), {1: None})) == [
        {"address": "*", "port": 1, "pids": [2]},
        "10.0.0.2/24",
        {"1": None},
    ]
    assert same(1.0000001, 1.0)
    assert not same(1.1, 1.0)
    assert not same(True, 1)
    assert not same(0, False)
    assert not same([1], [1, 2])
    assert not same({"a": 1}, {"b": 1})

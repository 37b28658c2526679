"""The nftables judgement against the real kernel, between two network namespaces made here.

Needs root, `ip` and `nft`; creates only its own namespaces (`nfttest-<random>-srv/-cli`),
deletes them when done or failed, and touches nothing else on the machine (no lab). Skipped
where it cannot make them.

    python3 -m pytest selftests/kernel -q
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from compliance.syntax.nft import judge, read_ruleset
from compliance.syntax.sources import UNKNOWN
from selftests.nftdiff import differential
from selftests.nftdiff.sides import PORT, Side, private_pair
from selftests.unit.test_syntax_nft import FIXTURES, loaded

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"),
    reason="needs root, ip and nft to make private network namespaces",
)

SEED = 20250  # the generated rulesets are the same on every run
RULESETS = 100
# Every source a fixture's rules name, and a few they do not.
FIXTURE_SOURCES4 = (
    *(f"10.0.3.{i}" for i in (*range(1, 13), 20, 77, 200, 205, 250)),
    "192.168.40.1",
    "192.0.2.1",
)
# The fan-out: the kernel walks its 3^15 paths for every packet (no memo there), so a single
# connection takes seconds of softirq time; only its listing is checked here.
SLOW_IN_THE_KERNEL = {"fanout"}
FIXTURE_SOURCES6 = (*(f"fe80::{i}" for i in (*range(1, 11), 20, 250)), "2001:db8::1")


@pytest.fixture(scope="module")
def side() -> Iterator[Side]:
    with private_pair() as made:
        yield made


@pytest.fixture(scope="module")
def fixture_side() -> Iterator[Side]:
    with private_pair(FIXTURE_SOURCES4, FIXTURE_SOURCES6) as made:
        yield made


def _comparable(value: Any) -> Any:
    """nft's listing minus what differs from one load to the next: handles (the namespace's
    counter goes on after a flush) and a timeout's `expires`."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in ("expires", "handle")}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.nft")))
def test_fixture_agrees_with_the_kernel(fixture_side, name):
    """The stored fixture is what nft lists for its source, and its judgement is the
    kernel's answer for every source tried, wherever the suite judges."""
    side = fixture_side
    assert side.load((FIXTURES / f"{name}.nft").read_text()) is None
    assert _comparable(side.listed()) == _comparable(loaded(name)), "regenerate the fixtures"
    if name in SLOW_IN_THE_KERNEL:
        return
    items = loaded(name)
    a = side.addresses
    judgements = {
        4: judge(items, 4, a.server4, PORT, a.iif),
        6: judge(items, 6, a.server6, PORT, a.iif),
    }
    wrong = []
    for (family, source, *_), answer in zip(side.tries(), side.attempt(), strict=True):
        outcome, why = judgements[family].fate(source)
        if outcome != UNKNOWN and (answer == "connected") != (outcome == "accept"):
            wrong.append(f"{source}: kernel {answer}, judged {outcome} ({why})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("index", range(3))
def test_closed_rulesets_are_judged_closed_to_all_but_the_host(side, index):
    name, text = differential.closed_examples(side)[index]
    assert not differential.closed_problems(side, name, text)


def test_generated_rulesets_agree_with_the_kernel(side, capsys):
    """A disagreement fails, shrunk by hypothesis to a smallest ruleset that shows it."""
    tally = differential.run(side, RULESETS, SEED, stop_at_first=True)
    with capsys.disabled():
        print(f"\nnft differential ({side.name}, seed {SEED}): {tally.summary()}")
    assert not tally.disagreements
    assert tally.unloadable <= tally.rulesets // 10, tally.refusals
    assert tally.judged >= 0.8 * tally.tries, tally.unknowns


def test_the_listing_carries_what_the_suite_reads(side):
    """`nft -j list ruleset` in the namespace reads back as the audit reads it."""
    assert side.load("table inet t {\n}\n") is None
    table = read_ruleset(side.server.must("nft -j list ruleset"))[1]
    assert _comparable(table) == {"table": {"family": "inet", "name": "t"}}

"""The nftables judgement against the lab's kernel: CT 955 is the server (rulesets loaded with
one `nft -f` each through a kept-open `lxc-attach` shell, a listener on 11434), the lab's
`ollama-lan` namespace on `lxcbr0` the client, over IPv4 and IPv6 link-local.

The same generator and comparison as `selftests/kernel` (two private namespaces), here on the
CT the suite audits: 200 rulesets with a fixed seed; the kernel's answer must agree with the
judgement wherever the suite judges. The CT's ruleset is flushed afterwards and the lab reset
at the session's end (conftest). A longer run: `python3 bench/nft_differential.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab import config, lan, states
from selftests.nftdiff import differential
from selftests.nftdiff.sides import Side, lab_side

SEED = 955
RULESETS = 200


@pytest.fixture(scope="module")
def ct_side() -> Iterator[Side]:
    states.reset()  # nothing of ours listens on 11434, no guard table
    lan.ensure()
    with lab_side(config.CTID) as side:
        yield side


def test_both_families_are_tried(ct_side):
    a = ct_side.addresses
    assert a.clients4, a
    assert a.clients6, f"CT {config.CTID}'s eth0 or {config.LAN_NETNS} has no IPv6 link-local: {a}"


@pytest.mark.parametrize("index", range(3))
def test_closed_rulesets_are_judged_closed_to_all_but_the_host(ct_side, index):
    name, text = differential.closed_examples(ct_side)[index]
    assert not differential.closed_problems(ct_side, name, text)


def test_generated_rulesets_agree_with_the_cts_kernel(ct_side, capsys):
    tally = differential.run(ct_side, RULESETS, SEED, stop_at_first=True)
    with capsys.disabled():
        print(f"\nnft differential ({ct_side.name}, seed {SEED}): {tally.summary()}")
    assert not tally.disagreements
    assert tally.unloadable <= tally.rulesets // 10, tally.refusals

"""Labellings of an address space: patching and combining agree with a label per address."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.syntax.pieces import Budget, Pieces, TooLarge, combine, patch
from compliance.syntax.sources import Sources

# A small space (IPv4's first 64 addresses matter; the rest is one piece) is enough to meet
# every boundary case: pieces that touch, pieces of one address, the space's two ends.
POINTS = 64
LABELS = st.sampled_from("abc")


@st.composite
def labellings(draw: st.DrawFn) -> Pieces[str]:
    cuts = sorted(draw(st.sets(st.integers(0, POINTS - 2), max_size=8)))
    ends = [*cuts, (1 << 32) - 1]
    labels = [draw(LABELS) for _ in ends]
    pieces = Pieces.constant(4, labels[0])
    start = 0
    for end, label in zip(ends, labels, strict=True):  # built by patching one piece at a time
        pieces = combine(
            Budget(), lambda old, mask, new=label: new if mask else old, pieces,
            Pieces.split(Sources.of(4, [(start, end)]), True, False),
        )  # fmt: skip
        start = end + 1
    return pieces


@st.composite
def sources(draw: st.DrawFn) -> Sources:
    spans = draw(st.lists(st.tuples(st.integers(0, POINTS), st.integers(0, POINTS)), max_size=4))
    top = draw(st.booleans())
    return Sources.of(4, [(min(s), max(s)) for s in spans] + ([(POINTS, (1 << 32) - 1)] * top))


def labels(pieces: Pieces[str]) -> list[str]:
    return [pieces.at(i) for i in range(POINTS + 2)] + [pieces.at((1 << 32) - 1)]


def well_formed(pieces: Pieces[str]) -> bool:
    increasing = all(a < b for a, b in zip(pieces.ends, pieces.ends[1:], strict=False))
    merged = all(a != b for a, b in zip(pieces.labels, pieces.labels[1:], strict=False))
    return increasing and merged and pieces.ends[-1] == (1 << 32) - 1


@settings(max_examples=300, derandomize=True, database=None)
@given(labellings(), sources(), labellings())
def test_patch_is_a_choice_per_address(base, where, inside):
    patched = patch(Budget(), base, where, inside)
    expected = [
        inside.at(i) if any(low <= i <= high for low, high in where.spans) else base.at(i)
        for i in [*range(POINTS + 2), (1 << 32) - 1]
    ]  # fmt: skip
    assert labels(patched) == expected
    assert well_formed(patched)


@settings(max_examples=200, derandomize=True, database=None)
@given(labellings(), labellings())
def test_combine_is_a_function_per_address(one, other):
    joined = combine(Budget(), lambda a, b: a if a == b else "x", one, other)
    assert labels(joined) == [
        a if a == b else "x" for a, b in zip(labels(one), labels(other), strict=True)
    ]
    assert well_formed(joined)


def test_work_past_the_budget_stops():
    budget = Budget(limit=3)
    one = Pieces.constant(4, "a")
    try:
        for _ in range(5):
            combine(budget, lambda a: a, one)
    except TooLarge:
        assert budget.spent > budget.limit
    else:
        raise AssertionError("the budget did not stop the work")


def test_grouped_and_where():
    pieces = patch(
        Budget(), Pieces.constant(4, "a"), Sources.parse("10.0.0.0/8"), Pieces.constant(4, "b")
    )
    assert pieces.grouped() == [
        ("a", ~Sources.parse("10.0.0.0/8")),
        ("b", Sources.parse("10.0.0.0/8")),
    ]
    assert pieces.where(lambda label: label == "b") == Sources.parse("10.0.0.0/8")

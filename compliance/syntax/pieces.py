"""A label for every address of a family, piece by piece: the nftables evaluator's working form.

`Pieces` labels a family's whole address space as consecutive inclusive pieces (each piece's
upper end and its label); `combine` walks several labellings at once and labels each common
piece with a function of theirs. Every walk is linear in the pieces it visits and is counted
against a `Budget`, so a ruleset too large to judge spends the budget, not the host's time.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from compliance.syntax.sources import BITS, Sources

L = TypeVar("L")
R = TypeVar("R")

TOO_LARGE = "ruleset too large to judge within the suite's bound"


class TooLarge(Exception):
    """The judgement's budget of work is spent."""


@dataclass
class Budget:
    """Units of work a judgement may spend: pieces walked, rules and set elements read."""

    limit: int = 2_000_000  # about two seconds of the slowest work
    spent: int = 0

    def spend(self, units: int = 1) -> None:
        self.spent += units
        if self.spent > self.limit:
            raise TooLarge(TOO_LARGE)


def top(family: int) -> int:
    """The highest address of the family, as an integer."""
    return (1 << BITS[family]) - 1


@dataclass(frozen=True)
class Pieces(Generic[L]):
    """Every address of `family` labelled: piece i runs from ends[i-1]+1 to ends[i] inclusive."""

    family: int
    ends: tuple[int, ...]
    labels: tuple[L, ...]

    @classmethod
    def constant(cls, family: int, label: L) -> Pieces[L]:
        return cls(family, (top(family),), (label,))

    @classmethod
    def split(cls, sources: Sources, inside: L, outside: L) -> Pieces[L]:
        """`inside` on the sources, `outside` elsewhere."""
        ends: list[int] = []
        labels: list[L] = []
        start = 0
        for low, high in sources.spans:
            if low > start:
                ends.append(low - 1)
                labels.append(outside)
            ends.append(high)
            labels.append(inside)
            start = high + 1
        if start <= top(sources.family):
            ends.append(top(sources.family))
            labels.append(outside)
        return cls(sources.family, tuple(ends), tuple(labels))

    def at(self, value: int) -> L:
        """The label of one address (as an integer)."""
        return self.labels[bisect.bisect_left(self.ends, value)]

    def where(self, keep: Callable[[L], bool]) -> Sources:
        """The addresses whose label `keep` accepts."""
        spans: list[tuple[int, int]] = []
        start = 0
        for end, label in zip(self.ends, self.labels, strict=True):
            if keep(label):
                spans.append((start, end))
            start = end + 1
        return Sources.of(self.family, spans)

    def grouped(self) -> list[tuple[L, Sources]]:
        """Each distinct label (labels are hashable) with the addresses that carry it, in
        order of first appearance."""
        spans: dict[L, list[tuple[int, int]]] = {}
        start = 0
        for end, label in zip(self.ends, self.labels, strict=True):
            spans.setdefault(label, []).append((start, end))
            start = end + 1
        return [(label, Sources.of(self.family, found)) for label, found in spans.items()]


COPY_DISCOUNT = 32  # pieces copied by slicing (in C) cost a unit per this many
SWEEP_COST = 2  # units per piece a sweep visits (a Python call per piece)


def patch(budget: Budget, base: Pieces[L], where: Sources, inside: Pieces[L]) -> Pieces[L]:
    """`base`, with `inside`'s labels over the addresses `where`. The work is in the pieces
    `where` touches; the rest is copied by slices, so a rule on a few addresses costs little
    however large the labelling it changes."""
    budget.spend(1 + len(where.spans) + len(base.ends) // COPY_DISCOUNT)
    ends: list[int] = []
    labels: list[L] = []
    last = top(base.family)
    start = 0  # the first address not placed yet
    for low, high in where.spans:
        if low > start:
            _append(ends, labels, *_cut(base, start, low - 1))
        run_ends, run_labels = _cut(inside, low, high)
        budget.spend(len(run_ends))
        _append(ends, labels, run_ends, run_labels)
        start = high + 1
    if start <= last:
        _append(ends, labels, *_cut(base, start, last))
    return Pieces(base.family, tuple(ends), tuple(labels))


def _cut(part: Pieces[L], low: int, high: int) -> tuple[tuple[int, ...], tuple[L, ...]]:
    """The pieces of `part` over low..high, the last one ending at high."""
    first = bisect.bisect_left(part.ends, low)
    stop = bisect.bisect_left(part.ends, high, first)
    return (*part.ends[first:stop], high), part.labels[first : stop + 1]


def _append(
    ends: list[int], labels: list[L], run_ends: tuple[int, ...], run_labels: tuple[L, ...]
) -> None:
    """Add a run of pieces, merging its first with the last one when they carry one label."""
    if labels and labels[-1] == run_labels[0]:
        ends[-1] = run_ends[0]
        ends.extend(run_ends[1:])
        labels.extend(run_labels[1:])
    else:
        ends.extend(run_ends)
        labels.extend(run_labels)


def combine(budget: Budget, fn: Callable[..., R], *parts: Pieces[Any]) -> Pieces[R]:
    """Label each address with `fn` of its labels in `parts` (all of one family)."""
    budget.spend(SWEEP_COST * sum(len(part.ends) for part in parts))
    runs = [(part.ends, part.labels) for part in parts]
    ends, labels = _sweep(fn, runs)
    return Pieces(parts[0].family, tuple(ends), tuple(labels))


def combine_within(
    budget: Budget, base: Pieces[L], where: Sources, fn: Callable[..., L], *parts: Pieces[Any]
) -> Pieces[L]:
    """`fn` of the labels in `parts` over the addresses `where`, `base` elsewhere: the work
    is in the pieces `where` touches."""
    budget.spend(1 + len(where.spans) + len(base.ends) // COPY_DISCOUNT)
    out_ends: list[int] = []
    labels: list[L] = []
    start = 0
    for low, high in where.spans:
        if low > start:
            _append(out_ends, labels, *_cut(base, start, low - 1))
        runs = [_cut(part, low, high) for part in parts]
        budget.spend(SWEEP_COST * sum(len(run[0]) for run in runs))
        run_ends, run_labels = _sweep(fn, runs)
        _append(out_ends, labels, tuple(run_ends), tuple(run_labels))
        start = high + 1
    if start <= top(base.family):
        _append(out_ends, labels, *_cut(base, start, top(base.family)))
    return Pieces(base.family, tuple(out_ends), tuple(labels))


def _sweep(
    fn: Callable[..., R], runs: list[tuple[tuple[int, ...], tuple[Any, ...]]]
) -> tuple[list[int], list[R]]:
    """Walk runs of pieces that cover the same addresses (and end at the same one), labelling
    each common piece with `fn` of theirs."""
    last = runs[0][0][-1]
    at = [0] * len(runs)
    ends: list[int] = []
    labels: list[R] = []
    while True:
        end = min(run_ends[i] for (run_ends, _), i in zip(runs, at, strict=True))
        label = fn(*(run_labels[i] for (_, run_labels), i in zip(runs, at, strict=True)))
        if labels and labels[-1] == label:
            ends[-1] = end
        else:
            ends.append(end)
            labels.append(label)
        if end >= last:
            return ends, labels
        for k, (run_ends, _) in enumerate(runs):
            if run_ends[at[k]] == end:
                at[k] += 1

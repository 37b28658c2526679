"""What a chain may do with one source: the set of outcomes it could have, and why.

An outcome the suite is sure of is a set of one. Uncertainty keeps what remains possible, so
it composes exactly: a `limit` before `accept` in a chain that then drops could accept or
drop ({accept, drop}), and a later base chain that drops everything makes that a sure drop;
but a statement the suite does not know (`dnat`, `queue`) could also take the packet away
from the chains after it (`divert`), and no later drop makes that sure.
"""

from __future__ import annotations

from dataclasses import dataclass

from compliance.syntax.sources import ACCEPT, DROP, UNKNOWN

RETURN = "return"  # fell off a regular chain's end, or `return`: the caller goes on
DIVERT = "divert"  # rewritten or taken elsewhere: later chains may never see it
ANYTHING = frozenset({ACCEPT, DROP, RETURN, DIVERT})


@dataclass(frozen=True)
class Step:
    """The outcomes a source could have from here on, and the rule or policy that says so."""

    could: frozenset[str]
    why: str

    @property
    def outcome(self) -> str:
        """accept, drop or return when sure; unknown otherwise."""
        if len(self.could) == 1 and DIVERT not in self.could:
            return next(iter(self.could))
        return UNKNOWN

    @property
    def sure(self) -> bool:
        return self.outcome != UNKNOWN


def sure(outcome: str, why: str) -> Step:
    return Step(frozenset({outcome}), why)


def anything(why: str) -> Step:
    return Step(ANYTHING, why)


def either(one: Step, other: Step, why: str) -> Step:
    """One or the other happens (a predicate the suite cannot decide)."""
    if one.could == other.could:
        return other
    reason = one.why if not one.sure else other.why if not other.sure else why
    return Step(one.could | other.could, reason)


def returned(called: Step, after: Step) -> Step:
    """A jump: what the called chain does, with its return continued by what follows."""
    if RETURN not in called.could:
        return called
    if called.could == {RETURN}:
        return after
    could = (called.could - {RETURN}) | after.could
    return Step(could, after.why if len(could) == 1 else called.why)


def ended(step: Step, policy: Step) -> Step:
    """A base chain: its end (and `return`) is its policy."""
    if RETURN not in step.could:
        return step
    if step.could == {RETURN}:
        return policy
    could = (step.could - {RETURN}) | policy.could
    return Step(could, policy.why if len(could) == 1 else step.why)


def then(outer: Step, inner: Step) -> Step:
    """One base chain, then the next on what the first accepted: a drop by either is final;
    only what both accept is accepted."""
    if ACCEPT not in outer.could:
        return outer
    could = (outer.could - {ACCEPT}) | inner.could
    if could == {ACCEPT}:
        return Step(could, f"{outer.why}; then {inner.why}" if outer.why else inner.why)
    if could == {DROP}:
        return outer if outer.could == {DROP} else inner
    return Step(could, outer.why if not outer.sure else inner.why)

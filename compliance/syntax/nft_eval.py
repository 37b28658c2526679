"""The chains of an nftables ruleset judged for every source address at once.

A chain's behaviour does not depend on who jumped to it, so each chain is computed once per
`Seen` (the conntrack state differs by hook) over the whole address space, as `Pieces` of
`Step`s. Rules fold from the last to the first: a rule maps what happens after it to what
happens from it on, and a rule's expressions fold the same way (a match picks between the
rest of the rule and the next rule; a verdict replaces both). So the work is linear in the
rules: jumps reuse the memo, loops and nesting deeper than the kernel allows are caught, and
a `Budget` bounds the whole.

A predicate the suite cannot decide (a match it does not read, `limit`, `quota`) is taken
both ways (`either`); a statement it does not know could do anything to the sources that
reach it, and says which rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compliance.syntax.nft_grammar import ChainKey, Ruleset, Unread, map_entries, show_rule
from compliance.syntax.nft_match import Seen, field_of, match_set
from compliance.syntax.nft_steps import RETURN, Step, anything, either, returned, sure
from compliance.syntax.pieces import Budget, Pieces, combine_within, patch
from compliance.syntax.sources import ACCEPT, DROP, Sources

JUMP_STACK = 16  # the kernel's NFT_JUMP_STACK_SIZE: it loads no chain 16 jumps deep
HARMLESS = {"counter", "log", "last"}  # statements that never change the verdict
RATE = {"limit", "quota"}  # they match by the traffic seen so far: either way
SHAPES = (TypeError, AttributeError, ValueError, KeyError, IndexError, RecursionError)
MARKS = {("meta", "mark"), ("meta", "priority"), ("meta", "nftrace"), ("ct", "mark")}


def chain_name(key: ChainKey) -> str:
    return f"{key[0]} {key[1]}/{key[2]}"


class Evaluator:
    """The chains of one ruleset for one connection (family, destination, port, interface)."""

    def __init__(self, ruleset: Ruleset, budget: Budget) -> None:
        self.ruleset = ruleset
        self.budget = budget
        self.memo: dict[tuple[ChainKey, Seen], Pieces[Step]] = {}
        self.active: set[tuple[ChainKey, Seen]] = set()

    def chain(self, key: ChainKey, seen: Seen, depth: int = 0) -> Pieces[Step]:
        """What the chain does with every source (computed once)."""
        memo_key = (key, seen)
        if memo_key in self.memo:
            return self.memo[memo_key]
        problem = (
            f"{chain_name(key)} is not in the ruleset"
            if key not in self.ruleset.chains
            else f"a jump loops back to {chain_name(key)}"
            if memo_key in self.active
            else f"{chain_name(key)} is {depth} jumps deep: the kernel loads no such ruleset"
            if depth >= JUMP_STACK
            else ""
        )
        if problem:
            return _all(seen, anything(f"not understood: {problem}"))
        self.active.add(memo_key)
        try:
            steps = _all(seen, sure(RETURN, f"{chain_name(key)}: its end"))
            for rule in reversed(self.ruleset.rules.get(key, [])):
                steps = self.rule(key, rule, seen, depth, steps)
        finally:
            self.active.discard(memo_key)
        self.memo[memo_key] = steps
        return steps

    def rule(
        self, key: ChainKey, rule: dict[str, Any], seen: Seen, depth: int, after: Pieces[Step]
    ) -> Pieces[Step]:
        """What happens from this rule on, given what happens `after` it."""
        self.budget.spend(1)
        name = f"{chain_name(key)} rule {rule.get('handle', '?')}"
        try:  # a shape this reader did not foresee is unknown, never a crash
            name += f" `{show_rule(rule)}`"
            exprs = rule.get("expr")
            if not isinstance(exprs, list):
                return _all(seen, anything(f"not understood: {name}"))
            reads = self.reads(exprs, seen)
            steps = after
            for expr, (reach, chosen) in zip(reversed(exprs), reversed(reads), strict=True):
                self.budget.spend(1)
                here = At(seen, depth, name, reach, after)
                steps = self.expression(expr, chosen, steps, here)
        except SHAPES as what:
            return _all(seen, anything(f"not understood: {name}: {type(what).__name__}"))
        return steps

    def reads(self, exprs: list[Any], seen: Seen) -> list[tuple[Sources, Sources | str]]:
        """For each expression: the sources that get to it, and what it selects (a match's
        sources, or why the match cannot be read; "" for a statement)."""
        reach = Sources.everything(seen.family)
        out: list[tuple[Sources, Sources | str]] = []
        for expr in exprs:
            verb, body = _parts(expr)
            chosen: Sources | str = ""
            if verb == "match":
                try:
                    chosen = match_set(body, seen, self.ruleset, self.budget)
                except Unread as what:
                    chosen = str(what)
            out.append((reach, chosen))
            if isinstance(chosen, Sources):
                reach = reach & chosen
        return out

    def expression(
        self, expr: Any, chosen: Sources | str, rest: Pieces[Step], here: At
    ) -> Pieces[Step]:
        """What happens from this expression on; `rest` is what the rest of the rule does."""
        verb, body = _parts(expr)
        if verb == "match" and isinstance(chosen, Sources):
            return self.pick(chosen & here.reach, rest, here.after)
        if verb == "match":
            return self.either(rest, here, f"not understood: {here.name}: {chosen}")
        if verb in HARMLESS or (verb == "mangle" and _sets_a_mark(body)):
            return rest
        if verb in RATE:
            return self.either(rest, here, f"{here.name}: its match depends on the traffic rate")
        if verb == "reject":
            kind = body.get("type") if isinstance(body, dict) else None
            other = {"icmp": 6, "icmpv6": 4}.get(str(kind))  # nft guards it by family
            return here.after if other == here.seen.family else here.all(sure(DROP, here.name))
        if verb == "vmap" and isinstance(body, dict):
            return self.vmap(body, here)
        return self.verdict(expr, here)

    def verdict(self, expr: Any, here: At) -> Pieces[Step]:
        """A verdict (of a rule or a verdict map's entry) for the sources that reach it."""
        verb, body = _parts(expr)
        if verb in (ACCEPT, DROP, RETURN):
            return here.all(sure(verb, here.name))
        if verb == "continue":
            return here.after
        target = body.get("target") if isinstance(body, dict) else None
        if verb in ("jump", "goto") and isinstance(target, str):
            seen = here.seen
            called = self.chain((seen.table[0], seen.table[1], target), seen, here.depth + 1)
            if verb == "goto":
                return called
            return combine_within(self.budget, here.after, here.reach, returned, called, here.after)
        return here.all(anything(f"not understood: {here.name}: {verb or 'an expression'}"))

    def vmap(self, body: dict[str, Any], here: At) -> Pieces[Step]:
        """A verdict map: each entry's verdict where its key matches, `after` where none does."""
        try:
            if field_of(body.get("key"), here.seen).kind == "never":
                return here.after  # a key of another family or protocol: no entry matches
            chosen = self.entries(body, here.seen)
        except Unread as what:
            return here.all(anything(f"not understood: {here.name}: {what}"))
        steps = here.after
        covered = overlap = Sources.nothing(here.seen.family)
        for verdict, picked in chosen:
            steps = self.pick(picked & here.reach, self.verdict(verdict, here), steps)
            overlap = overlap | (covered & picked)
            covered = covered | picked
        unclear = here.all(anything(f"not understood: {here.name}: its keys overlap"))
        return self.pick(overlap & here.reach, unclear, steps)

    def entries(self, body: dict[str, Any], seen: Seen) -> list[tuple[Any, Sources]]:
        """Each distinct verdict of a verdict map, with the sources whose key selects it."""
        by_verdict: dict[str, tuple[Any, list[tuple[int, int]]]] = {}
        for key, verdict in map_entries(body.get("data"), seen.table, self.ruleset, self.budget):
            match = {"op": "==", "left": body.get("key"), "right": key}
            picked = match_set(match, seen, self.ruleset, self.budget)
            by_verdict.setdefault(repr(verdict), (verdict, []))[1].extend(picked.spans)
        return [(verdict, Sources.of(seen.family, spans)) for verdict, spans in by_verdict.values()]

    def pick(self, chosen: Sources, inside: Pieces[Step], outside: Pieces[Step]) -> Pieces[Step]:
        """`inside` for the chosen sources, `outside` for the others."""
        if not chosen:
            return outside
        if not ~chosen:
            return inside
        return patch(self.budget, outside, chosen, inside)

    def either(self, rest: Pieces[Step], here: At, why: str) -> Pieces[Step]:
        """The rest of the rule or the next rule, whichever happens, for the sources here."""
        return combine_within(
            self.budget, here.after, here.reach, lambda a, b: either(a, b, why), rest, here.after
        )


@dataclass(frozen=True)
class At:
    """Where an expression is: the connection, the jump depth, the rule's name, the sources
    that get to it (what happens to others does not matter here), and what follows the rule."""

    seen: Seen
    depth: int
    name: str
    reach: Sources
    after: Pieces[Step]

    def all(self, step: Step) -> Pieces[Step]:
        return Pieces.constant(self.seen.family, step)


def _all(seen: Seen, step: Step) -> Pieces[Step]:
    return Pieces.constant(seen.family, step)


def _parts(expr: Any) -> tuple[str, Any]:
    """An expression's verb and body (`{"accept": null}`, `{"match": {...}}`)."""
    if isinstance(expr, dict) and len(expr) == 1:
        verb, body = next(iter(expr.items()))
        return str(verb), body
    return "", None


def _sets_a_mark(body: Any) -> bool:
    """A `mangle` that sets a mark or priority, which no match the suite reads looks at."""
    key = body.get("key") if isinstance(body, dict) else None
    if isinstance(key, dict) and len(key) == 1:
        (kind, inner), *_ = key.items()
        return isinstance(inner, dict) and (kind, inner.get("key")) in MARKS
    return False

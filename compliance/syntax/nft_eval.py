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

RULE_COST = 4  # budget units for reading and naming a rule (a unit is about a microsecond)
JUMP_STACK = 16  # the kernel's NFT_JUMP_STACK_SIZE: it loads no chain 16 jumps deep
HARMLESS = {"counter", "log", "last"}  # statements that never change the verdict
RATE = {"limit", "quota"}  # they match by the traffic seen so far: either way
SHAPES = (TypeError, AttributeError, ValueError, KeyError, IndexError, RecursionError)
SHARED_TABLES = ("inet", "netdev", "bridge")  # tables that see both families
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
        self.budget.spend(RULE_COST)
        name = f"{chain_name(key)} rule {rule.get('handle', '?')}"
        try:  # a shape this reader did not foresee is unknown, never a crash
            name += f" `{show_rule(rule)}`"
            exprs = rule.get("expr")
            if not isinstance(exprs, list):
                return _all(seen, anything(f"not understood: {name}"))
            reads = self.reads(exprs, seen)
            pinned = any(_pins_a_family(expr) for expr in exprs)
            steps = after
            for expr, (reach, chosen) in zip(reversed(exprs), reversed(reads), strict=True):
                self.budget.spend(1)
                if not reach:  # no source gets here: what it does matters to none
                    steps = after
                    continue
                here = At(seen, depth, name, reach, after, pinned)
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
            return self.reject(body, here)
        if verb == "vmap" and isinstance(body, dict):
            return self.vmap(body, here)
        return self.verdict(expr, here)

    def reject(self, body: Any, here: At) -> Pieces[Step]:
        """A reject, for the family it applies to: `with icmp` is IPv4's and `with icmpv6`
        IPv6's (nft guards them); `with tcp reset` in an inet or netdev table is the family
        its rule was restricted to, which nft's JSON may not show (see `nft_listing`)."""
        body = body if isinstance(body, dict) else {}
        kind, hidden = body.get("type"), body.get("nfproto")
        family = {"icmp": 4, "icmpv6": 6}.get(str(kind), 0)
        if kind == "tcp reset" and here.seen.table[0] in SHARED_TABLES and not here.pinned:
            family = {"ipv4": 4, "ipv6": 6, "any": 0}.get(str(hidden), -1)
        rejected = here.all(sure(DROP, here.name))
        if family == -1:
            why = f"{here.name}: nft's JSON may hide the family this reject is for"
            return self.either(rejected, here, why + " (its --debug=netlink listing not read)")
        return here.after if family not in (0, here.seen.family) else rejected

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
    pinned: bool = False  # the rule names a family's field: it is for that family only

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


def _pins_a_family(expr: Any) -> bool:
    """Whether an expression restricts its rule to one family: an `ip` or `ip6` field (nft
    guards it by family), or `meta nfproto` / `meta protocol` equal to one value."""
    verb, body = _parts(expr)
    if not isinstance(body, dict):
        return False
    left = body.get("left") if verb == "match" else body.get("key") if verb == "vmap" else None
    if not isinstance(left, dict):
        return False
    payload, meta = left.get("payload"), left.get("meta")
    if isinstance(payload, dict):
        return payload.get("protocol") in ("ip", "ip6")
    if isinstance(meta, dict) and meta.get("key") in ("nfproto", "protocol"):
        return body.get("op", "==") == "==" and isinstance(body.get("right"), str | int)
    return False


def _sets_a_mark(body: Any) -> bool:
    """A `mangle` that sets a mark or priority, which no match the suite reads looks at."""
    key = body.get("key") if isinstance(body, dict) else None
    if isinstance(key, dict) and len(key) == 1:
        (kind, inner), *_ = key.items()
        return isinstance(inner, dict) and (kind, inner.get("key")) in MARKS
    return False

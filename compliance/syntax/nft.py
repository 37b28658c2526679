"""The CT's loaded packet filter (`nft -j list ruleset`), judged for new TCP connections to one
address and port from every source address of a family, as the kernel runs it.

Base chains of `ip`, `ip6` and `inet` tables (by the packet's family) on the `prerouting` and
`input` hooks, and `ingress` chains (`netdev`, `inet`) of the arriving interface, all run: by
hook (ingress, prerouting, input), then by priority, lowest first. `accept` ends only the
base chain it is in; `drop` and `reject` are final; a chain's end is its policy. What each
chain does is computed by `nft_eval` over the whole address space; `judge` composes the base
chains into a `Judgement` (accept, drop or unknown per source, with the rule or policy that
decided). A ruleset the suite cannot read, or too large to judge within its bound, is
unknown where that matters, never "closed".

`fate` is the point query on top: one packet's outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from compliance.syntax.nft_eval import Evaluator, chain_name
from compliance.syntax.nft_grammar import ChainKey, Ruleset, index
from compliance.syntax.nft_match import Seen
from compliance.syntax.nft_steps import Step, anything, either, ended, sure, then
from compliance.syntax.pieces import TOO_LARGE, Budget, Pieces, TooLarge, combine
from compliance.syntax.sources import (
    ACCEPT,
    DROP,
    UNKNOWN,
    Judgement,
    Region,
    Sources,
    family_of,
)

HOOKS = ("ingress", "prerouting", "input")  # the order a packet for this host meets them
TABLES = {4: ("ip", "inet"), 6: ("ip6", "inet")}
CONNTRACK = -200  # conntrack's prerouting priority: below it a packet is not tracked yet
NEW, INVALID = 8, 1  # ct state bits
NO_FILTER = "accepted by no filter at all"
CONNTRACK_USERS = {"ct", "snat", "dnat", "masquerade", "redirect", "ct count", "synproxy", "flow"}


@dataclass(frozen=True)
class Packet:
    """A new TCP connection arriving in the CT (family from saddr when not given)."""

    saddr: str
    dport: int
    iifname: str = "eth0"
    daddr: str | None = None  # None: a match on the destination is undecided
    family: int | None = None


@dataclass(frozen=True)
class Fate:
    """What the ruleset does to a packet: `accept`, `drop` or `unknown`, and why."""

    verdict: str
    why: str


def read_ruleset(output: str) -> list[dict[str, Any]]:
    """The objects of `nft -j list ruleset` (empty when nft printed no JSON)."""
    try:
        data = json.loads(output)
    except (ValueError, RecursionError):
        return []
    items = data.get("nftables", []) if isinstance(data, dict) else []
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


@dataclass(frozen=True)
class Base:
    """A base chain the packet meets, with what the kernel reads there."""

    key: ChainKey
    hook: str
    prio: int
    policy: Any
    unsure: str  # why the chain may not see the packet at all ("": it does)
    ct_state: int | None


def base_chains(ruleset: Ruleset, family: int, iif: str, budget: Budget) -> list[Base]:
    """The base chains a new connection to this host meets, in the order it meets them."""
    found = []
    for key, chain in ruleset.chains.items():
        hook = chain.get("hook")
        if hook not in HOOKS:
            continue
        unsure = ""
        if hook == "ingress":
            if key[0] not in ("netdev", "inet"):
                continue
            devices = chain.get("dev", chain.get("devices"))
            names = [devices] if isinstance(devices, str) else devices
            if isinstance(names, list) and iif not in names:
                continue
            if not isinstance(names, list):
                unsure = f"if it is on {iif} (nft does not list an ingress chain's device)"
        elif key[0] not in TABLES[family]:
            continue
        if chain.get("type") == "nat" and not conntrack_users(ruleset, family, budget):
            unsure = (
                "if conntrack tracks the packet (a nat chain runs only then, and no rule"
                f" listed makes it track IPv{family})"
            )
        prio = chain.get("prio", 0)
        order = prio if isinstance(prio, int) and not isinstance(prio, bool) else 0
        policy = chain.get("policy", "accept")
        found.append(Base(key, hook, order, policy, unsure, _ct_state(hook, prio)))
    return sorted(found, key=lambda base: (HOOKS.index(base.hook), base.prio))


def conntrack_users(ruleset: Ruleset, family: int, budget: Budget) -> bool:
    """Whether a rule of a table of the family surely makes the kernel track connections of
    the family (a `ct` expression or a nat statement enables conntrack in the namespace)."""
    for key, rules in ruleset.rules.items():
        if key[0] not in TABLES[family]:
            continue
        budget.spend(len(rules))
        if any(_uses_conntrack(rule.get("expr")) for rule in rules):
            return True
    return False


def _uses_conntrack(value: Any, depth: int = 0) -> bool:
    if depth > 12:
        return False
    if isinstance(value, dict):
        return any(
            key in CONNTRACK_USERS or _uses_conntrack(inner, depth + 1)
            for key, inner in value.items()
        )
    if isinstance(value, list):
        return any(_uses_conntrack(inner, depth + 1) for inner in value)
    return False


def _ct_state(hook: str, prio: Any) -> int | None:
    """The conntrack state a new connection shows at this hook and priority."""
    if hook == "input":
        return NEW
    if hook == "ingress":
        return INVALID
    if not isinstance(prio, int) or isinstance(prio, bool) or prio == CONNTRACK:
        return None
    return INVALID if prio < CONNTRACK else NEW


def judge(
    items: list[dict[str, Any]],
    family: int,
    daddr: str | None,
    dport: int,
    iif: str,
    *,
    budget: Budget | None = None,
) -> Judgement:
    """What the ruleset does to new TCP connections to daddr:dport arriving on `iif`, from
    every source address of `family` (4 or 6)."""
    budget = budget or Budget()
    try:
        ruleset = index(items, budget)
        bases = base_chains(ruleset, family, iif, budget)
    except TooLarge:
        return Judgement.uniform(family, UNKNOWN, TOO_LARGE)
    evaluator = Evaluator(ruleset, budget)
    composed: Pieces[Step] = Pieces.constant(family, sure(ACCEPT, ""))
    finish = Budget(limit=1 << 62)  # composing what was judged: bounded by the pieces made
    for base in bases:
        seen = Seen(family, (base.key[0], base.key[1]), daddr, dport, iif, base.ct_state)
        try:
            steps = _base(evaluator, base, seen)
        except TooLarge:
            evaluator.budget = Budget(limit=0)  # spent: the chains after it are not read
            steps = Pieces.constant(family, anything(TOO_LARGE))
        composed = combine(finish, then, composed, steps)
    regions: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for step, sources in composed.grouped():
        regions.setdefault((step.outcome, step.why or NO_FILTER), []).extend(sources.spans)
    return Judgement(
        family,
        tuple(
            Region(Sources.of(family, spans), outcome, why)
            for (outcome, why), spans in regions.items()
        ),
    )


def _base(evaluator: Evaluator, base: Base, seen: Seen) -> Pieces[Step]:
    """A base chain's outcome for every source: its end (or `return`) is its policy."""
    name = chain_name(base.key)
    policy = (
        sure(base.policy, f"{name}: policy {base.policy}")
        if base.policy in (ACCEPT, DROP)
        else anything(f"not understood: {name}: policy {base.policy}")
    )
    steps = evaluator.chain(base.key, seen)
    steps = combine(evaluator.budget, lambda step: ended(step, policy), steps)
    if base.unsure:
        passes = sure(ACCEPT, f"{name} does not see it")
        steps = combine(
            evaluator.budget,
            lambda step: either(passes, step, f"{step.why}, {base.unsure}"),
            steps,
        )
    return steps


def fate(items: list[dict[str, Any]], packet: Packet) -> Fate:
    """One packet's outcome: `judge` for its family, read at its source."""
    family = packet.family or family_of(packet.saddr)
    judged = judge(items, family, packet.daddr, packet.dport, packet.iifname)
    outcome, why = judged.fate(packet.saddr)
    return Fate(outcome, why)

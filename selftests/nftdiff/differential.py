"""One ruleset tried both ways, and many drawn by hypothesis: the kernel's answer for each
client source against `judge`'s outcome for that source.

The kernel's answer is `connected` (the ruleset accepted the SYN) or anything else (refused,
unreachable, timed out: closed). They must agree wherever the judgement is accept or drop;
an unknown judgement is counted, not compared (the share judged is reported).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, seed, settings

from compliance.syntax.nft import judge
from compliance.syntax.sources import ACCEPT, DROP, UNKNOWN
from remediation.fix_firewall import RULES as GUARD_RULES
from selftests.nftdiff.rulesets import Pool, rulesets
from selftests.nftdiff.sides import PORT, Side


@dataclass(frozen=True)
class Try:
    """One source's try: what the kernel answered, what the suite judged, and why."""

    family: int
    source: str
    answer: str
    judged: str
    why: str

    @property
    def agrees(self) -> bool | None:
        """None where the suite did not judge (unknown)."""
        if self.judged == UNKNOWN:
            return None
        return (self.answer == "connected") == (self.judged == ACCEPT)


@dataclass
class Tally:
    """What a run found."""

    rulesets: int = 0
    unloadable: int = 0
    tries: int = 0
    agreed: int = 0
    unknown: int = 0
    disagreements: list[tuple[str, Try]] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)  # what nft said when it refused
    unknowns: Counter[str] = field(default_factory=Counter)  # why the suite did not judge

    def add(self, text: str, tries: Iterable[Try] | None, refusal: str = "") -> None:
        self.rulesets += 1
        if tries is None:
            self.unloadable += 1
            first = refusal.splitlines()[0] if refusal else "?"
            self.refusals[first.split(": ", 1)[-1]] += 1  # without the file:line:column
            return
        for one in tries:
            self.tries += 1
            self.answers[f"{one.judged}/{one.answer}"] += 1
            if one.agrees is None:
                self.unknown += 1
                self.unknowns[_reason(one.why)] += 1
            elif one.agrees:
                self.agreed += 1
            else:
                self.disagreements.append((text, one))

    @property
    def judged(self) -> int:
        return self.tries - self.unknown

    def summary(self) -> str:
        share = f"{100 * self.judged / self.tries:.1f}%" if self.tries else "-"
        return (
            f"{self.rulesets} rulesets ({self.unloadable} refused by nft), {self.tries} tries:"
            f" {self.judged} judged ({share}), {self.agreed} agree with the kernel,"
            f" {len(self.disagreements)} disagree, {self.unknown} unknown;"
            f" judged/kernel: {dict(sorted(self.answers.items()))}"
        )


def _reason(why: str) -> str:
    """The kind of a reason, without the rule's text: `...: dnat`, `... traffic rate`."""
    head, _, tail = why.rpartition("`")
    return (tail or head).strip(" :,")[:90]


def tried(side: Side, text: str) -> tuple[list[Try] | None, str]:
    """Load the ruleset and try every source: (the tries, or None and nft's refusal)."""
    refusal = side.load(text)
    if refusal is not None:
        return None, refusal
    items = side.listed()
    answers = side.attempt()
    a = side.addresses
    judgements = {
        4: judge(items, 4, a.server4, PORT, a.iif),
        6: judge(items, 6, a.server6, PORT, a.iif),
    }
    out = []
    for (family, source, *_), answer in zip(side.tries(), answers, strict=True):
        judged, why = judgements[family].fate(source)
        out.append(Try(family, source, answer, judged, why))
    return out, ""


def run(side: Side, count: int, chosen_seed: int, stop_at_first: bool = False) -> Tally:
    """`count` rulesets drawn with a fixed seed. With `stop_at_first`, a disagreement fails
    and hypothesis shrinks it to a smallest ruleset that still disagrees."""
    tally = Tally()
    pool = Pool.around(side.addresses)
    phases = [Phase.generate, Phase.shrink] if stop_at_first else [Phase.generate]

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @seed(chosen_seed)
    @given(rulesets(pool))
    def one(text: str) -> None:
        tries, refusal = tried(side, text)
        tally.add(text, tries, refusal)
        if stop_at_first and tries:
            wrong = [t for t in tries if t.agrees is False]
            assert not wrong, f"kernel and suite disagree on\n{text}\n{wrong}"

    one()
    return tally


def closed_examples(side: Side) -> list[tuple[str, str]]:
    """Rulesets that close the port to all but the host: (name, text)."""
    a = side.addresses
    return [
        ("the plan's guard (remediation/fix_firewall.py RULES)", GUARD_RULES.format(host=a.host4)),
        (
            "an inet table that accepts the host and drops the rest",
            "table inet only_host {\n  chain input {\n"
            "    type filter hook input priority filter; policy accept;\n"
            f"    tcp dport {PORT} ip saddr {a.host4} accept\n"
            f"    tcp dport {PORT} ip6 saddr {a.host6} accept\n"
            f"    tcp dport {PORT} drop\n  }}\n}}\n",
        ),
        (
            "policy drop with iif lo accept",
            "table inet closed {\n  chain input {\n"
            "    type filter hook input priority filter; policy drop;\n"
            '    iif "lo" accept\n'
            "    ct state established,related accept\n"
            f"    ip saddr {a.host4} tcp dport {PORT} accept\n"
            f"    ip6 saddr {a.host6} tcp dport {PORT} accept\n  }}\n}}\n",
        ),
    ]


def closed_problems(side: Side, name: str, text: str) -> list[str]:
    """What is wrong with a closed example: every source tried must be judged (not unknown)
    and the kernel agree; the host's addresses are judged accepted (tried too where the host
    is one of the client's sources), every other source dropped."""
    tries, refusal = tried(side, text)
    if tries is None:
        return [f"{name}: nft refused it: {refusal}"]
    a = side.addresses
    hosts = {a.host4} if "guard" in name else {a.host4, a.host6}  # the guard: IPv4 only
    problems = [
        f"{name}: {one}"
        for one in tries
        if one.judged != (ACCEPT if one.source in hosts else DROP) or one.agrees is not True
    ]
    items = side.listed()
    for family, host, server in ((4, a.host4, a.server4), (6, a.host6, a.server6)):
        judged, why = judge(items, family, server, PORT, a.iif).fate(host)
        if host in hosts and judged != ACCEPT:
            problems.append(f"{name}: the host {host} is {judged}: {why}")
    return problems

"""Evidence: what a check expected, what it found, and the commands that showed it."""

from __future__ import annotations

from dataclasses import dataclass, field

from compliance.facts import Fact

EXCERPT_LINES = 12


def excerpt(text: str, lines: int = EXCERPT_LINES) -> str:
    """The last `lines` lines of an output, marked when cut."""
    rows = text.rstrip("\n").splitlines() or ["(no output)"]
    cut = rows[-lines:]
    head = [f"... ({len(rows) - lines} earlier lines)"] if len(rows) > lines else []
    return "\n".join(head + cut)


def describe(fact: Fact) -> str:
    """A fact as evidence: where, command, exit code, output excerpt."""
    body = "\n".join(f"  | {line}" for line in excerpt(fact.output).splitlines())
    return f"[{fact.where}] $ {fact.shown}\n  exit {fact.rc}\n{body}"


@dataclass
class EvidenceLog:
    """The facts a check looked at, in order, for the report."""

    facts: list[Fact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, fact: Fact) -> None:
        if fact not in self.facts:
            self.facts.append(fact)

    def text(self) -> str:
        parts = [describe(f) for f in self.facts] + self.notes
        return "\n".join(parts)


class ReportedFailure(AssertionError):
    """A failure whose message is the whole story: the report shows it without a traceback."""


class CheckFailed(ReportedFailure):
    """A compliance check failed: expected vs found, with the evidence behind it."""

    def __init__(self, expected: str, found: str, evidence: list[Fact]) -> None:
        self.expected = expected
        self.found = found
        self.evidence = evidence
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"expected: {self.expected}", f"found:    {self.found}"]
        lines += [describe(f) for f in self.evidence]
        return "\n".join(lines)

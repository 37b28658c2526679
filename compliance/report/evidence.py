"""Evidence: what a check expected, what it found, and the commands that showed it.

Remote output reaches a terminal and an HTML report through here, so it is made safe here:
control characters (escape sequences, carriage returns, C1 controls, bidi overrides, odd
bytes kept as surrogates) are shown escaped (`\\x1b`), and excerpts are capped by lines and by
characters, each cut marked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from compliance.facts import Observation

EXCERPT_LINES = 12
LINE_CHARS = 400  # characters shown of one line
EXCERPT_CHARS = 4000  # characters shown of one excerpt (and of an expected/found text)
_MARK_ROOM = 40  # room kept for the "... (N earlier lines)" mark

# C0 controls but tab and newline, DEL, C1 controls, bidi and line-separator characters
# (they reorder or break what the reader sees) and lone surrogates (undecodable bytes).
_UNSAFE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
    r"\u2066-\u2069\ud800-\udfff]"
)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0D:
        return "\\r"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def neutralise(text: str) -> str:
    """`text` safe for a terminal and a report: every control character but newline and tab
    shown escaped (ESC as `\\x1b`, CR as `\\r`); U+FFFD and other printable text unchanged."""
    return _UNSAFE.sub(_escaped, text)


def clip(text: str, width: int = LINE_CHARS) -> str:
    """`text` neutralised and cut at `width` shown characters, the cut marked."""
    head = text[:width]  # an escape is never shorter than its character: enough to show
    shown = neutralise(head)
    if len(shown) <= width and len(text) <= width:
        return shown
    pieces: list[str] = []
    size = taken = 0
    for char in head:  # cut between escapes, never inside one
        piece = neutralise(char)
        if size + len(piece) > width:
            break
        pieces.append(piece)
        size += len(piece)
        taken += 1
    return f"{''.join(pieces)} ... ({len(text) - taken} more characters)"


def excerpt(text: str, lines: int = EXCERPT_LINES, chars: int = EXCERPT_CHARS) -> str:
    """The last `lines` lines of an output, each at most LINE_CHARS characters and all at most
    `chars`, neutralised; cuts are marked. A CRLF line end is a line end; a lone CR is shown."""
    body = text.replace("\r\n", "\n").rstrip("\n")
    if not body:
        return "(no output)"
    total = body.count("\n") + 1
    tail = body.rsplit("\n", lines)[-lines:] if lines > 0 else []
    kept: list[str] = []
    size = 0
    for row in reversed([clip(row) for row in tail]):
        if kept and size + len(row) + 1 > chars - _MARK_ROOM:
            break
        kept.append(row)
        size += len(row) + 1
    kept.reverse()
    head = [f"... ({total - len(kept)} earlier lines)"] if total > len(kept) else []
    return "\n".join(head + kept)


def describe(fact: Observation) -> str:
    """A fact as evidence: where, command, exit code, output excerpt."""
    body = "\n".join(f"  | {line}" for line in excerpt(fact.output).split("\n"))
    return f"[{neutralise(fact.where)}] $ {neutralise(fact.shown)}\n  exit {fact.rc}\n{body}"


@dataclass
class EvidenceLog:
    """The facts a check looked at, in order, for the report."""

    facts: list[Observation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, fact: Observation) -> None:
        if fact not in self.facts:
            self.facts.append(fact)

    def text(self) -> str:
        parts = [describe(f) for f in self.facts] + [clip(n, EXCERPT_CHARS) for n in self.notes]
        return "\n".join(parts)


class ReportedFailure(AssertionError):
    """A failure whose message is the whole story: the report shows it without a traceback."""


class CheckFailed(ReportedFailure):
    """A compliance check failed: expected vs found, with the evidence behind it."""

    def __init__(self, expected: str, found: str, evidence: list[Observation]) -> None:
        self.expected = expected
        self.found = found
        self.evidence = evidence
        super().__init__(self.render())

    def render(self) -> str:
        lines = [
            f"expected: {clip(self.expected, EXCERPT_CHARS)}",
            f"found:    {clip(self.found, EXCERPT_CHARS)}",
        ]
        lines += [describe(f) for f in self.evidence]
        return "\n".join(lines)

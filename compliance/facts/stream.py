"""The hardened, opt-in live streaming probe: a generation through the proxy, timed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Self

from compliance.facts import Fact, Scope
from compliance.facts.http import proxy_base


@dataclass(frozen=True)
class ProxiedStream(Fact):
    """When the first and the last chunk of a streamed /api/generate arrived (seconds after
    sending, the model loaded first) and the longest gap between two; `answered` False when no
    stream came, `skipped` why no model given could generate (embedding-only, cloud)."""

    answered: bool
    status: int = 0
    chunks: int = 0
    first: float = 0.0
    last: float = 0.0
    gap: float = 0.0
    model: str = ""
    skipped: str = ""
    where = "runner"
    hardened = True
    on_demand = True  # arguments: the models to stream from, the first that can generate
    observes = "proxy"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return f"STREAM {proxy_base(scope)}api/generate {' '.join(args)}"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        text = output.strip()
        if rc == 0 and text.startswith("skipped: "):
            return cls(False, skipped=text.removeprefix("skipped: "))
        match = re.fullmatch(
            r"status (\d+) chunks (\d+) first ([\d.]+) last ([\d.]+)"
            r"(?: gap ([\d.]+))?(?: model (\S+))?",
            text,
        )
        if rc != 0 or not match:
            return cls(False)
        numbers = int(match[1]), int(match[2]), float(match[3]), float(match[4])
        return cls(True, *numbers, float(match[5] or 0), match[6] or "")

    @property
    def streamed(self) -> bool:
        """The first chunk came well before the last one (not held back by a buffer)."""
        return self.chunks >= 3 and self.first < 0.5 * self.last

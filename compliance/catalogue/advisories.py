"""Known Ollama advisories (data in compliance/catalogue/advisories.json), which a version has."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

BUILT_IN = Path(__file__).with_suffix(".json")


class AdvisoriesError(ValueError):
    """The advisories file cannot be used (one line naming the file and why)."""


@dataclass(frozen=True)
class Advisory:
    """One advisory: vulnerable below `fixed_in`, or up to and including `affected_through`."""

    id: str
    summary: str
    source: str
    fixed_in: str = ""
    affected_through: str = ""

    def affects(self, version: tuple[int, ...]) -> bool:
        if self.fixed_in:
            return version < parse_version(self.fixed_in)
        return version <= parse_version(self.affected_through)

    def remedy(self) -> str:
        if self.fixed_in:
            return f"fixed in {self.fixed_in}"
        return f"affects up to {self.affected_through}"


def parse_version(text: str) -> tuple[int, ...]:
    """`0.17.4`, `v0.20.2-rc1` -> (0, 17, 4) / (0, 20, 2); no number -> ()."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", text.strip())
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def load(path: str | None = None) -> list[Advisory]:
    """The advisories of `path` (default: the suite's own file)."""
    source = Path(path) if path else BUILT_IN
    try:
        data = json.loads(source.read_text())
        entries = data["advisories"]
        found = [
            Advisory(
                id=str(e["id"]),
                summary=str(e["summary"]),
                source=str(e["source"]),
                fixed_in=str(e.get("fixed_in") or ""),
                affected_through=str(e.get("affected_through") or ""),
            )
            for e in entries
        ]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AdvisoriesError(
            f"advisories file {source}: {type(error).__name__}: {error}"
        ) from None
    for advisory in found:
        bound = advisory.fixed_in or advisory.affected_through
        if not parse_version(bound):
            raise AdvisoriesError(f"advisories file {source}: {advisory.id} has no version bound")
    return found


def affecting(version: str, known: list[Advisory]) -> list[Advisory]:
    """The advisories that apply to `version` (all of them when it cannot be read)."""
    parsed = parse_version(version)
    return [a for a in known if not parsed or a.affects(parsed)]

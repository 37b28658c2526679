"""Read a pytest-html 4 report the way a browser gets it: the page, and the JSON rows its
script renders (each row's cells, its result and the values of its sortable columns)."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class HtmlReport:
    page: str
    blob: dict[str, Any]

    @classmethod
    def read(cls, path: Path) -> HtmlReport:
        page = path.read_text(encoding="utf-8")
        found = re.search(r'data-jsonblob="([^"]*)"', page)
        assert found, f"{path}: no data blob (not a pytest-html 4 report?)"
        return cls(page, json.loads(html.unescape(found.group(1))))

    @property
    def title(self) -> str:
        found = re.search(r'<h1 id="title">(.*?)</h1>', self.page)
        return html.unescape(found.group(1)) if found else ""

    @property
    def verdict(self) -> str:
        found = re.search(r'<div id="audit-verdict" class="([a-z-]+)">(.*?)</div>', self.page)
        return html.unescape(found.group(2)) if found else ""

    @property
    def environment(self) -> dict[str, Any]:
        return dict(self.blob["environment"])

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every row pytest-html renders (a test's call, or its failed/skipped setup)."""
        return [row for rows in self.blob["tests"].values() for row in rows]

    def counts(self) -> dict[str, int]:
        """The audit's outcome counts as the summary shows them next to their checkboxes."""
        pattern = r'name="audit_outcome" data-outcome="([a-z ]+)"[^>]*> <span[^>]*>(\d+) '
        return {outcome: int(n) for outcome, n in re.findall(pattern, self.page)}

    def cell(self, row: dict[str, Any], column: str) -> str:
        """A row's cell of `column` (its class col-<column>), tags stripped, unescaped."""
        for cell in row["resultsTableRow"]:
            if re.match(rf'<td class="col-{column}[ "]', cell):
                inner = re.sub(r"<div[^>]*>.*?</div>", "", cell)
                return html.unescape(re.sub(r"<[^>]+>", "", inner))
        raise KeyError(column)

    def outcome(self, row: dict[str, Any]) -> str:
        found = re.search(r'data-outcome="([a-z ]*)"', " ".join(row["resultsTableRow"]))
        return found.group(1) if found else ""

    def by_check(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Rows keyed by (check id, target) as the Check and Target columns say."""
        return {(self.cell(r, "check"), self.cell(r, "target")): r for r in self.rows}

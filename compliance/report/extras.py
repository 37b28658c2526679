"""Attach evidence to pytest-html rows (plain dicts, so no import of pytest_html is needed)."""

from __future__ import annotations

import html

import pytest


def attach_html(report: pytest.TestReport, name: str, title: str, text: str) -> None:
    """Add a titled <pre> block to a report row's extras (pytest-html shows it under the row)."""
    heading = f"<h4>{html.escape(title)}</h4>" if title else ""
    extras = getattr(report, "extras", [])
    extras.append(
        {
            "name": name,
            "format_type": "html",
            "content": f"{heading}<pre>{html.escape(text)}</pre>",
            "mime_type": None,
            "extension": None,
        }
    )
    report.extras = extras  # type: ignore[attr-defined]

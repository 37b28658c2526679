"""The audit in pytest-html's report: columns, the verdict, the outcome counts and their filter.

pytest-html 4 renders its rows in the browser from a JSON blob and filters them by a fixed list
of pytest outcomes (passed, failed, skipped, error, xfailed, xpassed, rerun): a row whose result
is anything else is never shown. So a check's audit outcome (passed / failed / fixed / not
remediable / skipped) is not smuggled into pytest-html's result; it is a column of its own
(`td.col-outcome[data-outcome]`, sortable like the others), counted and filtered by checkboxes
in the summary's prefix with a small script that hides the rows whose outcome is unchecked,
again after each of pytest-html's redraws (sort, filter, expand). pytest-html's own Result
column and filters stay as they are: they say what pytest saw (a fixed check passed its
re-check).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from compliance.report.outcomes import (
    FAILING,
    FIXED,
    NOT_REQUESTED,
    OUTCOMES,
    SKIPPED,
    Row,
    counts,
    one_line,
)

NOTE_CHARS = 160  # under the outcome; the row's log below has the whole text
WHERE = {
    "host": "on the host",
    "ct": "in the container",
    "runner": "from the runner",
    "lan": "from the LAN",
}

# (header, css name, sortable): inserted after pytest-html's Result column.
COLUMNS = (
    ("Outcome", "outcome", True),
    ("Check", "check", True),
    ("Section", "section", True),
    ("Target", "target", True),
    ("Control", "control", False),
)

STYLE = """
<style>
  #audit-verdict { font-size: 18px; font-weight: bold; padding: 10px 14px; margin: 8px 0 14px;
    border-radius: 4px; border: 1px solid; }
  #audit-verdict.compliant { color: #1b5e20; background: #e8f5e9; border-color: #a5d6a7; }
  #audit-verdict.not-compliant { color: #b71c1c; background: #ffebee; border-color: #ef9a9a; }
  .audit-filters { color: black; margin: 6px 0; }
  .audit-filters .audit-label { font-weight: bold; margin-right: 4px; }
  .outcome-passed { color: green; }
  .outcome-failed { color: red; }
  .outcome-not-remediable { color: #ad1457; }
  .outcome-fixed { color: #1565c0; }
  .outcome-skipped { color: orange; }
  #results-table td.col-outcome { font-weight: bold; white-space: nowrap; }
  #results-table td.col-outcome .audit-note { font-weight: normal; white-space: normal;
    max-width: 320px; }
  #results-table td.col-check, #results-table td.col-target,
  #results-table td.col-section { color: black; white-space: nowrap; }
  #results-table td.col-check { font-family: monospace; font-size: 13px; }
  #results-table td.col-control { color: #333; min-width: 260px; }
  .audit-note { color: #666; font-size: 11px; }
  #environment td { color: #333; }
</style>
"""

# Runs in the summary (before pytest-html's own script, which renders the table at the end
# of the page): it waits for the page, then keeps the rows in step with the checkboxes.
SCRIPT = """
<script>
(function () {
  var boxes = function () {
    return Array.prototype.slice.call(document.querySelectorAll('input[name="audit_outcome"]'));
  };
  var apply = function () {
    var hidden = {};
    boxes().forEach(function (box) { hidden[box.dataset.outcome] = !box.checked; });
    document.querySelectorAll('#results-table tbody.results-table-row').forEach(function (row) {
      var cell = row.querySelector('td.col-outcome');
      var outcome = cell ? cell.dataset.outcome : '';
      row.style.display = outcome && hidden[outcome] ? 'none' : '';
    });
  };
  document.addEventListener('DOMContentLoaded', function () {
    var verdict = document.getElementById('audit-verdict');
    var title = document.getElementById('title');
    if (verdict && title) { title.after(verdict); }
    boxes().forEach(function (box) { box.addEventListener('change', apply); });
    new MutationObserver(apply).observe(document.body, { childList: true, subtree: true });
    apply();
  });
})();
</script>
"""


def css_name(outcome: str) -> str:
    return "outcome-" + outcome.replace(" ", "-")


def header_cells() -> list[str]:
    cells = []
    for title, name, sortable in COLUMNS:
        sort = ' class="sortable"' if sortable else ""
        cells.append(f'<th{sort} data-column-type="{name}">{title}</th>')
    return cells


def row_cells(row: Row | None, note: str = "") -> list[str]:
    """The audit's cells of one pytest-html row (empty cells for a test that is no check).

    `note` goes under the outcome: the fix (`by systemd_unit`), the finding of a failure, the
    reason of a skip. pytest-html reads a sortable column's value from the cell's markup up to
    `</td>`, so each cell is one line of HTML starting with its value.
    """
    if row is None:
        return [f'<td class="col-{name}"></td>' for _t, name, _s in COLUMNS]
    esc = html.escape
    shown = one_line(note, NOTE_CHARS)
    small = f'<div class="audit-note">{esc(shown)}</div>' if note else ""
    where = WHERE.get(row.where, row.where)
    return [
        f'<td class="col-outcome {css_name(row.outcome)}" data-outcome="{esc(row.outcome)}">'
        f"{esc(row.outcome)}{small}</td>",
        f'<td class="col-check">{esc(row.check_id)}</td>',
        f'<td class="col-section">{esc(row.section)}</td>',
        f'<td class="col-target">{esc(row.target)}<div class="audit-note">{esc(where)}</div></td>',
        f'<td class="col-control">{esc(row.control)}</td>',
    ]


def note_for(row: Row) -> str:
    """What the outcome cell says under the outcome."""
    status, _, fix = row.fix.partition(": ")
    if row.outcome in (SKIPPED, NOT_REQUESTED):
        return row.finding
    if row.outcome == FIXED:
        return f"by {fix}; it found: {row.finding}" if row.finding else f"by {fix}"
    if row.outcome in FAILING:
        tail = f" (fix {fix}: {status})" if fix else ""
        if status == "planned":  # --fix --dry-run: the row's log shows the diff and commands
            tail = f" (dry run: {fix} would change it, see below)"
        return f"found: {row.finding}{tail}" if row.finding else tail.strip()
    return ""


def verdict_html(said: str) -> str:
    kind = "compliant" if said.startswith("compliant") else "not-compliant"
    return f'<div id="audit-verdict" class="{kind}">{html.escape(said)}</div>'


def filters_html(rows: Sequence[Row]) -> str:
    """The outcome counts, each with a checkbox that shows or hides its rows."""
    tally = counts(rows)
    parts = []
    for outcome in OUTCOMES:
        if outcome == NOT_REQUESTED and not tally[outcome]:
            continue  # shown only when the person's flags left a probe off
        disabled = " disabled" if not tally[outcome] else ""
        parts.append(
            f'<input type="checkbox" name="audit_outcome" data-outcome="{outcome}" checked'
            f'{disabled}> <span class="{css_name(outcome)}">{tally[outcome]} {outcome}</span>'
        )
    label = f'<span class="audit-label">{len(rows)} checks:</span>'
    return f'<div class="audit-filters">{label} {", ".join(parts)}</div>'


def summary_prefix(rows: Sequence[Row], said: str) -> list[str]:
    """What goes at the top of pytest-html's summary: style, verdict, counts, the filter."""
    return [STYLE, verdict_html(said), filters_html(rows), SCRIPT]


def environment_value(value: object) -> object:
    """pytest-html inserts environment values as HTML: escape ours (dicts stay lists)."""
    if isinstance(value, dict):
        return {html.escape(str(k)): html.escape(str(v)) for k, v in value.items()}
    return html.escape(str(value))

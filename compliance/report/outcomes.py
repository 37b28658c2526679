"""What an audit concluded, said for people: each check's outcome, the verdict, the summary.

pytest knows passed, failed and skipped; an auditor also needs to know what `--fix` changed
and what it could not repair. A check row's outcome is one of OUTCOMES, derived from pytest's
outcome and the fix status the remediation plugin records. Everything here is plain data
(host-free tests in selftests/unit/test_outcomes.py); the pytest wiring is in
compliance/report/hooks.py.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from compliance import catalogue, plan
from compliance.catalogue.verdict import NOT_REQUESTED as NOT_REQUESTED_PREFIX
from compliance.report.evidence import neutralise

FAILED, NOT_REMEDIABLE, FIXED, SKIPPED, NOT_REQUESTED, PASSED = (
    "failed",
    "not remediable",
    "fixed",
    "skipped",
    "not requested",
    "passed",
)
# worst first: the report's order. `skipped`: could not be judged (the run is "not judged");
# `not requested`: an opt-in probe the person's flags left off (it changes no verdict).
OUTCOMES = (FAILED, NOT_REMEDIABLE, FIXED, SKIPPED, NOT_REQUESTED, PASSED)
FAILING = (FAILED, NOT_REMEDIABLE)

# Exit codes: pytest's own for a pass (0), a failure (1), an interrupted run (2), a usage error
# or bad settings (4), nothing collected (5); the suite's own, above pytest's range as InSpec's
# are: 101 for a run in which nothing failed but some check could not be judged, 102 for a
# host it could not use (pytest's 3 is its internal error).
EXIT_COMPLIANT, EXIT_FAILED, EXIT_BAD_SETTINGS = 0, 1, 4
EXIT_NOT_JUDGED, EXIT_UNREACHABLE = 101, 102
FINDING_CHARS = 300  # a finding is one line: JUnit's message, a cell of the Markdown table

REPO = Path(__file__).resolve().parents[2]
PLAN_FILES = plan.FILES
DISTRIBUTION = "ollama-lxc-compliance"


def outcome_of(pytest_outcome: str, fix_status: str = "") -> str:
    """A check row's outcome from pytest's (passed/failed/skipped) and the fix's status.

    A check that passed on its re-check after its fix is `fixed`; one whose fix was refused
    (not ours, binary missing, a masked unit) is `not remediable`; any other failure, including
    a fix that failed, was rolled back or only planned (--dry-run), stays `failed`.
    """
    if pytest_outcome == "skipped":
        return SKIPPED  # the skip's reason says whether it was requested (see `skip_outcome`)
    if pytest_outcome == "passed":
        return FIXED if fix_status == FIXED else PASSED
    return NOT_REMEDIABLE if fix_status == NOT_REMEDIABLE else FAILED


def one_line(text: str, limit: int = FINDING_CHARS) -> str:
    """`text` as one neutralised line of at most `limit` characters (a cut ends with ...)."""
    line = " ".join(neutralise(text).split())
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."


def finding_of(text: str) -> str:
    """The one-line finding of a failure message: its `found:` line, else its first line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("found:"):
            return one_line(line.removeprefix("found:"))
    return one_line(lines[0]) if lines else ""


def skip_outcome(reason: str) -> str:
    """`not requested` for a skip the person's own flags chose, else `skipped`."""
    return NOT_REQUESTED if reason.startswith(NOT_REQUESTED_PREFIX) else SKIPPED


def skip_reason(longrepr: object) -> str:
    """The reason of a skip report (pytest keeps it as (path, line, 'Skipped: why'))."""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return one_line(str(longrepr[2]).removeprefix("Skipped: "))
    return one_line(str(longrepr or ""))


@dataclass(frozen=True)
class Row:
    """One check (or a person's own test) on one target, as the reports show it.

    `finding` is what was wrong: the `found:` line of a failure, what a fixed check found
    before its fix, the reason of a skip. `fix` is the fix's name and status under --fix.
    `section`, `where` and `control` describe the check; left empty, they are the
    catalogue's for `check_id`.
    """

    check_id: str
    target: str
    outcome: str
    finding: str = ""
    fix: str = ""
    section: str = ""
    where: str = ""
    control: str = ""

    def __post_init__(self) -> None:
        check = catalogue.load().get(self.check_id)
        if check is not None:
            for name in ("section", "where", "control"):
                if not getattr(self, name):
                    object.__setattr__(self, name, getattr(check, name))


def counts(rows: Iterable[Row]) -> dict[str, int]:
    """How many rows have each outcome, every outcome present (in OUTCOMES order)."""
    tally = dict.fromkeys(OUTCOMES, 0)
    for row in rows:
        tally[row.outcome] += 1
    return tally


def counts_line(rows: Sequence[Row]) -> str:
    """`15 checks: 3 failed, 0 not remediable, 2 fixed, 0 skipped, 10 passed`."""
    tally = counts(rows)
    shown = ", ".join(f"{tally[o]} {o}" for o in OUTCOMES if tally[o] or o != NOT_REQUESTED)
    return f"{len(rows)} check{'s' * (len(rows) != 1)}: {shown}"


def _places(rows: Iterable[Row]) -> str:
    """The targets of `rows`, in order, a host left out when one of its containers is named
    (`proxmox/ct955` says which host)."""
    targets = list(dict.fromkeys(row.target for row in rows))
    named_hosts = {target.split("/", 1)[0] for target in targets if "/" in target}
    return ", ".join(t for t in targets if "/" in t or t not in named_hosts)


def verdict(rows: Sequence[Row], dry_run: bool = False) -> str:
    """`compliant: ...` when every judged check passed (fixed ones included), else
    `NOT compliant: ...`.

    A skipped check was not judged, so a run with one is not compliant either; a check the
    person did not ask for (not requested) is left out of the count and named; a run in which
    no check ran proves nothing.
    """
    judged = [row for row in rows if row.outcome != NOT_REQUESTED]
    unasked = len(rows) - len(judged)
    aside = f"{unasked} not requested" if unasked else ""
    total = len(judged)
    if not total:
        return "NOT compliant: no check ran"
    failing = [row for row in judged if row.outcome in FAILING]
    skipped = [row for row in judged if row.outcome == SKIPPED]
    if not failing and not skipped:
        fixed = counts(rows)[FIXED]
        extras = ", ".join(filter(None, (f"{fixed} fixed by this run" if fixed else "", aside)))
        tail = f" ({extras})" if extras else ""
        return f"compliant: all {total} checks pass on {_places(judged)}{tail}"
    parts = []
    if failing:
        verb = "fails" if len(failing) == 1 else "fail"
        parts.append(f"{len(failing)} of {total} checks {verb} on {_places(failing)}")
    if skipped:
        unjudged = f"{len(skipped)} could not be judged (skipped)"
        parts.append(unjudged if failing else f"{unjudged} of {total} on {_places(skipped)}")
    if aside:
        parts.append(aside)
    tail = " (dry run: nothing was changed)" if dry_run else ""
    return "NOT compliant: " + ", ".join(parts) + tail


def is_compliant(rows: Sequence[Row]) -> bool:
    """Every judged check passing (fixed ones included): what `verdict` says in words."""
    judged = [row for row in rows if row.outcome != NOT_REQUESTED]
    return bool(judged) and all(
        row.outcome not in FAILING and row.outcome != SKIPPED for row in judged
    )


def exit_code(rows: Sequence[Row]) -> int:
    """The exit code of a run whose checks ran: 0 compliant, 1 a check failed (or none was
    judged at all), 101 nothing failed but some check could not be judged."""
    if is_compliant(rows):
        return EXIT_COMPLIANT
    judged = [row for row in rows if row.outcome != NOT_REQUESTED]
    if any(row.outcome in FAILING for row in judged) or all(r.outcome == SKIPPED for r in judged):
        return EXIT_FAILED
    return EXIT_NOT_JUDGED


def heading(rows: Sequence[Row]) -> str:
    """The verdict in one word, as the exit code says it: PASS, FAIL or NOT JUDGED."""
    return {EXIT_COMPLIANT: "PASS", EXIT_NOT_JUDGED: "NOT JUDGED"}.get(exit_code(rows), "FAIL")


def _cell(text: str) -> str:
    """Text safe in a GitHub/GitLab Markdown table cell: no HTML, no pipe, one line."""
    return html.escape(one_line(text), quote=False).replace("|", "\\|")


def markdown(
    title: str, rows: Sequence[Row], reports: Sequence[str] = (), dry_run: bool = False
) -> str:
    """The pipeline page's summary: the verdict, the counts, a table of what failed or was
    fixed (with the one-line finding), and where the full reports are."""
    said = verdict(rows, dry_run)
    lines = [f"### {title}: {heading(rows)}", "", f"**{_cell(said)}**", "", counts_line(rows), ""]
    notable = [row for row in rows if row.outcome not in (PASSED,)]
    notable.sort(key=lambda row: OUTCOMES.index(row.outcome))
    if notable:
        with_fix = any(row.fix for row in notable)
        head = ["outcome", "check", "section", "target", "finding"] + ["fix"] * with_fix
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in notable:
            cells = [row.outcome, row.check_id, row.section, row.target, row.finding]
            cells += [row.fix] * with_fix
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    if reports:
        lines += ["Reports: " + ", ".join(f"`{path}`" for path in reports), ""]
    return "\n".join(lines)


def plan_checksum() -> str:
    """sha256 of the plan's files (compliance/plan/files)."""
    return plan.checksum()


def suite_version() -> str:
    """The installed distribution's version, else pyproject.toml's (a plain checkout)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        import tomllib

        with (REPO / "pyproject.toml").open("rb") as handle:
            return str(tomllib.load(handle)["project"]["version"])

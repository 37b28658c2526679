"""The run's result for Prometheus: `--metrics=PATH` in the text exposition format, written
for node_exporter's textfile collector (prometheus_client renders and escapes it).

One gauge per check and target (1 passes now, 0 does not), the verdict, the exit code, the
counts per outcome, the run's duration and end time, the suite's version, and the drift since
the last green run. The file is written beside and renamed, so the collector never reads half
a file; it is world-readable (node_exporter runs as its own user).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from compliance.report import outcomes
from compliance.report.outcomes import Row

PREFIX = "ollama_compliance_"
PASSING = (outcomes.PASSED, outcomes.FIXED)


@dataclass(frozen=True)
class RunResult:
    """What a finished run publishes besides its rows."""

    rows: Sequence[Row]
    exit_code: int
    duration: float  # seconds
    end_time: float  # unix time
    mode: str = "audit"
    profile: str = "plan"
    version: str = field(default_factory=outcomes.suite_version)
    extra: Mapping[str, tuple[str, float | None]] = field(default_factory=dict)  # name: help, value


def registry(run: RunResult) -> CollectorRegistry:
    """The run's gauges in a registry of their own (nothing of the process's default one)."""
    reg = CollectorRegistry()

    def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(PREFIX + name, doc, labelnames=labels, registry=reg)

    check = gauge(
        "check",
        "1 if the check passes now (passed, fixed), 0 if not (failed, not remediable, skipped)",
        ("check", "section", "target", "outcome"),
    )
    for row in run.rows:
        if row.outcome == outcomes.NOT_REQUESTED:
            continue  # an opt-in probe the person did not ask for
        value = 1 if row.outcome in PASSING else 0
        check.labels(row.check_id, row.section, row.target, row.outcome).set(value)
    tally = gauge("checks", "check rows of the run by outcome", ("outcome",))
    for outcome, count in outcomes.counts(run.rows).items():
        tally.labels(outcome).set(count)
    compliant = bool(run.rows) and run.exit_code == outcomes.EXIT_COMPLIANT
    verdict = gauge(
        "verdict", "1 if the run is compliant; the label is the summary's word", ("verdict",)
    )
    verdict.labels(heading(run)).set(1 if compliant else 0)
    gauge("exit_code", "the run's exit code (0 compliant, 1, 101, 102, 4)").set(run.exit_code)
    gauge("run_duration_seconds", "wall-clock seconds of the run").set(run.duration)
    gauge("run_end_timestamp_seconds", "unix time the run ended").set(run.end_time)
    info = gauge("info", "the suite that wrote this file", ("version", "mode", "profile"))
    info.labels(run.version, run.mode, run.profile).set(1)
    for name, (doc, amount) in run.extra.items():
        if amount is not None:
            gauge(name, doc).set(amount)
    return reg


def heading(run: RunResult) -> str:
    """PASS / FAIL / NOT JUDGED as the summary says it; a run stopped before its checks
    (unreachable, bad settings) is a FAIL."""
    if not run.rows or run.exit_code not in (0, 1, outcomes.EXIT_NOT_JUDGED):
        return "FAIL"
    return outcomes.heading(run.rows)


def render(run: RunResult) -> bytes:
    return generate_latest(registry(run))


def write(path: Path, run: RunResult) -> None:
    """Write beside, make world-readable, rename over: never a partial file (OSError on a
    path that cannot be written). The mode is set on the open file, never by path: a link
    swapped in at the staged name before the rename gets nothing of ours."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(render(run))
            os.fchmod(handle.fileno(), 0o644)
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise

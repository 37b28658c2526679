"""The audit in the reports: evidence per row, each check's outcome, the verdict, the
pytest-html columns and environment, JUnit names and messages, the Markdown summary."""

from __future__ import annotations

import html
import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from _pytest import junitxml

from compliance import catalogue, settings
from compliance.facts.store import GatherError
from compliance.report import drift, metrics, outcomes
from compliance.report import html as audit_html
from compliance.report.evidence import ReportedFailure
from compliance.report.extras import attach_html
from compliance.report.outcomes import Row
from compliance.suite.session import (
    fleet_of,
    is_audit,
    is_check,
    runs_tests,
    settings_of,
    target_of,
)
from compliance.transport import backends

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "ollama-reports",
        "Ollama LXC compliance reports. Exit codes: 0 compliant (every judged check passes), "
        "1 a check or test failed, 101 nothing failed but a check could not be judged, 102 a "
        "host could not be used, 4 bad settings or options",
    )
    group.addoption(
        "--summary",
        dest="compliance_summary",
        metavar="PATH",
        default=None,
        help="write a Markdown summary (the verdict; failed, not remediable, fixed and skipped "
        f"checks with their finding) to PATH; with or without it, the summary is appended to "
        f"${SUMMARY_ENV} when that is set",
    )
    drift.add_option(group)
    group.addoption(
        "--metrics",
        dest="compliance_metrics",
        metavar="PATH",
        default=None,
        help="write the run's result for Prometheus to PATH (text format; a gauge per check and "
        "target, the verdict, exit code, duration, end time, drift): written beside and renamed, "
        "for node_exporter's textfile collector (PATH ending in .prom)",
    )


RUNNER = "runner"  # the target of a plain test that uses neither `host` nor `ct`


def target_name(config: pytest.Config, target_id: str) -> str:
    """`proxmox-ct955` -> `proxmox/ct955`; a host's id is its name."""
    return fleet_of(config).target(target_id).name


OWN_SECTION = "own"  # the section column of a person's own test


def describe(item: pytest.Item) -> tuple[str, str, str, str]:
    """(id, section, where, control) of an item's row: a check's from the catalogue; a plain
    test's id is its node id in tests/ without parameters (`test_mine.py::test_x`), it runs
    in the container if it uses `ct`, on the host if `host`, else from the runner, and its
    control is its docstring's first line."""
    check = getattr(item, "check", None)
    if is_check(item) and check is not None:
        return check.id, check.section, check.where, check.control
    nodeid = item.nodeid.split("[", 1)[0]
    own_id = nodeid.removeprefix(f"{catalogue.CHECKS_PACKAGE}/")
    names = getattr(item, "fixturenames", ())
    where = "ct" if "ct" in names else "host" if "host" in names else "runner"
    doc = (getattr(getattr(item, "obj", None), "__doc__", None) or "").strip()
    control = " ".join(doc.split("\n\n", 1)[0].split())
    return own_id, OWN_SECTION, where, control


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if not is_audit(item.config):
        return report
    target = target_of(item) or ""
    check_id, section, where, control = describe(item)
    report.in_audit = True  # type: ignore[attr-defined]  # a row of the audit
    report.check_id = check_id  # type: ignore[attr-defined]
    report.target_id = target  # type: ignore[attr-defined]
    report.target = target_name(item.config, target) if target else RUNNER  # type: ignore[attr-defined]
    report.section = section  # type: ignore[attr-defined]
    report.where = where  # type: ignore[attr-defined]
    report.control = control  # type: ignore[attr-defined]
    report.own_test = not is_check(item)  # type: ignore[attr-defined]
    one_line = (ReportedFailure, GatherError)  # the message is the whole story
    if call.excinfo is not None and isinstance(call.excinfo.value, one_line):
        report.longrepr = str(call.excinfo.value)
    if call.when == "call" and is_check(item):
        evidence = item.evidence.text()  # type: ignore[attr-defined]
        item.user_properties.append(("backend", item.backend))  # type: ignore[attr-defined]
        item.user_properties.append(("evidence", evidence))
        if report.passed:  # a failure's message already carries its evidence
            attach_html(report, "evidence", "", evidence or "(no command was needed)")
    return report


class Crash:
    """What pytest and JUnit call a failure's crash line: here the one-line finding."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return self.message


class FailureText:
    """A check failure's full text (expected, found, evidence, the fix's output) whose crash
    line is its finding: JUnit's `message` attribute and pytest's short summary show the
    `found:` line, the body and the HTML log everything."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.reprcrash = Crash(outcomes.finding_of(text))

    def toterminal(self, out: Any) -> None:
        out.line(self.text)

    def __str__(self) -> str:
        return self.text


def row_of(report: pytest.TestReport) -> Row | None:
    """The row a report stands for (None: not in the audit, or a passed setup/teardown)."""
    if not getattr(report, "in_audit", False):
        return None
    check_id, target = getattr(report, "check_id", ""), getattr(report, "target", "")
    about = {
        "section": getattr(report, "section", ""),
        "where": getattr(report, "where", ""),
        "control": getattr(report, "control", ""),
    }
    fix_status = getattr(report, "fix_status", "")
    fix = getattr(report, "fix_summary", "")
    if hasattr(report, "wasxfail"):  # the person declared it expected to fail: not judged
        if report.when != "call" and not report.skipped:
            return None
        why = f"expected to fail (xfail){': ' + report.wasxfail if report.wasxfail else ''}"
        return Row(check_id, target, outcomes.NOT_REQUESTED, why, **about)
    if report.skipped:
        reason = outcomes.skip_reason(report.longrepr)
        return Row(check_id, target, outcomes.skip_outcome(reason), reason, **about)
    if report.failed:
        outcome = outcomes.outcome_of("failed", fix_status)
        finding = outcomes.finding_of(_failure_text(report))
        return Row(check_id, target, outcome, finding, fix, **about)
    if report.when != "call":
        return None
    outcome = outcomes.outcome_of("passed", fix_status)
    return Row(check_id, target, outcome, getattr(report, "fixed_finding", ""), fix, **about)


def _failure_text(report: pytest.TestReport) -> str:
    """A check's failure text (its `found:` line is the finding); for a person's own test,
    pytest's crash line (`AssertionError: assert False`), not the source it printed first."""
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    if getattr(report, "own_test", False) and crash is not None:
        return str(getattr(crash, "message", "")) or report.longreprtext
    return report.longreprtext


def mode(config: pytest.Config) -> str:
    if not config.getoption("fix", False):
        return "audit"
    return "dry run (--fix --dry-run)" if config.getoption("dry_run", False) else "converge (--fix)"


class CheckTally:
    """Each check's outcome (on the controller under xdist); a run where no check ran (all
    skipped) is a failure. Writes the verdict and the Markdown summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.ran = 0
        self.skipped = 0
        self.worker_commands = 0  # reported by xdist workers
        self._rows: dict[str, Row] = {}  # by node id: a check's last word (teardown errors)
        self.started = time.time()
        self.metrics_error = ""

    @property
    def rows(self) -> list[Row]:
        return list(self._rows.values())

    def remote_commands(self) -> int:
        """Remote commands of this run: this process's plus those of xdist workers."""
        return backends.COMMANDS.count + self.worker_commands

    def verdict(self) -> str:
        return outcomes.verdict(self.rows, bool(self.config.getoption("dry_run", False)))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        self.worker_commands += int(getattr(node, "workeroutput", {}).get("remote_commands", 0))

    @pytest.hookimpl(tryfirst=True)  # before junitxml and the terminal read the report
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not getattr(report, "in_audit", False):
            return
        if report.failed and isinstance(report.longrepr, str):
            report.longrepr = FailureText(report.longrepr)  # type: ignore[assignment]
        self._junit_name(report)
        row = row_of(report)
        if row is not None and (report.nodeid not in self._rows or row.outcome != "passed"):
            self._rows[report.nodeid] = row
        if report.when == "call" and not report.skipped:
            self.ran += 1
        elif report.skipped:
            self.skipped += 1

    def _junit_name(self, report: pytest.TestReport) -> None:
        """JUnit names a check's testcase by its check id and target: `listener[proxmox-ct955]`
        (the classname says which module of tests/); a person's own test keeps pytest's name."""
        xml = self.config.stash.get(junitxml.xml_key, None)
        if xml is not None and not getattr(report, "own_test", False):
            name = f"{report.check_id}[{report.target_id}]"
            xml.node_reporter(report).add_attribute("name", name)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["remote_commands"] = backends.COMMANDS.count
            return
        if self.skipped and not self.ran:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        elif self._rows and session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.TESTS_FAILED,
        ):
            session.exitstatus = outcomes.exit_code(self.rows)  # the verdict's, not pytest's
        if self._rows or (is_audit(session.config) and runs_tests(session.config)):
            self._write_summaries()  # also when the run stopped before its checks (exit 102)
        self._write_metrics(int(session.exitstatus))

    def _write_metrics(self, exit_code: int) -> None:
        """--metrics: also for a run that stopped before its checks (a stale or broken
        deployment shows); a path that cannot be written is one line, the run's code stays."""
        path = self.config.getoption("compliance_metrics")
        if not path:
            return
        result = metrics.RunResult(
            self.rows,
            exit_code,
            time.time() - self.started,
            time.time(),
            mode(self.config),
            str(getattr(settings_of(self.config), "profile", "plan")),
            extra=drift.metrics(self.config),
        )
        try:
            metrics.write(Path(path), result)
        except OSError as exc:
            self.metrics_error = f"--metrics {path}: {exc.strerror or exc}"

    def _write_summaries(self) -> None:
        option = self.config.option
        reports = [p for p in (getattr(option, "htmlpath", None), option.xmlpath) if p]
        title = f"Ollama LXC compliance: {mode(self.config)}"
        text = outcomes.markdown(
            title, self.rows, reports, bool(self.config.getoption("dry_run", False))
        )
        text += drift.markdown(self.config)
        path = self.config.getoption("compliance_summary")
        if path:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        if os.environ.get(SUMMARY_ENV):
            with open(os.environ[SUMMARY_ENV], "a", encoding="utf-8") as handle:
                handle.write(text + "\n")

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        if self.skipped and not self.ran:
            terminalreporter.write_line(
                f"FAILED: no compliance check ran ({self.skipped} skipped): "
                "a run that checked nothing is not a pass",
                red=True,
                bold=True,
            )
        if self._rows or is_audit(config):
            terminalreporter.write_line(f"remote commands this run: {self.remote_commands()}")
        if self._rows:
            said = self.verdict()
            good = outcomes.is_compliant(self.rows)
            terminalreporter.write_line(f"verdict: {said}", green=good, red=not good, bold=True)
            path = config.getoption("compliance_summary")
            if path:
                terminalreporter.write_line(f"Markdown summary: {path}")
        for line in drift.terminal_lines(config):
            terminalreporter.write_line(line)
        if config.getoption("compliance_metrics"):
            said = self.metrics_error or f"metrics: {config.getoption('compliance_metrics')}"
            terminalreporter.write_line(said, red=bool(self.metrics_error))


def environment(config: pytest.Config) -> dict[str, object]:
    """What was audited, with what, by what: the first rows of the Environment table."""
    fleet = fleet_of(config)
    profile = str(getattr(settings_of(config), "profile", "plan"))
    files = ", ".join(sorted(p.name for p in outcomes.PLAN_FILES.iterdir() if p.is_file()))
    hosts = {host.label: f"{host.address} ({host.conn.backend.NAME})" for host in fleet.hosts}
    containers = {
        ct.name: (
            f"site {ct.site.site_file}, link {ct.site.site_link}, "
            f"proxy {ct.site.proxy_url_for(ct.host.address)}, CT IP {ct.site.ct_ip or 'auto'}"
        )
        for ct in fleet.cts
    }
    raw = settings.raw_values(config)  # CLI flag over ini key, as the settings were parsed
    in_force = ", ".join(f"{key}={value or '(default)'}" for key, value in raw.items())
    return {
        "Run": mode(config),
        "Profile": profile,
        "Suite": f"{outcomes.DISTRIBUTION} {outcomes.suite_version()}",
        "Plan checksum": f"sha256 {outcomes.plan_checksum()} (compliance/plan/files: {files})",
        "Hosts": hosts,
        "Containers": containers,
        "Settings": in_force,
    }


class HtmlColumns:
    """pytest-html: the audit's columns next to each row, the verdict and outcome counts with
    their filter in the summary, the audited targets first in the Environment table."""

    def __init__(self, tally: CheckTally) -> None:
        self.tally = tally

    @pytest.hookimpl(tryfirst=True)  # pytest-html reads the metadata in its (trylast) hook
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:  # pragma: no cover - pytest-html depends on pytest-metadata
            return
        table = session.config.stash.get(metadata_key, None)
        if table is None:
            return
        ours = {k: audit_html.environment_value(v) for k, v in environment(session.config).items()}
        theirs = {k: v for k, v in table.items() if k not in ours}
        table.clear()  # pytest-html keeps this very dict: ours first, in place
        table.update(ours)
        table.update(theirs)

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = f"Ollama LXC compliance: {mode(self.tally.config)}"

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str]
    ) -> None:
        rows = self.tally.rows
        prefix.extend(audit_html.summary_prefix(rows, self.tally.verdict()))
        prefix.append(f"<p>Remote commands this run: {self.tally.remote_commands()}</p>")
        prefix.extend(drift.html_paragraphs(self.tally.config))

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[1:1] = audit_html.header_cells()

    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        """A skipped check's detail is its reason, not pytest's (file, line, message) tuple."""
        if getattr(report, "in_audit", False) and report.skipped and data:
            data[0] = html.escape(outcomes.skip_reason(report.longrepr)) + "\n"

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        row = row_of(report)
        note = audit_html.note_for(row) if row is not None else ""
        cells[1:1] = audit_html.row_cells(row, note)

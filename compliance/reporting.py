"""The audit in the reports: evidence per row, the check tally, pytest-html columns."""

from __future__ import annotations

import html
from collections.abc import Generator
from typing import Any

import pytest

from compliance import backends
from compliance.evidence import ReportedFailure
from compliance.facts import GatherError
from compliance.report import attach_html
from compliance.session import is_check
from compliance.targets import Audit

TARGETS = pytest.StashKey[list[Audit]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if is_check(item):
        report.is_check = True  # type: ignore[attr-defined]
    one_line = (ReportedFailure, GatherError)  # the message is the whole story
    if call.excinfo is not None and isinstance(call.excinfo.value, one_line):
        report.longrepr = str(call.excinfo.value)
    if call.when == "call" and is_check(item):
        targets = item.stash.get(TARGETS, [])
        backend = ", ".join(sorted({f"{t.kind} {t.label}" for t in targets}))
        evidence = "\n".join(t.log.text() for t in targets if t.log.text())
        report.backend = backend  # type: ignore[attr-defined]
        item.user_properties.append(("backend", backend))
        item.user_properties.append(("evidence", evidence))
        if report.passed:  # a failure's message already carries its evidence
            attach_html(report, "evidence", "", evidence or "(no command was needed)")
    return report


class CheckTally:
    """Counts check outcomes; a run where no check ran (all skipped) is a failure."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.ran = 0
        self.skipped = 0
        self.worker_commands = 0  # reported by xdist workers

    def remote_commands(self) -> int:
        """Remote commands of this run: this process's plus those of xdist workers."""
        return backends.COMMANDS.count + self.worker_commands

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        self.worker_commands += int(getattr(node, "workeroutput", {}).get("remote_commands", 0))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not getattr(report, "is_check", False):
            return
        if report.when == "call" and not report.skipped:
            self.ran += 1
        elif report.skipped:
            self.skipped += 1

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["remote_commands"] = backends.COMMANDS.count
        if self.skipped and not self.ran:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        if self.skipped and not self.ran:
            terminalreporter.write_line(
                f"FAILED: no compliance check ran ({self.skipped} skipped): "
                "a run that checked nothing is not a pass",
                red=True,
                bold=True,
            )
        terminalreporter.write_line(f"remote commands this run: {self.remote_commands()}")


class HtmlColumns:
    """pytest-html: a Backend column (host / ct) next to each check, and the command count."""

    def __init__(self, tally: CheckTally) -> None:
        self.tally = tally

    def pytest_html_report_title(self, report: Any) -> None:
        fixing = self.tally.config.getoption("fix", False)
        report.title = "Ollama LXC compliance: " + ("converge (--fix)" if fixing else "audit")

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str]
    ) -> None:
        prefix.append(f"<p>Remote commands this run: {self.tally.remote_commands()}</p>")

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, "<th>Backend</th>")
        if self.tally.config.getoption("fix", False):
            cells.insert(3, "<th>Fix</th>")

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        cells.insert(2, f"<td>{html.escape(getattr(report, 'backend', ''))}</td>")
        if self.tally.config.getoption("fix", False):
            fix = getattr(report, "fix_summary", "")
            cells.insert(3, f"<td>{html.escape(fix)}</td>")

"""The reports of a run, end to end without a host: stand-in checks in a scratch directory
(named like the suite's, each failing, passing, skipping or pretending its fix worked), run
through the real plugins; then the HTML, the JUnit XML and the Markdown summary are read back.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from compliance import outcomes
from selftests.htmlreport import HtmlReport

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
WIRING = (ROOT / "conftest.py").read_text()
BASE = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:hypothesispytest",
    "-p",
    "no:benchmark",
    "-p",
    "no:compliance.preflight",  # stand-in checks: nothing to reach
    "--hosts=local://",
)

# A fix's report fields, as remediation/plugin.py sets them when a re-check passed.
PRETEND_FIXED = """
import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call" and item.get_closest_marker("pretend_fixed"):
        report.fix_status = "fixed"
        report.fix_summary = "fixed: systemd_unit"
        report.fixed_finding = "disabled"
    return report


def pytest_configure(config):
    config.addinivalue_line("markers", "pretend_fixed: stands for a check --fix repaired")
"""

CHECKS = """
import pytest
from compliance.evidence import CheckFailed

CT = pytest.mark.parametrize("target_id", ["local-ct955"], indirect=True)
HOST = pytest.mark.parametrize("target_id", ["local"], indirect=True)


@CT
def test_pve_ct_running(target_id):
    pass


@CT
def test_ct_profile_script(target_id):
    raise CheckFailed("/etc/profile.d/ollama.sh exists", "it does not exist | <none>", [])


@CT
@pytest.mark.pretend_fixed
def test_ct_unit_enabled(target_id):
    pass


@CT
def test_ct_listener(target_id):
    pytest.skip("CT 955 on local is stopped: see test_pve_ct_running")


@HOST
def test_pve_nginx_valid(target_id):
    pass
"""


@pytest.fixture
def suite(pytester, monkeypatch):
    """A scratch test dir wired like the repo (plus the fix stand-in), the repo importable."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.syspath_prepend(str(ROOT))
    pytester.makeconftest(WIRING + PRETEND_FIXED)
    pytester.makepyfile(test_checks=CHECKS)
    return pytester


def run(pytester, *args: str, subprocess: bool = False):
    reports = ("--html=out/report.html", "--junitxml=out/junit.xml", "--summary=out/summary.md")
    runner = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    return runner(*BASE, *reports, *args)


def junit_cases(path: Path) -> dict[str, tuple[str, str]]:
    """testcase name -> (status, message)."""
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        status, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                status, message = tag, node.get("message", "")
        cases[case.get("name", "")] = (status, message)
    return cases


VERDICT = "NOT compliant: 1 of 5 checks fails on local/ct955, 1 could not be judged (skipped)"


def test_html_report_reads_as_an_audit(suite):
    result = run(suite)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = HtmlReport.read(suite.path / "out" / "report.html")
    assert report.title == "Ollama LXC compliance: audit"
    assert report.verdict == VERDICT
    assert report.counts() == {
        "failed": 1,
        "not remediable": 0,
        "fixed": 1,
        "skipped": 1,
        "passed": 2,
    }
    rows = report.by_check()
    assert set(rows) == {
        ("ct_running", "local/ct955"),
        ("profile_script", "local/ct955"),
        ("unit_enabled", "local/ct955"),
        ("listener", "local/ct955"),
        ("nginx_valid", "local"),
    }
    fixed = rows[("unit_enabled", "local/ct955")]
    assert report.outcome(fixed) == "fixed"
    assert fixed["result"] == "Passed"  # pytest-html's own filter still shows it
    assert "by systemd_unit; it found: disabled" in " ".join(fixed["resultsTableRow"])
    assert report.cell(fixed, "section") == "6.1.2"
    assert (
        report.cell(fixed, "control")
        == "`systemctl is-enabled ollama` is `enabled` (starts at boot)."
    )
    skipped = rows[("listener", "local/ct955")]
    assert report.outcome(skipped) == "skipped"
    assert "CT 955 on local is stopped" in " ".join(skipped["resultsTableRow"])
    failed = rows[("profile_script", "local/ct955")]
    assert report.outcome(failed) == "failed"
    assert "found: it does not exist | &lt;none&gt;" in " ".join(failed["resultsTableRow"])
    assert "tests/" not in fixed["testId"]
    assert fixed["testId"].startswith("test_checks.py::")
    # The filter is the page's: a checkbox per outcome keyed on the Outcome cells.
    assert 'name="audit_outcome" data-outcome="fixed"' in report.page
    assert "td.col-outcome" in report.page
    assert "MutationObserver" in report.page


def test_environment_table_names_what_was_audited(suite):
    run(suite)
    environment = HtmlReport.read(suite.path / "out" / "report.html").environment
    assert list(environment)[:7] == [
        "Run",
        "Profile",
        "Suite",
        "Plan checksum",
        "Hosts",
        "Containers",
        "Settings",
    ]
    assert environment["Run"] == "audit"
    assert environment["Profile"] == "plan"
    assert environment["Suite"] == f"ollama-lxc-compliance {outcomes.suite_version()}"
    assert environment["Plan checksum"].startswith(f"sha256 {outcomes.plan_checksum()} ")
    assert environment["Hosts"] == {"local": "127.0.0.1 (local)"}
    assert list(environment["Containers"]) == ["local/ct955"]
    assert "ollama_proxy" in environment["Containers"]["local/ct955"]
    assert "ollama_ctid=955, ollama_ct_transport=pct, " in environment["Settings"]
    assert "Python" in environment  # pytest-metadata's rows follow


def test_junit_names_checks_and_its_message_is_the_finding(suite):
    run(suite)
    cases = junit_cases(suite.path / "out" / "junit.xml")
    assert cases == {
        "ct_running[local-ct955]": ("passed", ""),
        "profile_script[local-ct955]": ("failure", "it does not exist | <none>"),
        "unit_enabled[local-ct955]": ("passed", ""),
        "listener[local-ct955]": ("skipped", "CT 955 on local is stopped: see test_pve_ct_running"),
        "nginx_valid[local]": ("passed", ""),
    }
    body = ET.parse(suite.path / "out" / "junit.xml").getroot().find(".//failure")
    assert body is not None
    assert body.text is not None
    assert body.text.startswith("expected: /etc/profile.d/ollama.sh exists\nfound:")


def test_terminal_says_the_verdict_and_the_short_summary_the_finding(suite):
    result = run(suite)
    result.stdout.fnmatch_lines(
        [f"verdict: {VERDICT}", "Markdown summary: out/summary.md"], consecutive=False
    )
    result.stdout.fnmatch_lines(["FAILED test_checks.py::test_ct_profile_script* - it does not*"])


def test_markdown_summary_is_written_and_appended_for_github(suite, monkeypatch):
    step_summary = suite.path / "step_summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    run(suite)
    text = (suite.path / "out" / "summary.md").read_text()
    assert text.startswith("### Ollama LXC compliance: audit: FAIL\n")
    assert f"**{VERDICT}**" in text
    assert (
        "| failed | profile_script | 6.1.1 | local/ct955 | it does not exist \\| &lt;none&gt; |  |"
        in text
    )
    assert "| fixed | unit_enabled | 6.1.2 | local/ct955 | disabled | fixed: systemd_unit |" in text
    assert "Reports: `out/report.html`, `out/junit.xml`" in text
    assert step_summary.read_text() == "earlier step\n" + text + "\n"
    run(suite)  # appended, never overwritten
    assert step_summary.read_text().count("### Ollama LXC compliance") == 2


def test_no_summary_file_unless_asked(suite):
    result = suite.runpytest(*BASE)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert not list(suite.path.rglob("*.md"))


def test_summary_flag_is_in_help(suite):
    result = suite.runpytest(*BASE, "--help")
    result.stdout.fnmatch_lines(["*--summary=PATH*"])


def test_reports_are_the_same_under_xdist(suite):
    result = run(suite, "-n", "2", subprocess=True)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    cases = junit_cases(suite.path / "out" / "junit.xml")
    assert cases["profile_script[local-ct955]"] == ("failure", "it does not exist | <none>")
    assert set(cases) >= {"ct_running[local-ct955]", "nginx_valid[local]"}
    report = HtmlReport.read(suite.path / "out" / "report.html")
    assert report.verdict == VERDICT
    assert report.counts()["fixed"] == 1
    assert next(iter(report.environment)) == "Run"

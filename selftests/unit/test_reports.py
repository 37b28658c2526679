"""The reports of a run, end to end without a host: stand-in checks in a scratch directory
(named like the suite's, each failing, passing, skipping or pretending its fix worked), run
through the real plugins; then the HTML, the JUnit XML and the Markdown summary are read back.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from compliance.report import outcomes
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
    "no:compliance.suite.preflight",  # stand-in checks: nothing to reach
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

# Stand-in items: the suite's own CheckItem (real catalogue checks, real targets, the real
# report hooks) whose judging is scripted instead of read from a host.
CHECKS = """
import os

import pytest

from compliance import catalogue
from compliance.report.evidence import CheckFailed
from compliance.suite.items import CheckItem


def passes():
    pass


def fails():
    raise CheckFailed("/etc/profile.d/ollama.sh exists", "it does not exist | <none>", [])


def skips():
    pytest.skip("CT 955 on local is stopped: see ct_running")


def not_asked():
    pytest.skip("not requested: the live streaming probe runs only with --probe-streaming=on")


SCRIPT = [
    ("ct_running", "local-ct955", passes, False),
    ("profile_script", "local-ct955", fails, False),
    ("unit_enabled", "local-ct955", passes, True),
    ("listener", "local-ct955", skips, False),
    ("nginx_valid", "local", passes, False),
]
VARIANT = os.environ.get("STANDIN_VARIANT", "")
if VARIANT:  # nothing fails; `not_judged` keeps the real skip, `compliant` drops it
    SCRIPT[1] = ("profile_script", "local-ct955", passes, False)
    SCRIPT.append(("proxy_streams", "local-ct955", not_asked, False))
    if VARIANT == "compliant":
        del SCRIPT[3]


class Scripted(CheckItem):
    def __init__(self, *, script, **kwargs):
        super().__init__(**kwargs)
        self.script = script

    def runtest(self):
        self.script()


class StandIns(pytest.File):
    def collect(self):
        checks = catalogue.load()
        for check_id, target, script, fixed in SCRIPT:
            item = Scripted.from_parent(
                self, name=f"{check_id}[{target}]", check=checks[check_id], target_id=target,
                script=script,
            )
            if fixed:
                item.add_marker("pretend_fixed")
            yield item


def pytest_collect_file(file_path, parent):
    if file_path.name == "checks.py":
        return StandIns.from_parent(parent, path=file_path)
"""


@pytest.fixture
def suite(pytester, monkeypatch):
    """A scratch test dir wired like the repo (plus the fix stand-in), the repo importable."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.syspath_prepend(str(ROOT))
    pytester.makeconftest(WIRING + PRETEND_FIXED + CHECKS)
    pytester.makepyfile(checks="")  # collected by the stand-in collector only
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
    # its detail is the reason, not pytest's (file, line, message) tuple
    assert skipped["log"] == "CT 955 on local is stopped: see ct_running\n", skipped["log"]
    failed = rows[("profile_script", "local/ct955")]
    assert report.outcome(failed) == "failed"
    assert "found: it does not exist | &lt;none&gt;" in " ".join(failed["resultsTableRow"])
    assert fixed["testId"] == "checks.py::unit_enabled[local-ct955]"
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
        "listener[local-ct955]": ("skipped", "CT 955 on local is stopped: see ct_running"),
        "nginx_valid[local]": ("passed", ""),
    }
    body = ET.parse(suite.path / "out" / "junit.xml").getroot().find(".//failure")
    assert body is not None
    assert body.text is not None
    assert body.text.startswith("expected: /etc/profile.d/ollama.sh exists\nfound:")


def test_a_checks_failure_is_its_message_and_no_traceback_is_formatted(suite, monkeypatch):
    """pytest formats a traceback (parsing the sources of every frame) for a failure unless
    the item says otherwise: a check's failure is its message alone, so none is formatted."""
    import _pytest.nodes

    formatted: list[str] = []
    original = _pytest.nodes.Node._repr_failure_py

    def spy(self, excinfo, style=None):
        formatted.append(self.name)
        return original(self, excinfo, style)

    monkeypatch.setattr(_pytest.nodes.Node, "_repr_failure_py", spy)
    result = run(suite)
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    assert formatted == []


def test_terminal_says_the_verdict_and_the_short_summary_the_finding(suite):
    result = run(suite)
    result.stdout.fnmatch_lines(
        [f"verdict: {VERDICT}", "Markdown summary: out/summary.md"], consecutive=False
    )
    result.stdout.fnmatch_lines(["FAILED checks.py::profile_script* - it does not*"])


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


@pytest.mark.parametrize(
    ("variant", "code", "said", "mark"),
    [
        (
            "compliant",
            0,
            "compliant: all 4 checks pass on local/ct955 (1 fixed by this run, 1 not requested)",
            "PASS",
        ),
        (
            "not_judged",
            101,
            "NOT compliant: 1 could not be judged (skipped) of 5 on local/ct955, 1 not requested",
            "NOT JUDGED",
        ),
    ],
)
def test_exit_code_terminal_summary_and_junit_agree(suite, monkeypatch, variant, code, said, mark):
    """The exit code is the verdict's: 0 when every judged check passes (a probe the person
    did not ask for changes nothing), 101 when nothing failed but some check was not judged."""
    monkeypatch.setenv("STANDIN_VARIANT", variant)
    result = run(suite, subprocess=True)
    assert result.ret == code
    result.stdout.fnmatch_lines([f"verdict: {said}"])
    text = (suite.path / "out" / "summary.md").read_text()
    assert text.startswith(f"### Ollama LXC compliance: audit: {mark}\n")
    assert f"**{said}**" in text
    cases = junit_cases(suite.path / "out" / "junit.xml")
    assert cases["proxy_streams[local-ct955]"][0] == "skipped"
    report = HtmlReport.read(suite.path / "out" / "report.html")
    assert report.verdict == said
    assert report.counts()["not requested"] == 1

"""lab/demo's reports read as an audit: the manual-setup audit, the converge and the final
audit, as a person opens them (the rows pytest-html's script renders, the summary, the
Environment table) and as a pipeline shows them (the Markdown summaries)."""

from __future__ import annotations

import subprocess

import pytest

from lab import states
from selftests.htmlreport import HtmlReport
from selftests.lab.harness import CATALOGUE, CHECKS, HOST_CHECKS, REPO, run_suite
from selftests.lab.test_audit import manual_setup_fails

CT, HOST = "proxmox/ct955", "proxmox"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Run lab/demo once (the project is installed: no install step) into a scratch dir."""
    reports = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        ["lab/demo", "--no-install", "--reports", str(reports)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return reports


def rows_are_the_catalogue(report: HtmlReport) -> None:
    """One row per check, on its target, with the catalogue's section and control."""
    rows = report.by_check()
    assert set(rows) == {(c, HOST if c in HOST_CHECKS else CT) for c in CHECKS}
    for (check, _target), row in rows.items():
        assert report.cell(row, "section") == CATALOGUE[check].section, check
        assert report.cell(row, "control") == CATALOGUE[check].control, check
    environment = report.environment
    assert environment["Hosts"] == {HOST: "127.0.0.1 (paramiko)"}
    assert list(environment["Containers"]) == [CT]
    assert environment["Profile"] == "plan"
    assert environment["Plan checksum"].startswith("sha256 ")


def test_audit_before_fails_the_missing_steps(demo):
    report = HtmlReport.read(demo / "audit-before.html")
    assert report.title == "Ollama LXC compliance: audit"
    rows_are_the_catalogue(report)
    total = len(CHECKS)
    failing = len(manual_setup_fails())
    assert report.verdict == f"NOT compliant: {failing} of {total} checks fail on {CT}"
    assert report.counts() == {
        "failed": failing,
        "not remediable": 0,
        "fixed": 0,
        "skipped": 0,
        "passed": total - failing,
    }
    failed = {
        check for (check, _t), row in report.by_check().items() if report.outcome(row) == "failed"
    }
    assert failed == manual_setup_fails()
    summary = (demo / "audit-before.md").read_text()
    assert f"**{report.verdict}**" in summary
    for check in manual_setup_fails():
        assert f"| failed | {check} | {CATALOGUE[check].section} |" in summary


def test_converge_counts_and_shows_what_it_fixed(demo):
    report = HtmlReport.read(demo / "converge.html")
    assert report.title == "Ollama LXC compliance: converge (--fix)"
    rows_are_the_catalogue(report)
    assert report.environment["Run"] == "converge (--fix)"
    counts = report.counts()
    # Every check that failed before is credited to the fix that made it pass, whatever the
    # catalogue's order: the computed manual-setup failures are exactly the fixed rows.
    failing = manual_setup_fails()
    assert counts["fixed"] == len(failing), counts
    assert counts["passed"] == len(CHECKS) - len(failing)
    assert report.verdict == (
        f"compliant: all {len(CHECKS)} checks pass on {CT} ({len(failing)} fixed by this run)"
    )
    assert 'data-outcome="fixed" checked>' in report.page  # its filter box is live
    fixed = {c: r for (c, _t), r in report.by_check().items() if report.outcome(r) == "fixed"}
    assert set(fixed) == failing
    for check, row in fixed.items():
        assert row["result"] == "Passed"  # pytest's view: its re-check passed
        extras = " ".join(extra["content"] for extra in row["extras"])
        assert "Remediation" in extras, check
        assert "+++ " in extras, check  # the diff it applied
        assert f"by {CATALOGUE[check].fix}" in " ".join(row["resultsTableRow"])
    summary = (demo / "converge.md").read_text()
    assert "| fixed | unit_settings | 6.1.2 | proxmox/ct955 |" in summary
    assert "| fixed: systemd_unit |" in summary


def test_final_audit_is_compliant(demo):
    report = HtmlReport.read(demo / "report.html")
    assert report.title == "Ollama LXC compliance: audit"
    rows_are_the_catalogue(report)
    assert report.verdict == f"compliant: all {len(CHECKS)} checks pass on {CT}"
    assert report.counts()["passed"] == len(CHECKS)
    assert (demo / "junit.xml").exists()
    summary = (demo / "summary.md").read_text()
    assert summary.startswith("### Ollama LXC compliance: audit: PASS\n")
    assert "|" not in summary  # nothing failed, nothing fixed: no table


def test_dry_run_report_shows_what_would_change(tmp_path):
    """`--fix --dry-run` on the manual-setup lab: each failing row says its fix would change it
    and its log carries the diff and the commands that would run; nothing counts as fixed."""
    states.reset()
    run = run_suite("--fix", "--dry-run", tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    report = HtmlReport.read(tmp_path / "report.html")
    assert report.title == "Ollama LXC compliance: dry run (--fix --dry-run)"
    assert report.verdict.endswith("(dry run: nothing was changed)")
    assert report.counts()["fixed"] == 0
    rows = report.by_check()
    profile = rows[("profile_script", CT)]
    assert report.outcome(profile) == "failed"
    assert "(dry run: profile_d would change it, see below)" in " ".join(profile["resultsTableRow"])
    assert "+++ /etc/profile.d/ollama.sh" in profile["log"]
    unit = rows[("unit_settings", CT)]
    assert "would run: $ systemctl daemon-reload" in unit["log"]

"""Each check's outcome, the verdict, the Markdown summary and the report's cells, host-free."""

from __future__ import annotations

import shutil
import subprocess
import tomllib

import pytest
from _pytest.reports import TestReport

from compliance import catalogue, plan
from compliance.report import hooks as reporting
from compliance.report import html as audit_html
from compliance.report import outcomes
from compliance.report.outcomes import (
    FAILED,
    FIXED,
    NOT_REMEDIABLE,
    NOT_REQUESTED,
    OUTCOMES,
    PASSED,
    SKIPPED,
    Row,
    counts_line,
    exit_code,
    finding_of,
    markdown,
    outcome_of,
    skip_outcome,
    verdict,
)
from remediation import base

CT = "proxmox/ct955"


def rows(*spec: tuple[str, str, str]) -> list[Row]:
    return [Row(check, target, outcome) for check, target, outcome in spec]


def plan_rows(outcome_by_check: dict[str, str], target: str = CT) -> list[Row]:
    """A run of the plan's catalogue on one CT: the given outcomes, the rest passed."""
    plan = catalogue.in_profile("plan")
    return [
        Row(c.id, "proxmox" if c.scope == "host" else target, outcome_by_check.get(c.id, PASSED))
        for c in plan
    ]


# -- outcomes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pytest_outcome", "fix_status", "outcome"),
    [
        ("passed", "", PASSED),
        ("passed", "fixed", FIXED),
        ("failed", "", FAILED),
        ("failed", "not remediable", NOT_REMEDIABLE),
        ("failed", "failed", FAILED),  # the fix failed and rolled back
        ("failed", "changed", FAILED),  # changed, yet the re-check still fails
        ("failed", "planned", FAILED),  # --dry-run: nothing changed
        ("skipped", "", SKIPPED),
    ],
)
def test_outcome_of_pytest_and_fix_status(pytest_outcome, fix_status, outcome):
    assert outcome_of(pytest_outcome, fix_status) == outcome


def test_fix_statuses_are_the_remediation_plugins():
    assert base.NOT_REMEDIABLE == NOT_REMEDIABLE
    assert base.FAILED == FAILED
    assert OUTCOMES == (FAILED, NOT_REMEDIABLE, FIXED, SKIPPED, NOT_REQUESTED, PASSED)


@pytest.mark.parametrize(
    ("text", "finding"),
    [
        ("expected: enabled\nfound:    disabled\n[ct] $ systemctl is-enabled", "disabled"),
        (
            "still failing after fix systemd_unit (changed):\nexpected: x\nfound:    y z\n\nfix ..",
            "y z",
        ),
        ("proxmox: host unreachable via paramiko", "proxmox: host unreachable via paramiko"),
        ("\n\n  first line  \nsecond", "first line"),
        ("", ""),
        ("expected: a\nfound:    bell\x07 and \x1b[31mred", "bell\\x07 and \\x1b[31mred"),
    ],
    ids=["found-line", "after-fix", "no-found-line", "first-nonblank", "empty", "controls"],
)
def test_finding_is_the_found_line(text, finding):
    assert finding_of(text) == finding


def test_finding_is_one_capped_line():
    found = finding_of("found: " + "x" * 1000)
    assert len(found) == outcomes.FINDING_CHARS
    assert found.endswith("...")
    assert "\n" not in finding_of("found: a\tb   c")


def test_skip_reason_drops_pytests_prefix():
    longrepr = ("tests/x.py", 3, "Skipped: CT 955 on proxmox is stopped: see test_pve_ct_running")
    assert outcomes.skip_reason(longrepr) == "CT 955 on proxmox is stopped: see test_pve_ct_running"


# -- the verdict -----------------------------------------------------------------------------


def test_all_passed_is_compliant_on_the_container():
    said = verdict(rows(("ct_running", CT, PASSED), ("nginx_valid", "proxmox", PASSED)))
    assert said == f"compliant: all 2 checks pass on {CT}"


def test_fixed_checks_count_as_passing_and_are_said():
    said = verdict(rows(("unit_enabled", CT, FIXED), ("listener", CT, FIXED), ("x", CT, PASSED)))
    assert said == f"compliant: all 3 checks pass on {CT} (2 fixed by this run)"


def test_failures_name_how_many_of_how_many_and_where():
    run = plan_rows({"profile_script": FAILED, "unit_enabled": FAILED, "listener": FAILED})
    assert verdict(run) == f"NOT compliant: 3 of {len(run)} checks fail on {CT}"


def test_one_failure_is_singular():
    run = rows(("unit_enabled", CT, FAILED), ("listener", CT, PASSED))
    assert verdict(run) == f"NOT compliant: 1 of 2 checks fails on {CT}"


def test_not_remediable_is_failing():
    run = rows(("nginx_valid", "proxmox", NOT_REMEDIABLE), ("listener", CT, FIXED))
    assert verdict(run) == "NOT compliant: 1 of 2 checks fails on proxmox"


def test_a_host_is_named_alone_only_when_none_of_its_containers_is():
    run = rows(
        ("nginx_valid", "proxmox", FAILED),
        ("site_file", CT, FAILED),
        ("site_file", "pve2/ct955", FAILED),
        ("nginx_valid", "pve3", FAILED),
    )
    assert verdict(run) == f"NOT compliant: 4 of 4 checks fail on {CT}, pve2/ct955, pve3"


def test_skipped_checks_are_not_compliant():
    only = rows(("ct_running", CT, PASSED), ("listener", CT, SKIPPED))
    assert verdict(only) == f"NOT compliant: 1 could not be judged (skipped) of 2 on {CT}"
    both = rows(("ct_running", CT, FAILED), ("listener", CT, SKIPPED), ("x", CT, SKIPPED))
    assert verdict(both) == (
        f"NOT compliant: 1 of 3 checks fails on {CT}, 2 could not be judged (skipped)"
    )


def test_dry_run_says_nothing_changed_and_no_check_is_no_pass():
    run = rows(("site_file", CT, FAILED))
    assert verdict(run, dry_run=True).endswith("(dry run: nothing was changed)")
    assert verdict([]) == "NOT compliant: no check ran"
    assert not outcomes.is_compliant([])


def test_counts_line_lists_every_outcome():
    run = rows(("a", CT, FIXED), ("b", CT, FAILED), ("c", CT, PASSED))
    assert outcomes.counts_line(run) == (
        "3 checks: 1 failed, 0 not remediable, 1 fixed, 0 skipped, 1 passed"
    )


# -- the Markdown summary ------------------------------------------------------------------


def test_markdown_has_verdict_counts_and_a_row_per_failed_or_fixed_check():
    run = [
        Row("unit_enabled", CT, FIXED, "disabled", "fixed: systemd_unit"),
        Row("nginx_valid", "proxmox", NOT_REMEDIABLE, "not our site", "not remediable: nginx_site"),
        Row("site_file", CT, FAILED, "placeholders left: <LXC_955_IP> | x"),
        Row("listener", CT, PASSED),
    ]
    text = outcomes.markdown("Ollama LXC compliance: converge (--fix)", run, ["r.html", "j.xml"])
    lines = text.splitlines()
    assert lines[0] == "### Ollama LXC compliance: converge (--fix): FAIL"
    assert f"**NOT compliant: 2 of 4 checks fail on {CT}**" in lines
    assert "4 checks: 1 failed, 1 not remediable, 1 fixed, 0 skipped, 1 passed" in lines
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == "| outcome | check | section | target | finding | fix |"
    assert table[1] == "|---|---|---|---|---|---|"
    assert table[2:] == [  # worst first; passed checks are not listed
        f"| failed | site_file | 5 | {CT} | placeholders left: &lt;LXC_955_IP&gt; \\| x |  |",
        "| not remediable | nginx_valid | 6.2.1 | proxmox | not our site "
        "| not remediable: nginx_site |",
        f"| fixed | unit_enabled | 6.1.2 | {CT} | disabled | fixed: systemd_unit |",
    ]
    assert lines[-1] == "Reports: `r.html`, `j.xml`"


def test_markdown_of_a_compliant_audit_has_no_table():
    text = outcomes.markdown("Ollama LXC compliance: audit", rows(("listener", CT, PASSED)))
    assert text.splitlines()[0] == "### Ollama LXC compliance: audit: PASS"
    assert f"**compliant: all 1 checks pass on {CT}**" in text
    assert "|" not in text


# -- what the report says about the suite ------------------------------------------------------


def test_plan_checksum_is_the_documented_shell_pipeline():
    if not shutil.which("sha256sum"):
        pytest.skip("no sha256sum here")
    shell = subprocess.run(
        "LC_ALL=C sha256sum * | sha256sum",
        shell=True,
        cwd=plan.FILES,
        capture_output=True,
        text=True,
        check=True,
    )
    assert outcomes.plan_checksum() == shell.stdout.split()[0]


def test_plan_checksum_changes_with_a_plan_file(tmp_path, monkeypatch):
    for path in plan.FILES.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    before = outcomes.plan_checksum()
    monkeypatch.setattr(plan, "FILES", tmp_path)
    uncached = plan.checksum.__wrapped__  # the run's sum is computed once
    assert uncached() == before  # the same files, the same sum
    (tmp_path / "ollama.sh").write_text("export PATH=/tmp\n")
    assert uncached() != before


def test_suite_version_is_the_projects():
    with (outcomes.REPO / "pyproject.toml").open("rb") as handle:
        assert outcomes.suite_version() == tomllib.load(handle)["project"]["version"]


# -- the HTML report's pieces ----------------------------------------------------------------


def test_html_cells_carry_the_catalogue_and_escape():
    cells = audit_html.row_cells(Row("site_file", CT, FAILED), "found: <b>")
    assert len(cells) == len(audit_html.header_cells()) == len(audit_html.COLUMNS)
    assert cells[0].startswith('<td class="col-outcome outcome-failed" data-outcome="failed">')
    assert "found: &lt;b&gt;" in cells[0]
    assert cells[1] == '<td class="col-check">site_file</td>'
    assert cells[2] == '<td class="col-section">5</td>'
    assert cells[3].startswith(f'<td class="col-target">{CT}<div')
    assert "on the host" in cells[3]
    assert "the CT&#x27;s IP" in cells[4]  # the control, escaped
    assert all("\n" not in cell for cell in cells)  # pytest-html reads values up to </td>
    assert audit_html.row_cells(None) == [
        f'<td class="col-{name}"></td>' for _t, name, _s in audit_html.COLUMNS
    ]


@pytest.mark.parametrize(
    ("row", "note"),
    [
        (
            Row("a", CT, FIXED, "disabled", "fixed: systemd_unit"),
            "by systemd_unit; it found: disabled",
        ),
        (Row("a", CT, FAILED, "disabled"), "found: disabled"),
        (
            Row("a", CT, NOT_REMEDIABLE, "x", "not remediable: nginx_site"),
            "found: x (fix nginx_site: not remediable)",
        ),
        (
            Row("a", CT, FAILED, "x", "planned: nginx_site"),
            "found: x (dry run: nginx_site would change it, see below)",
        ),
        (Row("a", CT, SKIPPED, "CT 955 is stopped"), "CT 955 is stopped"),
        (Row("a", CT, PASSED), ""),
    ],
    ids=["fixed", "failed", "not-remediable", "dry-run", "skipped", "passed"],
)
def test_outcome_notes(row, note):
    assert audit_html.note_for(row) == note


def test_filters_count_each_outcome_and_disable_empty_ones():
    shown = audit_html.filters_html(rows(("a", CT, FIXED), ("b", CT, FIXED), ("c", CT, PASSED)))
    assert '<span class="audit-label">3 checks:</span>' in shown
    assert 'data-outcome="fixed" checked> <span class="outcome-fixed">2 fixed</span>' in shown
    assert 'data-outcome="failed" checked disabled> <span class="outcome-failed">0 failed' in shown


def test_verdict_box_and_environment_values_are_escaped():
    assert audit_html.verdict_html("compliant: <all>") == (
        '<div id="audit-verdict" class="compliant">compliant: &lt;all&gt;</div>'
    )
    assert 'class="not-compliant"' in audit_html.verdict_html("NOT compliant: 1 of 2")
    assert audit_html.environment_value({"<k>": "<v>"}) == {"&lt;k&gt;": "&lt;v&gt;"}
    assert audit_html.environment_value("a&b") == "a&amp;b"


# -- rows from pytest's reports ------------------------------------------------------------


def report(outcome: str, when: str = "call", longrepr: object = None, **attrs) -> TestReport:
    made = TestReport(
        "tests/t.py::test_ct_x[proxmox-ct955]", ("t.py", 1, "x"), {}, outcome, longrepr, when
    )
    made.in_audit = True  # type: ignore[attr-defined]
    made.check_id = "unit_enabled"  # type: ignore[attr-defined]
    made.target = CT  # type: ignore[attr-defined]
    for name, value in attrs.items():
        setattr(made, name, value)
    return made


def test_rows_from_reports():
    assert reporting.row_of(report("passed")) == Row("unit_enabled", CT, PASSED)
    fixed = report(
        "passed", fix_status="fixed", fix_summary="fixed: systemd_unit", fixed_finding="disabled"
    )
    assert reporting.row_of(fixed) == Row(
        "unit_enabled", CT, FIXED, "disabled", "fixed: systemd_unit"
    )
    failed = report("failed", longrepr="expected: enabled\nfound:    disabled")
    assert reporting.row_of(failed) == Row("unit_enabled", CT, FAILED, "disabled")
    refused = report(
        "failed", longrepr="found: x", fix_status="not remediable", fix_summary="not remediable: y"
    )
    assert reporting.row_of(refused) == Row(
        "unit_enabled", CT, NOT_REMEDIABLE, "x", "not remediable: y"
    )
    skip = report("skipped", "setup", ("t.py", 1, "Skipped: CT 955 is stopped"))
    assert reporting.row_of(skip) == Row("unit_enabled", CT, SKIPPED, "CT 955 is stopped")
    error = report("failed", "setup", "ct 955 on proxmox: probes did not run")
    assert reporting.row_of(error) == Row(
        "unit_enabled", CT, FAILED, "ct 955 on proxmox: probes did not run"
    )
    assert reporting.row_of(report("passed", "setup")) is None
    plain = report("passed")
    plain.in_audit = False  # type: ignore[attr-defined]
    assert reporting.row_of(plain) is None


def test_failure_text_keeps_the_whole_story_and_crashes_on_the_finding():
    text = "expected: enabled\nfound:    disabled\n[ct 955] $ systemctl is-enabled ollama"
    failure = reporting.FailureText(text)
    assert str(failure) == text
    assert failure.reprcrash.message == "disabled"  # JUnit's message, pytest's short summary
    made = report("failed", longrepr=failure)
    assert made.longreprtext.rstrip("\n") == text


# -- the verdict a CI acts on: outcome, words and exit code agree --------------------------

STREAMS = ("proxy_streams", CT, NOT_REQUESTED)


@pytest.mark.parametrize(
    ("spec", "code", "said", "mark"),
    [
        pytest.param(
            [("listener", CT, PASSED), ("nginx_valid", "proxmox", PASSED)],
            0,
            "compliant: all 2 checks pass on proxmox/ct955",
            "PASS",
            id="all-judged-and-passing",
        ),
        pytest.param(
            [("listener", CT, FIXED), ("nginx_valid", "proxmox", PASSED)],
            0,
            "compliant: all 2 checks pass on proxmox/ct955 (1 fixed by this run)",
            "PASS",
            id="fixed-counts-as-passing",
        ),
        pytest.param(
            [("listener", CT, PASSED), STREAMS],
            0,
            "compliant: all 1 checks pass on proxmox/ct955 (1 not requested)",
            "PASS",
            id="not-requested-changes-nothing",
        ),
        pytest.param(
            [("listener", CT, FAILED), ("exposure", CT, SKIPPED)],
            1,
            "NOT compliant: 1 of 2 checks fails on proxmox/ct955, 1 could not be judged (skipped)",
            "FAIL",
            id="a-failure-wins-over-a-skip",
        ),
        pytest.param(
            [("listener", CT, NOT_REMEDIABLE)],
            1,
            "NOT compliant: 1 of 1 checks fails on proxmox/ct955",
            "FAIL",
            id="not-remediable-is-a-failure",
        ),
        pytest.param(
            [("listener", CT, PASSED), ("exposure", CT, SKIPPED), STREAMS],
            101,
            "NOT compliant: 1 could not be judged (skipped) of 2 on proxmox/ct955, 1 not requested",
            "NOT JUDGED",
            id="nothing-failed-some-not-judged",
        ),
        pytest.param(
            [("listener", CT, SKIPPED)],
            1,
            "NOT compliant: 1 could not be judged (skipped) of 1 on proxmox/ct955",
            "FAIL",
            id="nothing-judged-proves-nothing",
        ),
        pytest.param([STREAMS], 1, "NOT compliant: no check ran", "FAIL", id="only-not-requested"),
    ],
)
def test_exit_code_verdict_and_summary_agree(spec, code, said, mark):
    table = rows(*spec)
    assert exit_code(table) == code
    assert verdict(table) == said
    assert markdown("audit", table).startswith(f"### audit: {mark}\n")


def test_a_skip_the_persons_flags_chose_is_not_requested():
    assert skip_outcome("not requested: the live streaming probe runs only with ...") == (
        NOT_REQUESTED
    )
    assert skip_outcome("CT 955 on proxmox is stopped: see ct_running") == SKIPPED
    assert counts_line(rows(("listener", CT, PASSED))) == (
        "1 check: 0 failed, 0 not remediable, 0 fixed, 0 skipped, 1 passed"
    )
    assert counts_line(rows(STREAMS)).endswith("0 skipped, 1 not requested, 0 passed")

"""The CI examples' audit, run as their jobs run it: in a checkout of the project, against
the lab (lab/ssh_config stands for the ssh config their first steps write from the secrets),
leaving every path they upload."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from lab import states
from selftests import ciexamples as ci
from selftests.htmlreport import HtmlReport
from selftests.lab.harness import CHECKS, REPO, SSH_CONFIG


def checkout(into):
    """The project's files as a CI checkout has them (tracked files, no reports)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file() and not name.startswith("reports/"):
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_ci_audit_leaves_what_the_job_publishes(kind, tmp_path):
    if kind == "github":
        workflow = ci.load(ci.GITHUB)
        audit = ci.audit_command(ci.github_commands(workflow))
        artifacts, junit = ci.github_uploads(workflow)
    else:
        pipeline = ci.load(ci.GITLAB)
        audit = ci.audit_command(ci.gitlab_commands(pipeline))
        artifacts, junit = ci.gitlab_uploads(pipeline)
    states.reset()  # the plan's starting point: the audit fails, as a job then does
    work = checkout(tmp_path / "checkout")
    step_summary = tmp_path / "step_summary.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env |= {"SSH_CONFIG": str(SSH_CONFIG), "GITHUB_STEP_SUMMARY": str(step_summary)}
    done = subprocess.run(
        ["bash", "-c", audit.line],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output  # some checks fail: the job fails, reports stay
    for path in artifacts:
        published = work / path
        assert published.exists(), f"{kind} uploads {path}, which the audit did not write"
        assert not published.is_dir() or any(published.iterdir()), path
    for path in junit:
        names = {case.get("name", "") for case in ET.parse(work / path).getroot().iter("testcase")}
        assert {name.split("[", 1)[0] for name in names} == set(CHECKS)
    report = HtmlReport.read(work / str(audit.value("--html")))
    assert report.verdict.startswith("NOT compliant: ")
    assert report.verdict.endswith(" checks fail on proxmox/ct955")
    summary = (work / str(audit.value("--summary"))).read_text()
    assert f"**{report.verdict}**" in summary
    assert step_summary.read_text() == summary + "\n"  # on GitHub, the run's page

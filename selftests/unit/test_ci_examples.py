"""The CI examples (examples/ci/) parse, run only what this project has, with flags it has,
and publish the reports the commands write. (selftests/lab/test_ci_examples.py runs the
audit command against the lab.)"""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from selftests import ciexamples as ci
from selftests.ciexamples import GITHUB, GITLAB, REPO

REPORT_FLAGS = {"--html": "reports/report.html", "--junit-xml": "reports/junit.xml"}


@pytest.fixture(scope="module")
def help_options() -> set[str]:
    """The options the suite accepts, as `python3 -m pytest --help` lists them here (the
    repo's conftest.py loads our plugins, as in a CI checkout)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    options = ci.help_options(done.stdout)
    assert {"--fix", "--dry-run", "--summary", "--hosts", "--ssh-config"} <= options
    return options


@pytest.fixture(scope="module")
def github():
    return ci.load(GITHUB)


@pytest.fixture(scope="module")
def gitlab():
    return ci.load(GITLAB)


def commands(kind, github, gitlab):
    return ci.github_commands(github) if kind == "github" else ci.gitlab_commands(gitlab)


def uploads(kind, github, gitlab):
    return ci.github_uploads(github) if kind == "github" else ci.gitlab_uploads(gitlab)


KINDS = pytest.mark.parametrize("kind", ["github", "gitlab"])


@KINDS
def test_each_mode_runs_the_suite_once_with_flags_it_has(kind, github, gitlab, help_options):
    suite = commands(kind, github, gitlab)
    modes = {(("--fix" in c.args), ("--dry-run" in c.args)) for c in suite}
    assert modes == {(False, False), (True, True), (True, False)}  # audit, dry run, fix
    assert len(suite) == 3
    for command in suite:
        unknown = set(command.flags()) - help_options
        assert not unknown, f"{kind}: {command.line}: unknown to pytest --help: {unknown}"
        assert command.value("--hosts") == "proxmox"
        assert command.value("--ssh-config") == "$SSH_CONFIG"  # written from the secrets


@KINDS
def test_reports_written_are_the_reports_published(kind, github, gitlab):
    artifacts, junit = uploads(kind, github, gitlab)
    assert artifacts == ["reports/"]
    assert junit == ["reports/junit.xml"]
    for command in commands(kind, github, gitlab):
        for flag, path in REPORT_FLAGS.items():
            assert command.value(flag) == path, command.line
        summary = command.value("--summary")
        assert summary is not None
        assert summary.startswith("reports/")


@KINDS
def test_ssh_config_is_written_from_secrets_for_the_host_alias_the_suite_uses(kind, github, gitlab):
    if kind == "github":
        scripts = [step.get("run", "") for step in ci.github_steps(github)]
        secrets = str(github["jobs"])
        assert "secrets.PROXMOX_SSH_KEY" in secrets
        assert "secrets.PROXMOX_KNOWN_HOSTS" in secrets
        assert "vars.PROXMOX_HOST" in secrets
    else:
        (job,) = ci.gitlab_jobs(gitlab).values()
        scripts = ci.gitlab_scripts(job)
    text = "\n".join(scripts)
    assert "Host proxmox" in text
    assert "HostName $PROXMOX_HOST" in text
    assert "StrictHostKeyChecking yes" in text
    assert 'ssh -F "$SSH_CONFIG" -o BatchMode=yes proxmox true' in text  # host key checked


def test_github_audits_on_schedule_and_fixes_only_on_request(github):
    triggers = ci.github_on(github)
    assert triggers["schedule"][0]["cron"]
    mode = triggers["workflow_dispatch"]["inputs"]["mode"]
    assert mode["default"] == "audit"
    assert mode["options"] == ["audit", "dry-run", "fix"]
    (job,) = github["jobs"].values()
    assert "self-hosted" in job["runs-on"]
    steps = {step.get("name"): step for step in job["steps"]}
    for name, step in steps.items():
        for command in ci.suite_commands(step.get("run", "")):
            if command.changes_hosts:
                assert step["if"] == (
                    "github.event_name == 'workflow_dispatch' && inputs.mode == 'fix'"
                ), name
    for step in job["steps"]:
        if step.get("uses", "").startswith(("actions/upload-artifact", "mikepenz/")):
            assert step["if"] == "always()"  # a failed audit is when the reports matter


def test_gitlab_audits_on_schedule_and_fixes_only_on_request(gitlab):
    assert gitlab["variables"]["MODE"]["value"] == "audit"
    assert gitlab["variables"]["MODE"]["options"] == ["audit", "dry-run", "fix"]
    (job,) = ci.gitlab_jobs(gitlab).values()
    rules = job["rules"]
    assert rules[0] == {"if": '$CI_PIPELINE_SOURCE == "schedule"', "variables": {"MODE": "audit"}}
    assert rules[1] == {"if": '$CI_PIPELINE_SOURCE == "web"'}
    script = "\n".join(job["script"])
    fixing = [c for c in ci.suite_commands(script) if c.changes_hosts]
    assert len(fixing) == 1
    lines = ci.logical_lines(script)
    assert lines[lines.index(fixing[0].line) - 1] == 'elif [ "$MODE" = "fix" ]; then'
    assert job["artifacts"]["when"] == "always"


def test_install_step_installs_this_project(github, gitlab):
    (job,) = ci.gitlab_jobs(gitlab).values()
    scripts = [step.get("run", "") for step in ci.github_steps(github)] + ci.gitlab_scripts(job)
    installs = [line for s in scripts for line in ci.logical_lines(s) if "pip install" in line]
    assert len(installs) == 2
    assert all(line.split()[-1] == "." for line in installs)
    with (REPO / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    assert any(dep.startswith("pytest-html") for dep in project["dependencies"])
    assert (REPO / "conftest.py").exists()  # the checkout's conftest loads the plugins


def test_logical_lines_join_continuations_and_skip_heredocs():
    script = "a \\\n  b\n# comment\ncat > f <<EOF\nHost x\nEOF\nc"
    assert ci.logical_lines(script) == ["a b", "cat > f <<EOF", "c"]
    (command,) = ci.suite_commands('if x; then\n  python3 -m pytest --a="$B" \\\n   --c\nfi')
    assert command.args == ("--a=$B", "--c")
    assert command.flags() == ["--a", "--c"]

"""The CI examples (examples/ci/) as data: their shell scripts, the suite's command lines in
them and what they publish, for the unit tests (flags exist) and the lab test (it runs)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "ci"
GITHUB = EXAMPLES / "github-actions.yml"
GITLAB = EXAMPLES / "gitlab-ci.yml"
GITLAB_KEYWORDS = {"variables", "stages", "default", "include", "workflow", "image", "services"}
SUITE = re.compile(r"(?:^|[\s;(])python3? -m pytest(?=\s|$)(?P<args>.*)$")


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path}: not a mapping"
    return data


def github_on(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` table (YAML 1.1, which PyYAML reads, parses a bare `on` as True)."""
    triggers = workflow.get("on", workflow.get(True))
    assert isinstance(triggers, dict)
    return triggers


def github_steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def gitlab_jobs(ci: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in ci.items() if k not in GITLAB_KEYWORDS and not k.startswith(".")}


def gitlab_scripts(job: dict[str, Any]) -> list[str]:
    return [*job.get("before_script", []), *job.get("script", []), *job.get("after_script", [])]


def logical_lines(script: str) -> list[str]:
    """A shell script's command lines: continuations joined; comments, blank lines and
    here-document bodies left out."""
    joined = re.sub(r"\s*\\\n\s*", " ", script)
    lines, heredoc = [], None
    for raw in joined.splitlines():
        line = raw.strip()
        if heredoc is not None:
            heredoc = None if line == heredoc else heredoc
            continue
        if not line or line.startswith("#"):
            continue
        if found := re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line):
            heredoc = found.group(1)
        lines.append(line)
    return lines


@dataclass(frozen=True)
class SuiteCommand:
    """One `python3 -m pytest ...` line of a CI script."""

    line: str  # the shell text, as the CI runs it
    args: tuple[str, ...]  # pytest's arguments, as the shell would split them

    def flags(self) -> list[str]:
        """The long options given (`--fix`, `--html` for `--html=...`)."""
        return [arg.split("=", 1)[0] for arg in self.args if arg.startswith("--")]

    def value(self, flag: str) -> str | None:
        for arg in self.args:
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
        return None

    @property
    def changes_hosts(self) -> bool:
        return "--fix" in self.args and "--dry-run" not in self.args


def suite_commands(script: str) -> list[SuiteCommand]:
    commands = []
    for line in logical_lines(script):
        if found := SUITE.search(line):
            args = tuple(shlex.split(found.group("args")))
            commands.append(SuiteCommand(line[found.start() :].strip(), args))
    return commands


def github_commands(workflow: dict[Any, Any]) -> list[SuiteCommand]:
    return [c for step in github_steps(workflow) for c in suite_commands(step.get("run", ""))]


def gitlab_commands(ci: dict[Any, Any]) -> list[SuiteCommand]:
    return [
        c
        for job in gitlab_jobs(ci).values()
        for script in gitlab_scripts(job)
        for c in suite_commands(script)
    ]


def audit_command(commands: list[SuiteCommand]) -> SuiteCommand:
    """The example's read-only audit: its one suite command without --fix."""
    (audit,) = [c for c in commands if "--fix" not in c.args]
    return audit


def github_uploads(workflow: dict[Any, Any]) -> tuple[list[str], list[str]]:
    """(artifact paths, JUnit report paths) the workflow publishes."""
    artifacts, junit = [], []
    for step in github_steps(workflow):
        uses, given = step.get("uses", ""), step.get("with", {})
        if uses.startswith("actions/upload-artifact@"):
            artifacts += str(given["path"]).split()
        if uses.startswith("mikepenz/action-junit-report@"):
            junit += str(given["report_paths"]).split(",")
    return artifacts, junit


def gitlab_uploads(ci: dict[Any, Any]) -> tuple[list[str], list[str]]:
    artifacts, junit = [], []
    for job in gitlab_jobs(ci).values():
        given = job.get("artifacts", {})
        artifacts += given.get("paths", [])
        report = given.get("reports", {}).get("junit", [])
        junit += [report] if isinstance(report, str) else report
    return artifacts, junit


def help_options(help_text: str) -> set[str]:
    """Every option pytest's --help lists (`--html`, `--junitxml`, `--junit-xml`, `-p`...)."""
    options = set()
    for raw in help_text.splitlines():
        line = raw.strip()
        if not line.startswith("-"):
            continue
        column = re.split(r"\s{2,}", line, maxsplit=1)[0]
        for alias in column.split(", "):
            options.add(re.split(r"[=\s]", alias, maxsplit=1)[0])
    return options

"""A person's own testinfra tests in tests/ count like the catalogue's checks: collected by
default, run on their target (`host`: the Proxmox host, `ct`: inside the container through
`pct exec`), a row in every report, and in the verdict and the exit code."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import states
from selftests.htmlreport import HtmlReport
from selftests.lab.harness import CHECKS, REPO, run_suite

OWN_TESTS = '''\
import pytest


def test_host_has_nginx(host):
    """The Proxmox host has nginx installed."""
    assert host.exists("nginx")


def test_stand_in_in_the_ct(ct):
    """Inside the container, /usr/local/bin/ollama is an executable file."""
    binary = ct.file("/usr/local/bin/ollama")
    assert binary.is_file and binary.mode & 0o111
    assert ct.run("hostname").stdout.strip() != host_name()


def host_name():
    import socket

    return socket.gethostname()


def test_no_such_file_in_the_ct(ct):
    """A file the plan never makes: this test fails."""
    assert ct.file("/etc/does-not-exist").exists


@pytest.mark.fix("profile_d")
def test_host_profile_copy(host):
    """A failing host test that names a fix."""
    assert host.file("/etc/does-not-exist-either").exists
'''


@pytest.fixture
def own_tests() -> Iterator[Path]:
    """Our own test module in tests/, removed afterwards (git ignores test_selftest_*.py)."""
    path = REPO / "tests" / f"test_selftest_{uuid.uuid4().hex[:8]}.py"
    path.write_text(OWN_TESTS)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def test_own_tests_are_collected_run_on_their_targets_and_counted(own_tests, tmp_path):
    states.make_compliant()
    run = run_suite("--summary", str(tmp_path / "summary.md"), tmp_path=tmp_path)
    module = own_tests.stem
    assert run.rc == 1, run.explain()
    rows = {(check, target): row.status for (check, target), row in run.rows.items()}
    assert {check for check, _target in rows} >= set(CHECKS)
    assert rows[("test_host_has_nginx", "proxmox")] == "passed", run.explain()
    assert rows[("test_stand_in_in_the_ct", "proxmox-ct955")] == "passed", run.explain()
    assert rows[("test_no_such_file_in_the_ct", "proxmox-ct955")] == "failed", run.explain()
    assert rows[("test_host_profile_copy", "proxmox")] == "failed", run.explain()
    assert all(rows[(check, t)] == "passed" for check, t in rows if check in CHECKS)
    verdict = re.search(r"verdict: (.*)", run.output)
    total = len(CHECKS) + 4
    assert verdict, run.explain()
    assert verdict.group(1).startswith(f"NOT compliant: 2 of {total} checks fail on "), run.output
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("### Ollama LXC compliance: audit: FAIL"), summary
    assert f"| failed | {module}.py::test_no_such_file_in_the_ct | own | proxmox/ct955 |" in summary
    report = HtmlReport.read(tmp_path / "report.html")
    assert report.verdict == verdict.group(1)
    checks = {report.cell(row, "check") for row in report.rows}
    assert f"{module}.py::test_host_has_nginx" in checks


def test_an_own_tests_fix_is_applied_then_the_test_runs_again(own_tests, tmp_path):
    """`@pytest.mark.fix(name)` on a failing test: --fix applies that fix to its target and
    runs the test again (here the fix cannot make the test pass: it stays failed, named)."""
    states.reset()
    run = run_suite("--fix", "-k", "test_host_profile_copy or profile_script", tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    own = run.rows[("test_host_profile_copy", "proxmox")]
    assert own.status == "failed"
    assert "still failing after fix profile_d (changed)" in own.message, own.message
    assert run.rows[("profile_script", "proxmox-ct955")].status == "passed", run.explain()

"""The plugins' option errors: one `ERROR:` line and exit 4, before anything runs.

Each test runs pytest in a scratch directory wired like the repo's conftest.py, against
`--hosts=local://` (no connection is made: the errors stop the run first).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from compliance import catalogue
from compliance.suite import plugin

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
WIRING = (ROOT / "conftest.py").read_text()
BASE = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark")


@pytest.fixture
def suite(pytester, monkeypatch):
    """A scratch test dir with the repo's plugins, the repo root importable."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.syspath_prepend(str(ROOT))
    pytester.makeconftest(WIRING)
    pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    return pytester


def run(pytester, *args: str):
    return pytester.runpytest(*BASE, "--hosts=local://", *args)


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.lines if line.strip()]


def test_dry_run_without_fix_is_a_usage_error(suite):
    result = run(suite, "--dry-run")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert error_lines(result) == ["ERROR: --dry-run only makes sense with --fix"]
    assert "test session starts" not in result.stdout.str()


def test_dry_run_with_fix_is_accepted(suite):
    result = run(suite, "--fix", "--dry-run", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert error_lines(result) == []


def test_a_check_naming_no_fix_is_one_line(suite, monkeypatch):
    """A typo in a check's `@check(..., fix)` stops the run at collection, in one line."""
    checks = catalogue.load()
    typo = dataclasses.replace(checks["site_file"], id="typo", fix="ngnix_site")
    monkeypatch.setitem(checks, "typo", typo)
    result = run(suite)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = error_lines(result)
    assert line == (
        "ERROR: check typo (tests.test_proxy) names fix 'ngnix_site', which does not"
        " exist (known: ct_firewall, ct_onboot, ct_start, nginx_site, profile_d, systemd_unit, "
        "upgrade_ollama)"
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_every_check_of_the_catalogue_names_a_fix(suite):
    result = run(suite, "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert error_lines(result) == []


@pytest.mark.parametrize(
    ("args", "setting"),
    [
        (("--ctid=95a",), "setting ollama_ctid (--ctid): '95a' is not a container id list"),
        (("--ct-ip=10.0.3",), "setting ollama_ct_ip (--ct-ip): '10.0.3' is not an IPv4"),
        (("--ct-transport=ssh",), "setting ollama_ct_transport (--ct-transport): 'ssh'"),
    ],
    ids=["ctid", "ct_ip", "transport"],
)
def test_a_bad_setting_is_one_line_naming_it(suite, args, setting):
    result = run(suite, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = error_lines(result)
    assert line.startswith(f"ERROR: {setting}")


def test_a_bad_ini_setting_names_the_ini_key(suite):
    suite.makeini("[pytest]\nollama_ctid = 95a\n")
    result = run(suite)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = error_lines(result)
    assert line.startswith("ERROR: setting ollama_ctid (--ctid): '95a' ")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "FileNotFoundError"),
        ("{not json", "JSONDecodeError"),
        ('{"advisories": [{"id": "X", "summary": "s", "source": "u"}]}', "X has no version bound"),
    ],
    ids=["missing", "not-json", "no-bound"],
)
def test_a_bad_advisories_file_is_one_line(suite, content, why):
    path = suite.path / "advisories.json"
    if content is not None:
        path.write_text(content)
    result = run(suite, "--compliance-profile=hardened", f"--advisories={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = error_lines(result)
    assert line.startswith("ERROR: setting ollama_advisories (--advisories): advisories file")
    assert why in line


def test_reports_default_to_reports_only_for_an_audit(suite):
    """An audit (--hosts) writes reports/report.html and junit.xml unless told otherwise; any
    other pytest run (the self-tests) writes no report there."""
    plain = suite.runpytest(*BASE)
    assert plain.ret == pytest.ExitCode.OK
    assert not (suite.path / "reports").exists()

    def defaults(*args: str) -> tuple[str | None, str | None]:
        config = suite.parseconfigure(*BASE, *args)
        plugin.pytest_cmdline_main(config)
        return config.option.htmlpath, config.option.xmlpath

    assert defaults() == (None, None)
    assert defaults("--hosts=local://") == ("reports/report.html", "reports/junit.xml")
    assert defaults("--hosts=local://", "--junitxml=out/j.xml")[1] == "out/j.xml"

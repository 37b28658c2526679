"""The schedule, proven where systemd runs: the units pass `systemd-analyze verify`, are
installed by the suite's own command in the stand-in for the host's systemd (lab/systemd_ct.py),
and the timer's service, started as the timer starts it, writes metrics that Prometheus's own
parser reads: every gauge 1 on the compliant lab, the broken check's gauge 0 and the drift
named after the site is broken."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from compliance.schedule import units
from lab import states, systemd_ct
from selftests.lab.harness import REPO

STATE_DIR = "/var/lib/ollama-lab-schedule"  # the test's own, removed after it
METRICS = f"{STATE_DIR}/metrics/ollama_compliance.prom"
SETTINGS = f"--keep=2 --metrics={METRICS} --state-dir={STATE_DIR}"
AUDIT = "-- --ssh-config=lab/ssh_config --hosts=proxmox"  # the lab host at 127.0.0.1 in it


def schedule(action: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    python = shlex.quote(sys.executable)  # the same installation, bind-mounted at its path
    command = f"cd {shlex.quote(str(REPO))} && {python} -m compliance.schedule {action}"
    return systemd_ct.run(f"{command} {SETTINGS} {AUDIT} 2>&1", check=check)


def gauges(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one metric in the metrics file, read back with the library's parser."""
    text = systemd_ct.read(METRICS)
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def by_check(samples: dict[tuple[tuple[str, str], ...], float]) -> dict[str, float]:
    return {dict(labels)["check"]: value for labels, value in samples.items()}


def start_service() -> subprocess.CompletedProcess[str]:
    """What the timer does when it elapses: start the service (a oneshot: waits for the run)."""
    return systemd_ct.run(f"systemctl start {units.SERVICE}", check=False, timeout=600)


@pytest.fixture
def stand_in():
    systemd_ct.ensure()
    clean = (
        f"systemctl disable --now {units.TIMER} >/dev/null 2>&1; rm -rf {STATE_DIR} "
        f"/var/lib/systemd/timers/stamp-{units.TIMER} /etc/systemd/system/{units.SERVICE} "
        f"/etc/systemd/system/{units.TIMER}; systemctl daemon-reload; "
        f"systemctl reset-failed {units.SERVICE} 2>/dev/null; true"
    )
    systemd_ct.run(clean)
    try:
        yield
    finally:
        systemd_ct.run(clean)
        states.reset()


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path):
    schedule_ = units.Schedule(pytest_args=("--hosts=local://",)).validate()
    paths = []
    for name, text in units.rendered(schedule_).items():
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    proc = subprocess.run(
        ["systemd-analyze", "verify", *paths], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_a_scheduled_audit_writes_metrics_and_names_the_drift(stand_in):
    states.make_compliant()
    installed = schedule("install")
    assert installed.returncode == 0, installed.stdout
    assert f"enabled and started {units.TIMER}" in installed.stdout
    timer = systemd_ct.run(f"systemctl is-active {units.TIMER}", check=False).stdout.strip()
    assert timer == "active"

    green = start_service()
    assert green.returncode == 0, systemd_ct.run(f"journalctl -u {units.SERVICE} -n 40").stdout
    checks = by_check(gauges("ollama_compliance_check"))
    assert checks, "no check gauge in the metrics file"
    assert set(checks.values()) == {1.0}, checks
    assert gauges("ollama_compliance_verdict") == {(("verdict", "PASS"),): 1.0}

    states.apply_fault("site_wrong_port")
    red = start_service()
    assert red.returncode != 0  # the audit's exit 1 leaves the service failed
    checks = by_check(gauges("ollama_compliance_check"))
    assert checks["site_file"] == 0.0, checks
    assert checks["site_served"] == 0.0, checks
    assert checks["unit_active"] == 1.0
    assert gauges("ollama_compliance_verdict") == {(("verdict", "FAIL"),): 0.0}
    assert gauges("ollama_compliance_drift_changes")[()] >= 1
    summary = systemd_ct.read(f"{STATE_DIR}/reports/latest/summary.md")
    assert "since the last green run" in summary, summary
    assert "site" in summary, summary
    journal = systemd_ct.run(f"journalctl -u {units.SERVICE} -o cat -n 200").stdout
    assert "drift since the last green run" in journal, journal[-3000:]

    status = schedule("status")
    assert status.returncode == 1, status.stdout  # the last run was not compliant
    assert "newest report:" in status.stdout
    assert "report.html" in status.stdout

    removed = schedule("remove")
    assert removed.returncode == 0, removed.stdout
    assert f"removed /etc/systemd/system/{units.TIMER}" in removed.stdout
    assert systemd_ct.run(f"test -e {METRICS}", check=False).returncode != 0


def test_the_example_alert_rules_load_and_fire_when_they_should():
    """`promtool check rules`, then `promtool test rules`: a failed check and a stale metrics
    file fire their alerts, a passing check does not."""
    from lab import config

    folder = REPO / "examples" / "prometheus"
    for argv in (
        ["check", "rules", "ollama-compliance.rules.yml"],
        ["test", "rules", "rules.test.yml"],
    ):
        proc = subprocess.run(
            [str(config.PROMTOOL), *argv], cwd=folder, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "SUCCESS" in proc.stdout

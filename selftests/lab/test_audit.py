"""The audit against the real lab: compliant passes; manual setup and each fault fail right."""

from __future__ import annotations

import re

import pytest

from compliance.report.outcomes import EXIT_UNREACHABLE
from lab import config, plan, states
from lab.faults import FAULTS
from lab.shell import ct_run
from selftests.htmlreport import HtmlReport
from selftests.lab.harness import (
    CHECKS,
    HARDENED_CHECKS,
    NEEDS_CT,
    SSH_CONFIG,
    computed_failing,
    run_suite,
)


# Computed host-free (selftests/unit/factsets.py judges the catalogue on the manual-setup facts):
# the lab only proves that the live audit fails exactly what the computation says.
def manual_setup_fails() -> frozenset[str]:
    from selftests.unit import factsets

    return frozenset(factsets.failing(factsets.manual_setup()))


# Every fault of lab/faults.py that leaves the container running: its failing checks, its
# own check and the phrase that check must print are the fault's own data.
AUDITED = sorted(
    name
    for name, fault in FAULTS.items()
    if fault.own and name != "ct_stopped" and fault.profile == "plan"
)


def test_every_fault_names_its_own_check():
    """A fault without an own check and phrase is proven by no audit test."""
    for name, fault in FAULTS.items():
        if name != "all_convergeable":
            assert fault.own in computed_failing(name), name
            assert fault.phrase, name
            assert computed_failing(name) <= set(HARDENED_CHECKS), name


def test_compliant_lab_passes_every_check(tmp_path):
    states.make_compliant()
    run = run_suite(tmp_path=tmp_path)
    assert run.rc == 0, run.explain()
    assert set(run.checks) == set(CHECKS)
    assert run.with_status("passed") == set(CHECKS), run.explain()
    report = HtmlReport.read(tmp_path / "report.html")
    assert report.verdict == f"compliant: all {len(CHECKS)} checks pass on proxmox/ct955"
    targets = {target for _check, target in report.by_check()}
    assert targets == {"proxmox/ct955", "proxmox"}  # the CT's checks, the host-wide ones
    evidence = run.checks["listener"].properties["evidence"]
    assert "ss -H -tlnp" in evidence
    assert "*:11434" in evidence  # the dual-stack socket, as Ollama binds 0.0.0.0


def test_manual_setup_fails_exactly_the_missing_steps(tmp_path):
    states.reset()
    run = run_suite(tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    assert run.failed == manual_setup_fails(), run.explain()
    assert run.with_status("passed") == set(CHECKS) - manual_setup_fails()


@pytest.mark.parametrize("fault", AUDITED)
def test_fault_fails_its_check(fault, tmp_path):
    expected = FAULTS[fault]
    states.apply_fault(fault)
    run = run_suite(tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    assert run.failed == computed_failing(fault), run.explain()
    own = run.checks[expected.own]
    assert "expected:" in own.message, own.message
    assert "found:" in own.message, own.message
    assert expected.phrase in own.message, own.message
    assert "Traceback" not in run.output


# Faults whose OLLAMA_HOST in force comes from a different source systemd merges.
ENV_SOURCES = (
    "unit_dropin_loopback",
    "unit_env_file_loopback",
    "unit_unset_host",
    "all_services_dropin_loopback",
    "manager_env_loopback",
)
PROCESS_HOST = (
    'tr "\\0" "\\n" < /proc/"$(systemctl show -p MainPID --value ollama.service)"/environ'
    " | grep '^OLLAMA_HOST=' || true"
)


@pytest.mark.parametrize("fault", ENV_SOURCES)
def test_value_in_force_is_the_one_systemd_started(fault, tmp_path):
    """Held to systemd itself: the value the suite reads from the unit's sources is the one in
    the process systemd started (/proc/<MainPID>/environ), so no `restart pending`."""
    states.apply_fault(fault)
    live = ct_run(config.CTID, PROCESS_HOST).stdout.strip().partition("=")[2] or "(unset)"
    run = run_suite(tmp_path=tmp_path)
    message = run.checks["unit_settings"].message
    assert f"OLLAMA_HOST={live} from " in message, message
    assert "restart pending" not in message, message


def test_stopped_container_is_one_failure_and_skips(tmp_path):
    states.apply_fault("ct_stopped")
    run = run_suite(tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    assert run.failed == {"ct_running"}, run.explain()
    assert "CT 955 stopped" in run.checks["ct_running"].message
    skipped = run.with_status("skipped")
    needs_ct = NEEDS_CT & set(CHECKS)  # the catalogue says which need the container
    assert skipped == needs_ct | {"site_file"}, run.explain()
    for name in needs_ct:
        assert "CT 955 on proxmox is stopped: see ct_running" in run.checks[name].message
    assert "CT 955 not running: its IP cannot be compared" in run.checks["site_file"].message


def test_all_skipped_run_fails(tmp_path):
    states.apply_fault("ct_stopped")
    run = run_suite("-k", "direct_api or listener", tmp_path=tmp_path)
    assert run.with_status("skipped") == {"direct_api", "listener"}, run.explain()
    assert run.rc != 0, run.explain()
    assert "no compliance check ran" in run.output


@pytest.mark.parametrize("parallel", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_nothing_failed_but_something_not_judged_exits_101(parallel, tmp_path):
    """The CT is stopped and only nginx_valid and listener run: nothing fails, listener could
    not be judged: exit 101, and the verdict, the summary and JUnit say the same."""
    states.apply_fault("ct_stopped")
    summary = tmp_path / "summary.md"
    run = run_suite(
        *parallel, "-k", "nginx_valid or listener", f"--summary={summary}", tmp_path=tmp_path
    )
    assert run.rc == 101, run.explain()
    assert run.with_status("skipped") == {"listener"}, run.explain()
    assert run.with_status("passed") == {"nginx_valid"}, run.explain()
    said = "NOT compliant: 1 could not be judged (skipped) of 2 on proxmox/ct955"
    assert f"verdict: {said}" in run.output
    assert summary.read_text().startswith("### Ollama LXC compliance: audit: NOT JUDGED\n")


@pytest.mark.parametrize("parallel", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_unreachable_host_stops_early_with_one_line(parallel, tmp_path):
    bad = tmp_path / "ssh_config"
    bad.write_text(re.sub(r"Port \d+", "Port 2299", SSH_CONFIG.read_text()))
    run = run_suite(*parallel, tmp_path=tmp_path / "r", ssh_config=bad)
    assert run.rc == EXIT_UNREACHABLE, run.explain()
    lines = [ln for ln in run.output.splitlines() if "unreachable" in ln]
    assert len(lines) == 1, run.explain()
    assert "INTERNALERROR" not in run.output
    assert "proxmox: host unreachable via paramiko (127.0.0.1)" in lines[0]
    assert "Traceback" not in run.output
    assert run.seconds < 30


@pytest.mark.parametrize(
    ("flag", "setting"),
    [
        ("--ctid=95a", "ollama_ctid"),
        ("--ct-ip=10.0.3.999", "ollama_ct_ip"),
        ("--proxy-url=http://127.0.0.1/$(id)/", "ollama_proxy_url"),
        ("--server-name=a;reboot", "ollama_server_name"),
        ("--site-file=etc/x", "ollama_site_file"),
    ],
)
def test_bad_setting_is_one_line(flag, setting, tmp_path):
    run = run_suite(flag, tmp_path=tmp_path)
    assert run.rc == 4, run.explain()
    errors = [ln for ln in run.output.splitlines() if ln.startswith("ERROR:")]
    assert len(errors) == 1, run.explain()
    assert setting in errors[0]
    assert "Traceback" not in run.output


@pytest.mark.parametrize(
    ("args", "why"),
    [(("--hosts=bogus://proxmox",), "Unknown connection type"), ((), "Unparsable line")],
    ids=["unknown-scheme", "unparsable-ssh-config"],
)
def test_bad_hosts_or_ssh_config_is_one_line(args, why, tmp_path):
    bad = tmp_path / "ssh_config"
    bad.write_text("Host proxmox\nHostName\n")
    run = run_suite(*args, ssh_config=bad if not args else SSH_CONFIG, tmp_path=tmp_path / "r")
    assert run.rc == 4, run.explain()
    errors = [ln for ln in run.output.splitlines() if ln.startswith("ERROR:")]
    assert len(errors) == 1, run.explain()
    assert why in errors[0]
    assert "Traceback" not in run.output


def test_audit_without_fix_changes_nothing(tmp_path):
    from lab import snapshot

    states.reset()
    before = snapshot.snapshot()
    run = run_suite(tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    assert snapshot.snapshot() == before


def test_missing_container_is_one_failure_and_skips(tmp_path):
    states.make_compliant()
    run = run_suite("--ctid=999", tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    assert "CT 999 missing" in run.checks["ct_running"].message
    assert "CT 999 on proxmox is missing" in run.checks["unit_active"].message
    assert run.with_status("skipped") >= {"profile_script", "unit_active", "proxy_parity"}


def test_unit_healed_by_hand_after_a_crash_loop_passes_at_once(tmp_path):
    """A person heals a crash-looping unit and restarts it: the audit right after is green
    (the current invocation is a job's start, not one of Restart='s)."""
    states.apply_fault("unit_crash_loop")
    ct_run(
        config.CTID,
        f"cat > {config.CT_UNIT} <<'LAB_EOF'\n{plan.UNIT}LAB_EOF\n"
        "systemctl daemon-reload && systemctl restart ollama.service"
        f" && i=0 && until curl -fs -o /dev/null http://127.0.0.1:{config.OLLAMA_PORT}/api/tags;"
        " do i=$((i+1)); [ $i -le 150 ] || exit 1; sleep 0.1; done",
        timeout=60,
    )
    restarts = ct_run(config.CTID, "systemctl show -p NRestarts --value ollama").stdout
    assert int(restarts) >= 1  # systemd still counts the crash loop's restarts
    run = run_suite(tmp_path=tmp_path)
    assert run.rc == 0, run.explain()


def test_non_utf8_byte_in_a_plan_file_fails_nothing(tmp_path):
    """A Latin-1 comment in an otherwise compliant profile script is shown, not a crash."""
    states.make_compliant()
    ct_run(config.CTID, f"printf '# caf\\351\\n' >> {config.CT_PROFILE}")
    run = run_suite(tmp_path=tmp_path)
    assert run.rc == 0, run.explain()
    assert "UnicodeDecodeError" not in run.output
    assert "caf\ufffd" in run.checks["profile_script"].properties["evidence"]

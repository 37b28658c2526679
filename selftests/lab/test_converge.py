"""--fix on the real lab: converges from every fault, changes nothing twice, never half-applies."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from lab import config, container, plan, snapshot, states
from lab import faults as FAULT_LINES
from lab.faults import FAULTS
from lab.plan import site_for
from lab.shell import ct_run, host_run
from selftests.lab.harness import CHECKS, REPO, SSH_CONFIG, computed_failing, run_suite
from selftests.lab.test_audit import manual_setup_fails

CONVERGEABLE = (
    "manual_setup",
    *(name for name, f in FAULTS.items() if f.converges and f.profile == "plan"),
)


# The service's process and start time: unchanged when nothing restarted it.
SERVICE_START = "systemctl show -p MainPID -p ActiveEnterTimestamp ollama.service"


def put_lab_in(state: str) -> None:
    if state == "manual_setup":
        states.reset()
    else:
        states.apply_fault(state)


def plan_files() -> dict[str, tuple[str | None, str]]:
    """Each file --fix writes: (what is there now or None, the plan's content)."""
    site = site_for(config.CTID)
    found = {}
    for path, wanted in ((config.CT_PROFILE, plan.PROFILE_SCRIPT), (config.CT_UNIT, plan.UNIT)):
        out = ct_run(config.CTID, f"cat {path} 2>/dev/null || echo @@absent").stdout
        found[path] = (None if out == "@@absent\n" else out, wanted)
    text = site.file.read_text() if site.file.exists() else None
    found[str(site.file)] = (text, site.render(container.ct_ip(config.CTID)))
    return found


def files_and_services() -> dict:
    """What a dry run must leave untouched: file fingerprints, links, service states, pids."""
    return snapshot.snapshot()


@pytest.mark.parametrize("state", CONVERGEABLE)
def test_fix_converges_then_changes_nothing(state, tmp_path, record_property):
    put_lab_in(state)
    fix = run_suite("--fix", tmp_path=tmp_path / "fix")
    record_property("fix_seconds", f"{fix.seconds:.2f}")
    assert fix.rc == 0, fix.explain()
    assert fix.with_status("failed") == set(), fix.explain()
    assert re.search(r"\b[1-9]\d* fix\(es\) applied", fix.output), fix.explain()
    # Every check the state fails is credited to its fix, in any catalogue order.
    failing = manual_setup_fails() if state == "manual_setup" else computed_failing(state)
    fixed = {c for c, row in fix.checks.items() if row.properties.get("result") == "fixed"}
    assert fixed == failing, fix.explain()
    audit = run_suite(tmp_path=tmp_path / "audit")
    assert audit.rc == 0, audit.explain()
    assert audit.with_status("passed") == set(CHECKS), audit.explain()
    again = run_suite("--fix", tmp_path=tmp_path / "again")
    assert again.rc == 0, again.explain()
    assert "no check failed: nothing to change" in again.output, again.explain()


def test_fixed_checks_are_reported_as_fixed(tmp_path):
    states.apply_fault("unit_disabled")
    run = run_suite("--fix", tmp_path=tmp_path)
    assert run.rc == 0, run.explain()
    row = run.checks["unit_enabled"]
    assert row.properties["fix"] == "systemd_unit"
    assert row.properties["fix_status"] == "changed"
    assert row.properties["result"] == "fixed"
    assert "systemctl enable ollama.service" in row.properties["fix_log"]
    assert "1 fixed" in run.output
    html = (tmp_path / "report.html").read_text()
    assert "Remediation" in html


def test_foreign_broken_site_is_named_and_left_alone(tmp_path):
    states.apply_fault("other_site_broken")
    before = files_and_services()
    run = run_suite("--fix", tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    assert "nginx_valid" in run.failed
    message = run.checks["nginx_valid"].message
    assert "/etc/nginx/sites-enabled/zz-lab-broken" in message
    assert "not our site" in message
    assert "not remediable" in message
    assert files_and_services() == before  # no file touched, nginx not reloaded


def test_missing_binary_is_not_remediable(tmp_path):
    states.apply_fault("binary_missing")
    before = files_and_services()
    run = run_suite("--fix", tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    row = run.checks["which_ollama"]
    assert row.properties["fix_status"] == "not remediable"
    assert "/usr/local/bin/ollama is missing" in row.message
    assert files_and_services() == before


def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path):
    states.reset()
    before = files_and_services()
    run = run_suite("--fix", "--dry-run", tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    for wanted in (
        "+++ /etc/profile.d/ollama.sh",
        "+++ /etc/systemd/system/ollama.service",
        "+++ /usr/local/phoenix_hypervisor/etc/nginx/sites-available/ollama_proxy",
        "$ systemctl daemon-reload",
        "$ systemctl enable ollama.service",
        "$ nginx -t",
        "dry run: nothing changed",
    ):
        assert wanted in run.output, wanted
    assert files_and_services() == before


def test_bad_render_value_is_refused_before_any_change(tmp_path):
    states.reset()
    before = files_and_services()
    run = run_suite("--fix", "--server-name=evil;reboot", tmp_path=tmp_path)
    assert run.rc == 4, run.explain()
    assert "ollama_server_name" in run.output
    assert files_and_services() == before


@pytest.mark.parametrize("delay", [1.0, 1.8, 2.6, 3.4])
def test_killed_fix_leaves_old_or_new_files_and_next_run_converges(delay, tmp_path):
    """SIGKILL a --fix run part-way: every managed file is whole (absent/old or new)."""
    states.reset()
    command = [
        sys.executable,
        "-m",
        "pytest",
        f"--ssh-config={SSH_CONFIG}",
        "--hosts=proxmox",
        "--fix",
        "-p",
        "no:cacheprovider",
        f"--junitxml={tmp_path / 'j.xml'}",
        f"--html={tmp_path / 'r.html'}",
    ]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for path, (content, wanted) in plan_files().items():
        assert content is None or content == wanted, f"{path} is partial: {content!r}"
    run = run_suite("--fix", tmp_path=tmp_path / "again")
    assert run.rc == 0, run.explain()
    audit = run_suite(tmp_path=tmp_path / "audit")
    assert audit.rc == 0, audit.explain()


def test_failed_restart_restores_the_previous_unit(tmp_path):
    """A fix whose service does not come up puts the old unit back (from its backup)."""
    states.apply_fault("unit_not_reloaded")
    unit = config.CT_UNIT
    before = ct_run(config.CTID, f"cat {unit}").stdout
    ct_run(config.CTID, f"printf '#!/bin/sh\\necho broken >&2\\nexit 1\\n' > {config.CT_BINARY}")
    try:
        run = run_suite("--fix", "-k", "unit_settings", tmp_path=tmp_path)
        after = ct_run(config.CTID, f"cat {unit}").stdout
        backups = ct_run(config.CTID, f"cat /var/backups/ollama-compliance/*{unit}").stdout
    finally:
        states.reset()
    assert run.rc == 1, run.explain()
    row = run.checks["unit_settings"]
    assert row.properties["fix_status"] == "failed"
    assert "not verified" in row.message
    assert "restored the previous unit" in row.message
    assert "Journal:" in row.message
    assert after == before  # the old unit is back, byte for byte
    assert before in backups


@pytest.mark.parametrize(
    ("fault", "check", "only"),
    [
        ("nginx_stopped", "nginx_running", "$ nginx  -> exit 0"),
        ("unit_disabled", "unit_enabled", "systemctl enable ollama.service"),
        ("request_log_panic_unit_disabled", "unit_enabled", "systemctl enable ollama.service"),
    ],
)
def test_fix_changes_only_what_differs(fault, check, only, tmp_path):
    """A file that already matches is not rewritten (no diff, no install, no backup), and a
    service that runs well is not restarted (gin's request lines are not its errors)."""
    states.apply_fault(fault)
    started = ct_run(config.CTID, SERVICE_START).stdout
    run = run_suite("--fix", tmp_path=tmp_path)
    assert run.rc == 0, run.explain()
    log = run.checks[check].properties["fix_log"]
    assert only in log
    assert "+++ " not in log
    assert "install " not in log
    assert "backup in" not in log
    assert "systemctl restart" not in log
    assert ct_run(config.CTID, SERVICE_START).stdout == started


def test_operator_dropin_keeps_its_settings_and_models(tmp_path):
    """A `systemctl edit` drop-in that agrees with the plan and adds OLLAMA_MODELS survives a
    converge of a merely disabled unit: the fix only enables it."""
    states.apply_fault("operator_dropin_unit_disabled")
    dropin = f"{config.CT_DROPIN_DIR}/override.conf"
    before = ct_run(config.CTID, f"cat {dropin}").stdout
    run = run_suite("--fix", tmp_path=tmp_path)
    assert run.rc == 0, run.explain()
    log = run.checks["unit_enabled"].properties["fix_log"]
    assert "systemctl enable ollama.service" in log
    assert "systemctl restart" not in log
    assert ct_run(config.CTID, f"cat {dropin}").stdout == before
    tags = ct_run(config.CTID, "curl -s http://127.0.0.1:11434/api/tags").stdout
    assert '"llama3.2:1b"' in tags


def test_installer_layout_is_rolled_back_when_models_would_vanish(tmp_path):
    """User=ollama -> the plan's User=root would serve no models: the fix rolls back, says why."""
    states.apply_fault("installer_layout")
    unit = ct_run(config.CTID, f"cat {config.CT_UNIT}").stdout
    run = run_suite("--fix", tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    row = run.checks["unit_settings"]
    assert row.properties["fix_status"] == "failed"
    assert "no longer serves 2 model(s): llama3.2:1b, qwen2.5:0.5b" in row.message
    assert "OLLAMA_MODELS" in row.message
    assert "restored the previous unit" in row.message
    assert ct_run(config.CTID, f"cat {config.CT_UNIT}").stdout == unit
    tags = ct_run(config.CTID, "curl -s http://127.0.0.1:11434/api/tags").stdout
    assert '"llama3.2:1b"' in tags
    assert "Traceback" not in run.output


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        (
            "unit_env_file_loopback",
            "OLLAMA_HOST=127.0.0.1:11434 from /etc/default/ollama:2 (EnvironmentFile= of "
            f"{config.CT_DROPIN_DIR}/10-env-file.conf:2), which the plan does not own",
        ),
        ("all_services_dropin_loopback", "/etc/systemd/system/service.d/50-lab-env.conf"),
    ],
)
def test_value_in_force_not_ours_is_refused_without_a_restart(fault, named, tmp_path):
    """OLLAMA_HOST from a file the plan does not own: one line naming it, nothing changed,
    the service not restarted (a restart would bind the same place again)."""
    states.apply_fault(fault)
    before = files_and_services()
    started = ct_run(config.CTID, SERVICE_START).stdout
    run = run_suite("--fix", tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    row = run.checks["unit_settings"]
    assert row.properties["fix_status"] == "not remediable", run.explain()
    assert named in row.message, run.explain()
    assert "restart pending" not in run.output, run.explain()
    assert ct_run(config.CTID, SERVICE_START).stdout == started
    assert files_and_services() == before
    assert "Traceback" not in run.output


def test_masked_unit_is_refused_and_nothing_changes(tmp_path):
    states.apply_fault("unit_masked")
    before = files_and_services()
    run = run_suite("--fix", tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    row = run.checks["unit_settings"]
    assert row.properties["fix_status"] == "not remediable"
    assert "ollama.service is masked" in row.message
    assert files_and_services() == before
    assert "Traceback" not in run.output


def test_frozen_container_fails_fast_and_fix_changes_nothing(tmp_path):
    """A frozen CT (vzdump --mode suspend) runs nothing: its checks fail in well under a
    minute, each with one line naming the freeze (pct status says running), and --fix
    refuses it up front, changing nothing and waiting out no further deadline."""
    states.apply_fault("ct_frozen")
    try:
        audit = run_suite(tmp_path=tmp_path / "audit")
        fix = run_suite("--fix", tmp_path=tmp_path / "fix")
    finally:
        states.reset()
    assert audit.rc == 1, audit.explain()
    assert audit.seconds < 60, audit.explain()
    assert audit.failed == computed_failing("ct_frozen"), audit.explain()
    assert "no answer within" in audit.checks["unit_active"].message
    for check in audit.failed:
        assert "CT 955 is frozen (lxc-info: FROZEN" in audit.checks[check].message, audit.explain()
    assert "Traceback" not in audit.output
    assert fix.rc == 1, fix.explain()
    assert "--fix changed nothing on any host" in fix.output, fix.explain()
    refusal = r"not remediable.*\n.*CT 955 is frozen .*lxc-unfreeze -n 955`; nothing changed"
    assert re.search(refusal, fix.output), fix.explain()
    assert fix.seconds < audit.seconds + 20, (audit.seconds, fix.seconds)


def test_backup_lock_is_named_and_fix_refuses_changing_nothing(tmp_path):
    """vzdump --mode suspend: `lock: backup` and a frozen CT. The audit names the lock, not a
    timeout; --fix refuses in one line naming it and changes nothing (the CT stays frozen and
    locked); undoing the fault (reset) thaws and unlocks it."""
    states.apply_fault("ct_locked_backup")
    quick = "--command-timeout=8"  # the frozen CT's wait; the default bound is ct_frozen's test
    try:
        audit = run_suite(quick, tmp_path=tmp_path / "audit")
        fix = run_suite("--fix", quick, tmp_path=tmp_path / "fix")
        after = container.state(config.CTID), host_run(["pct", "config", str(config.CTID)]).stdout
    finally:
        states.reset()
    assert audit.rc == 1, audit.explain()
    assert audit.failed == computed_failing("ct_locked_backup"), audit.explain()
    for check in audit.failed:
        assert "CT 955 is locked (backup)" in audit.checks[check].message, audit.explain()
    assert fix.rc == 1, fix.explain()
    assert "--fix changed nothing on any host" in fix.output, fix.explain()
    refusal = r"not remediable.*\n.*CT 955 is locked \(backup\).*nothing changed"
    assert re.search(refusal, fix.output), fix.explain()
    assert after[0] == "FROZEN"
    assert "lock: backup" in after[1]
    assert container.state(config.CTID) == "RUNNING"
    assert "lock:" not in host_run(["pct", "config", str(config.CTID)]).stdout


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("site_shadowed", "site_served"),
        ("nginx_conf_no_sites", "site_served"),
        ("nginx_conf_conf_only", "site_served"),
    ],
)
def test_site_nginx_does_not_serve_is_refused_up_front_naming_the_cause(fault, check, tmp_path):
    """When nginx serves another file's block for our name, or reads no sites-enabled file, the
    fix names the cause in one line and changes nothing (no rewrite of a compliant site, no
    reload, no wait)."""
    states.apply_fault(fault)
    before = snapshot.snapshot()
    site = site_for(config.CTID)
    text = site.file.read_text()
    run = run_suite("--fix", tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    assert run.failed == computed_failing(fault), run.explain()
    message = run.checks[check].message
    refusal = message.partition("refused before any change: ")[2].splitlines()
    assert refusal, message
    assert FAULTS[fault].phrase in refusal[0], message
    assert "not verified" not in run.output
    assert site.file.read_text() == text
    assert snapshot.snapshot() == before


def test_failed_step_carries_the_os_reason(tmp_path):
    """An immutable unit file (`chattr +i`): the fix fails at the write and says why in one
    line (the OS's `Operation not permitted`), in the report and the JUnit message."""
    states.apply_fault("unit_immutable")
    before = snapshot.snapshot()
    run = run_suite("--fix", tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    message = run.checks["unit_settings"].message
    reason = next(ln for ln in message.splitlines() if "could not write" in ln)
    assert "/etc/systemd/system/ollama.service" in reason
    assert "Operation not permitted" in reason, message
    assert "nothing was changed, the service left as it was" in reason
    assert snapshot.snapshot() == before


OPERATOR_LINES = {
    "site_operator_acl": FAULT_LINES.OPERATOR_ACL,
    "site_operator_tls": FAULT_LINES.OPERATOR_TLS + FAULT_LINES.OPERATOR_TIMEOUTS,
}


@pytest.mark.parametrize("fault", sorted(OPERATOR_LINES))
def test_operators_lines_are_kept_through_a_converge(fault, tmp_path):
    """An operator's access control or TLS/timeout lines around a stale upstream: the dry
    run's diff is the proxy_pass line alone; --fix converges, every operator line is still
    there byte for byte, and the audit right after is green."""
    states.apply_fault(fault)
    site = site_for(config.CTID)
    before = site.file.read_text()
    dry = run_suite("--fix", "--dry-run", tmp_path=tmp_path / "dry")
    lines = dry.output.splitlines()
    changed = list(dict.fromkeys(ln for ln in lines if re.match(r"[+-]( {2}|server|\}|#)", ln)))
    upstream = f"        proxy_pass http://{container.ct_ip(config.CTID)}"
    comment = "; # Replace with LXC 955's IP address"
    assert changed == [
        f"-{upstream}:{FAULT_LINES.STALE_PORT}{comment}",
        f"+{upstream}:11434{comment}",
    ], dry.explain()
    assert site.file.read_text() == before
    fix = run_suite("--fix", tmp_path=tmp_path / "fix")
    assert fix.rc == 0, fix.explain()
    after = site.file.read_text()
    for line in OPERATOR_LINES[fault].splitlines():
        assert line + "\n" in after, line
    assert after == before.replace(f":{FAULT_LINES.STALE_PORT};", ":11434;")
    audit = run_suite(tmp_path=tmp_path / "audit")
    assert audit.rc == 0, audit.explain()
    assert audit.with_status("passed") == set(CHECKS), audit.explain()


def test_full_filesystem_fails_with_the_os_reason_and_leaves_nothing(tmp_path):
    """The site's filesystem is full: --fix fails at the write naming the OS's reason, leaves
    no temp file beside the site, and changes nothing (site, link, nginx, the CT)."""
    states.apply_fault("site_fs_full")
    try:
        before = snapshot.snapshot()
        run = run_suite("--fix", tmp_path=tmp_path)
        left = sorted(p.name for p in config.SITES_AVAILABLE.glob(".*compliance-tmp*"))
        after = snapshot.snapshot()
    finally:
        states.reset()
    assert run.rc == 1, run.explain()
    message = run.checks["site_file"].message
    reason = next(ln for ln in message.splitlines() if "could not write" in ln)
    assert "No space left on device" in reason, message
    assert "I/O error" not in message
    assert left == []
    assert after == before
    assert "Traceback" not in run.output


REJECTED = {  # a fault's lines nginx rejects, as the fault writes them into our site
    "site_syntax_error": ["    lab_invalid_directive on;"],
    "site_block_error": [
        "    lab_invalid_block",
        "        on {",
        "        lab_inner on;",
        "    }",
    ],
}


@pytest.mark.parametrize("fault", REJECTED)
def test_what_nginx_rejects_in_our_site_is_disabled_and_its_text_kept(fault, tmp_path):
    """An operator's directive in our site that nginx -t rejects (one line, or a block over
    several) serves nobody (nginx keeps its old config): --fix comments out every line of it
    under nginx's reason, keeps every other line, and the audit after is green."""
    states.apply_fault(fault)
    site = site_for(config.CTID)
    before = site.file.read_text()
    fix = run_suite("--fix", tmp_path=tmp_path / "fix")
    assert fix.rc == 0, fix.explain()
    after = site.file.read_text()
    assert "# disabled by ollama-lxc-compliance --fix, nginx -t: unknown directive" in after
    for line in REJECTED[fault]:
        indent = line[: len(line) - len(line.lstrip())]
        assert f"{indent}# {line.lstrip()}\n" in after, after
    kept = before.replace("".join(f"{line}\n" for line in REJECTED[fault]), "")
    assert [ln for ln in after.splitlines() if not ln.lstrip().startswith("#")] == [
        ln for ln in kept.splitlines() if not ln.lstrip().startswith("#")
    ]
    audit = run_suite(tmp_path=tmp_path / "audit")
    assert audit.rc == 0, audit.explain()

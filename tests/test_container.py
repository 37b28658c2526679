"""Plan section 6.1: inside the container (PATH, systemd unit, journal, listener, direct API)."""

from __future__ import annotations

import re

import pytest

from compliance import parsers, service_health
from compliance.probes import BINARY, PROFILE_SCRIPT

PLAN_EXEC = f"{BINARY} serve"
CRASH_WINDOW_S = 30


@pytest.mark.fix("profile_d")
def test_ct_profile_script(ct):
    """/etc/profile.d/ollama.sh exists, root-owned, not group/world-writable, adds the bin dir."""
    fact = ct.fact("profile")
    ct.require(fact.ok, f"{PROFILE_SCRIPT} exists", "it does not exist")
    head, _, content = fact.output.partition("\n")
    owner, mode, *_kind = head.split(" ")
    ct.require(owner.startswith("root:"), "owned by root", f"owner {owner}")
    ct.require(int(mode, 8) & 0o022 == 0, "not group/world-writable", f"mode {mode}")
    exports = re.findall(r"^\s*export\s+PATH=(.*)$", content, re.M)
    ct.require(
        any("/usr/local/bin" in line for line in exports),
        'an `export PATH="$PATH:/usr/local/bin"` line',
        f"PATH exports: {exports or 'none'}",
    )


@pytest.mark.fix("profile_d")
def test_ct_login_path(ct):
    """A fresh login shell (`env -i bash -lc`) has /usr/local/bin on its PATH."""
    fact = ct.fact("login_path")
    path = fact.output.strip()
    ct.require(fact.ok, "a login shell starts", f"exit {fact.rc}")
    ct.require("/usr/local/bin" in path.split(":"), "/usr/local/bin on the login PATH", path)


@pytest.mark.fix("profile_d")
def test_ct_which_ollama(ct):
    """In a login shell `command -v ollama` is /usr/local/bin/ollama, an executable file."""
    fact = ct.fact("login_which")
    found, *rest = fact.output.splitlines() or [""]
    if found != BINARY or "executable" not in rest:
        binary = ct.fact("binary")
        ct.fail(
            f"{BINARY}, executable", found or "ollama not found on the login PATH", fact, binary
        )


@pytest.mark.fix("systemd_unit")
def test_ct_unit_settings(ct):
    """The effective unit (drop-ins included) has the plan's command, host, restart and user."""
    props = service_health.unit_properties(ct)
    path, argv = parsers.exec_start_path(props.get("ExecStart", ""))
    env = parsers.environment(props.get("Environment", ""))
    bind = parsers.ollama_host(env.get("OLLAMA_HOST", ""))
    wrong = []
    if argv != PLAN_EXEC:
        wrong.append(f"ExecStart={argv or path or '(none)'} (want {PLAN_EXEC})")
    if not (bind.all_interfaces and bind.port == parsers.OLLAMA_PORT):
        wrong.append(f"OLLAMA_HOST={env.get('OLLAMA_HOST', '(unset)')} (want 0.0.0.0:11434)")
    if props.get("Restart") != "always":
        wrong.append(f"Restart={props.get('Restart')} (want always)")
    if parsers.timespan_seconds(props.get("RestartUSec", "")) != 3.0:
        wrong.append(f"RestartSec={props.get('RestartUSec')} (want 3s)")
    for key in ("User", "Group"):
        if props.get(key) != "root":
            wrong.append(f"{key}={props.get(key) or '(unset)'} (want root)")
    if props.get("NeedDaemonReload") != "no":
        wrong.append("NeedDaemonReload=yes: the unit changed on disk, systemd runs the old one")
    running = ct.fact("main_env")
    live = dict(line.split("=", 1) for line in running.output.splitlines() if "=" in line)
    if running.ok and "OLLAMA_HOST" in live and live["OLLAMA_HOST"] != env.get("OLLAMA_HOST"):
        wrong.append(f"the running process has OLLAMA_HOST={live['OLLAMA_HOST']}")
    if props.get("DropInPaths"):
        ct.note(f"drop-ins in effect: {props['DropInPaths']}")
    ct.require(not wrong, "the plan's [Service] settings in effect", "; ".join(wrong))


@pytest.mark.fix("systemd_unit")
def test_ct_unit_enabled(ct):
    """`systemctl is-enabled ollama` is `enabled` (starts at boot)."""
    fact = ct.fact("unit_enabled")
    state = fact.output.strip() or "(no answer)"
    ct.require(state == "enabled", "enabled", state)


@pytest.mark.fix("systemd_unit")
def test_ct_unit_active(ct):
    """ollama.service is active (running) and not crash-looping."""
    props = service_health.require_running(ct)
    restarts = int(props.get("NRestarts", "0") or 0)
    started = props.get("ExecMainStartTimestamp", "").lstrip("@")
    now = props.get("Now", "").lstrip("@")
    if restarts and started.isdigit() and now.isdigit():
        age = int(now) - int(started)
        ct.require(
            age >= CRASH_WINDOW_S,
            f"no crash loop (no automatic restart in the last {CRASH_WINDOW_S} s)",
            f"restarted {restarts} times by Restart=, last start {age}s ago",
        )


@pytest.mark.fix("systemd_unit")
def test_ct_journal_clean(ct):
    """Since the last start the journal has `Listening on` and no bind/panic/permission error."""
    service_health.require_clean_journal(ct)


@pytest.mark.fix("systemd_unit")
def test_ct_listener(ct):
    """11434 listens on all interfaces (0.0.0.0, * or [::]), owned by the unit's MainPID."""
    service_health.require_wide_listener(ct)


@pytest.mark.fix("systemd_unit")
def test_ct_direct_api(ct):
    """GET 127.0.0.1:11434/api/tags in the CT is 200 JSON with a well-formed `models` list."""
    service_health.require_tags(ct)

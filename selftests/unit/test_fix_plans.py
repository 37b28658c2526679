"""The fix planners as tables: facts in -> the plan's diffs and commands out.

`Fix.plan(ctx)` reads only `ctx.subject()` (and the container's site / the fleet's settings):
here the subject is static (`factsets`), and both remotes refuse every command, so a planner
that ran anything would fail. The plan's `apply` is not run (it needs a host), except to show
that it goes to the right remote and nowhere before.
"""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace
from typing import Any

import pytest

from compliance import checks, observed, parsers, probes
from compliance.observed import FileState, LinkState
from compliance.parsers import HttpReply, Listener, NginxTest
from compliance.verdict import DEFAULTS, Subject
from remediation import fix_firewall
from remediation.base import (
    NOT_REMEDIABLE,
    PLANNED,
    UNCHANGED,
    Context,
    NotRemediable,
    Plan,
    unified_diff,
)
from remediation.fix_ct import CtStart
from remediation.fix_nginx import NginxSite
from remediation.fix_profile import ProfileD
from remediation.fix_unit import SystemdUnit
from remediation.registry import FIXES
from selftests.unit import factsets, samples
from selftests.unit.factsets import (
    CT_IP,
    HOST,
    MISSING_SITE,
    NOW,
    PROFILE_TEXT,
    SITE,
    SITE_TEXT,
    UNIT_TEXT,
    nginx_state,
    profile,
    site_state,
    site_text,
    subject,
    unit,
)

SITE_FILE, SITE_LINK = SITE.site_file, SITE.site_link
UNIT_PATH, PROFILE_SCRIPT = probes.UNIT_PATH, probes.PROFILE_SCRIPT
DROPIN = "/etc/systemd/system/ollama.service.d/override.conf"


class RemoteTouched(AssertionError):
    """A planner (or a test) reached a remote: plan() must run no command."""


class NoRemote:
    """A Remote stand-in that refuses every operation (and has run nothing)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.steps: list[Any] = []

    def _refuse(self, operation: str, *args: Any) -> Any:
        raise RemoteTouched(f"{self.where}: {operation} {' '.join(map(str, args))}".strip())

    def run(self, command: str, *args: str, label: str | None = None) -> Any:
        return self._refuse("run", command, *args)

    def read(self, *paths: str) -> Any:
        return self._refuse("read", *paths)

    def install(self, path: str, content: str, mode: str = "0644") -> Any:
        return self._refuse("install", path)

    def remove(self, path: str) -> Any:
        return self._refuse("remove", path)

    def link(self, path: str, target: str) -> Any:
        return self._refuse("link", path, target)

    def restore(self, path: str) -> Any:
        return self._refuse("restore", path)

    def clean_temps(self, *paths: str) -> Any:
        return self._refuse("clean_temps", *paths)


@dataclasses.dataclass
class StaticContext(Context):
    """A Context whose subject is static facts; refreshing them is an error here."""

    static: Subject | None = None

    def subject(self) -> Subject:
        assert self.static is not None
        return self.static

    def refresh(self) -> None:
        raise RemoteTouched("refresh: a planner re-reads nothing")


def context(s: Subject, transport: str = "pct", dry_run: bool = True) -> StaticContext:
    """The fix's context: stand-ins with only what the planners touch."""
    site, _ = s.container
    pve = SimpleNamespace(label="pve1", address=HOST)
    container = SimpleNamespace(ctid=site.ctid, site=site, label=f"pve1-ct{site.ctid}", pve=pve)
    fleet = SimpleNamespace(settings=SimpleNamespace(transport=transport, profile="plan"))
    return StaticContext(
        fleet,  # type: ignore[arg-type]
        container,  # type: ignore[arg-type]
        dry_run,
        NoRemote("ct"),  # type: ignore[arg-type]
        NoRemote("pve"),  # type: ignore[arg-type]
        static=s,
    )


def plan_of(fix: Any, transport: str = "pct", **changes: Any) -> Plan:
    return fix.plan(context(subject(transport=transport, **changes), transport))


def assert_plan(plan: Plan, diffs: list[str], commands: list[str]) -> None:
    assert plan.diffs == diffs
    assert plan.commands == commands
    assert (plan.apply is None) == plan.empty


# -- every fix: compliant facts plan nothing; a plan runs nothing -------------------------


@pytest.mark.parametrize("name", sorted(set(FIXES) - {"upgrade_ollama", "ct_firewall"}))
def test_compliant_facts_plan_nothing(name):
    plan = plan_of(FIXES[name])
    assert plan.empty
    assert plan.apply is None
    assert plan.rollback is None


@pytest.mark.parametrize(
    ("fix", "changes", "remote", "first"),
    [
        (CtStart(), {"ct_status_955": "stopped"}, "pve", "run pct start 955"),
        (ProfileD(), {"profile": FileState(False)}, "ct", f"clean_temps {PROFILE_SCRIPT}"),
        (SystemdUnit(), {"unit_files": {}}, "ct", f"clean_temps {UNIT_PATH}"),
        (
            NginxSite(),
            {"site_955": MISSING_SITE},
            "pve",
            f"clean_temps {SITE_FILE} {SITE_LINK}",
        ),
    ],
    ids=lambda value: getattr(value, "name", None),
)
def test_a_plan_defers_its_work_to_apply_on_its_target(fix, changes, remote, first):
    ctx = context(subject(**changes))
    plan = fix.plan(ctx)  # ran nothing: both remotes refuse
    assert not plan.empty
    assert fix.target == remote
    with pytest.raises(RemoteTouched) as touched:
        plan.apply()
    assert str(touched.value) == f"{remote}: {first}"


@pytest.mark.parametrize(
    ("fix", "changes", "status"),
    [
        (CtStart(), {}, UNCHANGED),
        (CtStart(), {"ct_status_955": "stopped"}, PLANNED),
        (CtStart(), {"ct_status_955": ""}, NOT_REMEDIABLE),
        (ProfileD(), {"profile": FileState(False)}, PLANNED),
        (SystemdUnit(), {"binary": False}, NOT_REMEDIABLE),
        (NginxSite(), {"site_link_955": LinkState("missing")}, PLANNED),
    ],
    ids=lambda value: getattr(value, "name", None),
)
def test_a_dry_run_reports_the_plan_and_runs_nothing(fix, changes, status):
    outcome = fix.run(context(subject(**changes), dry_run=True))
    assert outcome.status == status
    assert outcome.steps == []
    if status == PLANNED:
        assert all(f"would run: $ {c}" in outcome.text() for c in outcome.plan.commands)


# -- ct_start -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transport", "command"), [("pct", "pct start 955"), ("lxc-attach", "lxc-start -n 955")]
)
def test_ct_start_starts_a_stopped_ct(transport, command):
    plan = plan_of(CtStart(), transport=transport, ct_status_955="stopped")
    assert_plan(plan, [], [command])
    assert plan.rollback is None  # nothing to undo: a started CT is what every check needs


def test_ct_start_a_missing_ct_is_not_remediable():
    with pytest.raises(NotRemediable, match="CT 955 does not exist on this host"):
        plan_of(CtStart(), ct_status_955="")


# -- profile_d ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "diffs", "commands"),
    [
        pytest.param(
            {"profile": FileState(False)},
            [unified_diff(PROFILE_SCRIPT, None, PROFILE_TEXT)],
            [],
            id="missing",
        ),
        pytest.param(
            {"profile": profile('export PATH="$PATH:/opt/bin"\n')},
            [unified_diff(PROFILE_SCRIPT, 'export PATH="$PATH:/opt/bin"\n', PROFILE_TEXT)],
            [],
            id="other content",
        ),
        pytest.param(
            {"profile": profile('export PATH="$PATH:/opt/bin"\n', mode=0o666)},
            [unified_diff(PROFILE_SCRIPT, 'export PATH="$PATH:/opt/bin"\n', PROFILE_TEXT)],
            [],
            id="other content and mode: the diff alone (install sets the mode)",
        ),
        pytest.param(
            {"profile": profile(mode=0o666)},
            [],
            [f"install {PROFILE_SCRIPT} as root:root 0644 (now root:root 0666)"],
            id="world-writable, right content",
        ),
        pytest.param(
            {"profile": profile(owner="ollama:ollama")},
            [],
            [f"install {PROFILE_SCRIPT} as root:root 0644 (now ollama:ollama 0644)"],
            id="owner, right content",
        ),
        pytest.param(
            {"profile": FileState(False), "binary": False},
            [unified_diff(PROFILE_SCRIPT, None, PROFILE_TEXT)],
            [],
            id="binary missing, script missing: the script is still written",
        ),
    ],
)
def test_profile_d_plans(changes, diffs, commands):
    plan = plan_of(ProfileD(), **changes)
    assert_plan(plan, diffs, commands)
    assert plan.rollback is not None


def test_profile_d_missing_diff_is_from_dev_null():
    (diff,) = plan_of(ProfileD(), profile=FileState(False)).diffs
    assert diff.splitlines()[:2] == ["--- /dev/null", f"+++ {PROFILE_SCRIPT}"]
    assert '+export PATH="$PATH:/usr/local/bin"' in diff.splitlines()


def test_profile_d_binary_missing_is_not_remediable():
    with pytest.raises(NotRemediable, match="/usr/local/bin/ollama is missing in CT 955"):
        plan_of(ProfileD(), binary=False)


@pytest.mark.parametrize(
    ("binary", "verified_by"),
    [
        (True, ["profile_script", "login_path", "which_ollama"]),
        (False, ["profile_script", "login_path"]),
    ],
)
def test_profile_d_is_verified_by_which_ollama_only_with_a_binary(binary, verified_by):
    ctx = context(subject(binary=binary))
    assert [c.id for c in ProfileD().verifying(ctx)] == verified_by


# -- systemd_unit ---------------------------------------------------------------------------

RELOAD = "systemctl daemon-reload"
ENABLE = "systemctl enable ollama.service"
RESET = "systemctl reset-failed ollama.service  # forget the old crash loop's restarts"
LOOPBACK_DROPIN = '[Service]\nEnvironment="OLLAMA_HOST=127.0.0.1:11434"\n'
CLEARING_DROPIN = "[Service]\nExecStart=\nExecStart=/usr/local/bin/ollama serve --debug\n"
HARMLESS_DROPIN = "[Service]\nLimitNOFILE=65536\n# Restart=no\nEnvironment=OLLAMA_DEBUG=1\n"
OPERATOR_DROPIN = (
    '[Service]\nEnvironment="OLLAMA_HOST=0.0.0.0:11434"\nEnvironment="OLLAMA_MODELS=/srv/models"\n'
)
MIXED_DROPIN = (
    '[Service]\nEnvironment="OLLAMA_HOST=127.0.0.1" "OLLAMA_MODELS=/srv/m"\nUser=ollama\n'
)
MIXED_KEPT = '[Service]\nEnvironment="OLLAMA_MODELS=/srv/m"\n'
OLD_UNIT = UNIT_TEXT.replace("0.0.0.0:11434", "127.0.0.1:11434")
UNIT_MISSING_ENABLED = "Failed to get unit file state for ollama.service: No such file or directory"


def restart(reason: str = "unit changed") -> str:
    return f"systemctl restart ollama.service  # {reason}"


def started(restarts: int, seconds_ago: int) -> observed.UnitState:
    return unit(NRestarts=str(restarts), ExecMainStartTimestamp=f"@{NOW - seconds_ago}")


@pytest.mark.parametrize(
    ("changes", "diffs", "commands"),
    [
        pytest.param(
            {
                "unit_files": {},
                "unit_show": observed.unit_state_of(0, samples.UNIT_SHOW_MISSING),
                "unit_enabled": UNIT_MISSING_ENABLED,
                "main_env": None,
                "journal": observed.journal_of(1, "no invocation of the unit"),
                "listen": (),
                "direct_tags": None,
            },
            [unified_diff(UNIT_PATH, None, UNIT_TEXT)],
            [
                RELOAD,
                ENABLE,
                restart(
                    "unit_active: expected ollama.service is installed (LoadState=loaded), "
                    "found LoadState=not-found"
                ),
            ],
            id="unit missing (manual setup)",
        ),
        pytest.param(
            {"unit_files": {}},
            [unified_diff(UNIT_PATH, None, UNIT_TEXT)],
            [RELOAD, restart()],
            id="unit file missing only",
        ),
        pytest.param(
            {"unit_files": {UNIT_PATH: OLD_UNIT}},
            [unified_diff(UNIT_PATH, OLD_UNIT, UNIT_TEXT)],
            [RELOAD, restart()],
            id="unit differs",
        ),
        pytest.param(
            {"unit_files": {UNIT_PATH: UNIT_TEXT, DROPIN: LOOPBACK_DROPIN}},
            [unified_diff(DROPIN, LOOPBACK_DROPIN, "[Service]\n")],
            [RELOAD, restart()],
            id="the overriding setting removed from its drop-in",
        ),
        pytest.param(
            {
                "unit_files": {
                    UNIT_PATH: UNIT_TEXT,
                    "/etc/systemd/system/ollama.service.d/limits.conf": HARMLESS_DROPIN,
                    "/run/systemd/system/ollama.service.d/50-exec.conf": CLEARING_DROPIN,
                }
            },
            [
                unified_diff(
                    "/run/systemd/system/ollama.service.d/50-exec.conf",
                    CLEARING_DROPIN,
                    "[Service]\n",
                )
            ],
            [RELOAD, restart()],
            id="only the overriding drop-in edited",
        ),
        pytest.param(
            {"unit_files": {UNIT_PATH: OLD_UNIT, DROPIN: LOOPBACK_DROPIN}},
            [
                unified_diff(UNIT_PATH, OLD_UNIT, UNIT_TEXT),
                unified_diff(DROPIN, LOOPBACK_DROPIN, "[Service]\n"),
            ],
            [RELOAD, restart()],
            id="unit and drop-in",
        ),
        pytest.param(
            {"unit_show": unit(NeedDaemonReload="yes")},
            [],
            [RELOAD, restart()],
            id="NeedDaemonReload only",
        ),
        pytest.param(
            {"unit_enabled": "disabled"}, [], [ENABLE], id="disabled only: enable, no restart"
        ),
        pytest.param(
            {"unit_show": unit(ActiveState="inactive", SubState="dead", MainPID="0")},
            [],
            [restart("unit_active: expected active (running), found inactive (dead)")],
            id="unhealthy: stopped",
        ),
        pytest.param(
            {"journal": observed.journal_of(0, samples.JOURNAL_OK + samples.JOURNAL_PANIC)},
            [],
            [
                restart(
                    "journal_clean: expected no bind/panic/permission errors, "
                    "found 1 error lines, first: panic: $HOME is not defined"
                )
            ],
            id="unhealthy: journal",
        ),
        pytest.param(
            {"listen": (Listener("127.0.0.1", 11434, (2231,)),)},
            [],
            [
                restart(
                    "listener: expected 11434 on all interfaces (0.0.0.0, * or [::]), "
                    "found 127.0.0.1:11434"
                )
            ],
            id="unhealthy: listener",
        ),
        pytest.param(
            {"direct_tags": None},
            [],
            [restart("direct_api: expected 200 JSON {models: [...]}, found no HTTP reply")],
            id="unhealthy: hung",
        ),
        pytest.param(
            {"direct_tags": HttpReply(500, "application/json", "{}")},
            [],
            [
                restart(
                    "direct_api: expected 200 JSON {models: [...]}, found status 500, "
                    'expected 200; no "models" list in the body'
                )
            ],
            id="unhealthy: 500",
        ),
        pytest.param(
            {"unit_show": started(3, 5)},
            [],
            [
                restart(
                    "unit_active: expected no crash loop (no automatic restart in the last 30 s), "
                    "found restarted 3 times by Restart=, last start 5s ago"
                ),
                RESET,
            ],
            id="crash loop: reset-failed after the restart",
        ),
        pytest.param(
            {"unit_show": observed.unit_state_of(0, samples.UNIT_SHOW_STALE)},
            [],
            [
                RELOAD,
                restart("unit_active: expected active (running), found activating (auto-restart)"),
                RESET,
            ],
            id="auto-restart, not reloaded",
        ),
        pytest.param(
            {"unit_show": unit(NeedDaemonReload="yes", NRestarts="2")},
            [],
            [RELOAD, restart(), RESET],
            id="old restarts, reload: reset-failed",
        ),
        pytest.param(
            {"unit_show": started(3, 40)}, [], [], id="old restarts, healthy: nothing to do"
        ),
        pytest.param(
            {"unit_show": started(3, 40), "unit_enabled": "disabled"},
            [],
            [ENABLE],
            id="old restarts, disabled: enable only, no reset-failed",
        ),
        pytest.param(
            {"unit_files": {UNIT_PATH: UNIT_TEXT, DROPIN: HARMLESS_DROPIN}},
            [],
            [],
            id="harmless drop-in kept",
        ),
        pytest.param(
            {"unit_files": {UNIT_PATH: UNIT_TEXT, DROPIN: OPERATOR_DROPIN}},
            [],
            [],
            id="systemctl-edit drop-in agreeing with the plan kept",
        ),
        pytest.param(
            {
                "unit_files": {UNIT_PATH: UNIT_TEXT, DROPIN: OPERATOR_DROPIN},
                "unit_enabled": "disabled",
            },
            [],
            [ENABLE],
            id="disabled with the operator's drop-in: enable only",
        ),
        pytest.param(
            {"unit_files": {UNIT_PATH: UNIT_TEXT, DROPIN: MIXED_DROPIN}},
            [unified_diff(DROPIN, MIXED_DROPIN, MIXED_KEPT)],
            [RELOAD, restart()],
            id="only the contradicting assignment leaves a mixed drop-in",
        ),
        pytest.param(
            {"unit_files": {UNIT_PATH: FileState(True, "root:root", 0o666, UNIT_TEXT)}},
            [],
            [f"install {UNIT_PATH} as root:root 0644", RELOAD, restart()],
            id="world-writable unit reinstalled",
        ),
        pytest.param(
            {
                "unit_files": {
                    UNIT_PATH: UNIT_TEXT,
                    DROPIN: FileState(True, "ollama:ollama", 0o644, HARMLESS_DROPIN),
                }
            },
            [],
            [f"install {DROPIN} as root:root 0644", RELOAD, restart()],
            id="drop-in owned by another user reinstalled as root",
        ),
    ],
)
def test_systemd_unit_plans(changes, diffs, commands):
    plan = plan_of(SystemdUnit(), **changes)
    assert_plan(plan, diffs, commands)
    assert (plan.rollback is None) == plan.empty
    assert plan.settle_s == 20.0


def test_systemd_unit_diffs_read_as_create_and_remove():
    (create,) = plan_of(SystemdUnit(), unit_files={}).diffs
    assert create.splitlines()[:2] == ["--- /dev/null", f"+++ {UNIT_PATH}"]
    assert "+ExecStart=/usr/local/bin/ollama serve" in create.splitlines()
    files = {UNIT_PATH: UNIT_TEXT, DROPIN: LOOPBACK_DROPIN}
    (edit,) = plan_of(SystemdUnit(), unit_files=files).diffs
    assert edit.splitlines()[:2] == [f"--- {DROPIN}", f"+++ {DROPIN}"]
    assert '-Environment="OLLAMA_HOST=127.0.0.1:11434"' in edit.splitlines()


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        pytest.param(
            {"unit_show": unit(LoadState="masked", FragmentPath="/dev/null")},
            "ollama.service is masked",
            id="masked",
        ),
        pytest.param(
            {"unit_show": unit(FragmentPath="/run/systemd/transient/ollama.service")},
            "systemd reads ollama.service from /run/systemd/transient/ollama.service",
            id="shadowing unit",
        ),
        pytest.param(
            {
                "unit_files": {
                    UNIT_PATH: UNIT_TEXT,
                    "/usr/lib/systemd/system/ollama.service.d/10-vendor.conf": LOOPBACK_DROPIN,
                }
            },
            "/usr/lib/systemd/system/ollama.service.d/10-vendor.conf (vendor files",
            id="vendor drop-in overrides",
        ),
    ],
)
def test_systemd_unit_refuses_what_it_cannot_own(changes, why):
    with pytest.raises(NotRemediable, match=re.escape(why)):
        plan_of(SystemdUnit(), **changes)


def test_systemd_unit_vendor_fragment_is_overridden_by_ours():
    plan = plan_of(SystemdUnit(), unit_show=unit(FragmentPath="/lib/systemd/system/ollama.service"))
    assert plan.empty


@pytest.mark.parametrize(
    "changes", [{"binary": False}, {"binary": False, "unit_files": {}}], ids=["unit ok", "no unit"]
)
def test_systemd_unit_binary_missing_is_not_remediable(changes):
    with pytest.raises(NotRemediable, match="install Ollama first"):
        plan_of(SystemdUnit(), **changes)


# -- nginx_site -----------------------------------------------------------------------------

LINK = f"ln -sfn {SITE_FILE} {SITE_LINK}"
TEST = "nginx -t"
WRONG_IP_TEXT = site_text(f"http://{CT_IP}:11434", "http://10.0.3.99:11434")
BROKEN_TEXT = site_text("listen 80;", "listen 80")
NGINX_EMERG_OURS = parsers.nginx_test(1, samples.NGINX_T_SERVER_IN_SITE)
NGINX_EMERG_OTHER = parsers.nginx_test(1, samples.NGINX_T_BOGUS)
SITE_WITH_IP = dataclasses.replace(SITE, ct_ip="10.0.3.99")
SITE_NAMED = dataclasses.replace(SITE, server_name="ollama.lan")


@pytest.mark.parametrize(
    ("changes", "diffs", "commands"),
    [
        pytest.param(
            {"site_955": MISSING_SITE},
            [unified_diff(SITE_FILE, None, SITE_TEXT)],
            [TEST, "nginx -s reload"],
            id="site missing",
        ),
        pytest.param(
            {"site_955": MISSING_SITE, "site_link_955": LinkState("missing")},
            [unified_diff(SITE_FILE, None, SITE_TEXT)],
            [LINK, TEST, "nginx -s reload"],
            id="site and link missing (manual setup)",
        ),
        pytest.param(
            {"site_955": site_state(WRONG_IP_TEXT)},
            [unified_diff(SITE_FILE, WRONG_IP_TEXT, SITE_TEXT)],
            [TEST, "nginx -s reload"],
            id="wrong IP",
        ),
        pytest.param(
            {"site_955": site_state(BROKEN_TEXT), "nginx_t": NGINX_EMERG_OURS},
            [unified_diff(SITE_FILE, BROKEN_TEXT, SITE_TEXT)],
            [TEST, "nginx -s reload"],
            id="nginx -t fails in our site",
        ),
        pytest.param(
            {"site_link_955": LinkState("missing")},
            [],
            [LINK, TEST, "nginx -s reload"],
            id="link missing",
        ),
        pytest.param(
            {"site_link_955": LinkState("link", SITE_FILE, dangling=True)},
            [],
            [LINK, TEST, "nginx -s reload"],
            id="dangling link",
        ),
        pytest.param(
            {"site_link_955": LinkState("link", "/etc/nginx/sites-available/ollama_proxy")},
            [],
            [LINK, TEST, "nginx -s reload"],
            id="link to a wrong file",
        ),
        pytest.param(
            {"site_link_955": LinkState("not-a-link")},
            [],
            [LINK, TEST, "nginx -s reload"],
            id="a copy instead of a link",
        ),
        pytest.param(
            {"site_955": site_state(mode=0o666)},
            [],
            [
                f"install {SITE_FILE} as root:root 0644 (now root:root 0666)",
                TEST,
                "nginx -s reload",
            ],
            id="world-writable, right content",
        ),
        pytest.param(
            {"nginx_state": nginx_state(running=False)},
            [],
            [TEST, "nginx"],
            id="nginx stopped",
        ),
        pytest.param(
            {"nginx_state": nginx_state(running=False), "init": "systemd"},
            [],
            [TEST, "systemctl start nginx"],
            id="nginx stopped, systemd host",
        ),
        pytest.param(
            {"nginx_state": nginx_state(changed={SITE_FILE: 1200.0})},
            [],
            [TEST, "nginx -s reload"],
            id="stale: reload",
        ),
        pytest.param(
            {"nginx_state": nginx_state(changed={SITE_FILE: 1200.0}), "init": "systemd"},
            [],
            [TEST, "systemctl reload nginx"],
            id="stale, systemd host",
        ),
        pytest.param(
            {"site_955": MISSING_SITE, "init": "systemd"},
            [unified_diff(SITE_FILE, None, SITE_TEXT)],
            [TEST, "systemctl reload nginx"],
            id="site missing, systemd host",
        ),
        pytest.param(
            {"nginx_t": NGINX_EMERG_OURS},
            [],
            [TEST, "nginx -s reload"],
            id="nginx -t blames our site, files right",
        ),
        pytest.param(
            {"nginx_state": nginx_state(changed={SITE_FILE: 1000.04})},
            [],
            [],
            id="changed within the clock's resolution: nothing",
        ),
    ],
)
def test_nginx_site_plans(changes, diffs, commands):
    plan = plan_of(NginxSite(), **changes)
    assert_plan(plan, diffs, commands)
    assert (plan.rollback is None) == plan.empty
    assert plan.settle_s == 10.0


@pytest.mark.parametrize(
    ("site", "old", "new"),
    [
        pytest.param(
            SITE_WITH_IP,
            f"proxy_pass http://{CT_IP}:11434",
            "proxy_pass http://10.0.3.99:11434",
            id="ct_ip setting",
        ),
        pytest.param(
            SITE_NAMED, f"server_name {HOST};", "server_name ollama.lan;", id="server_name setting"
        ),
    ],
)
def test_nginx_site_renders_the_settings(site, old, new):
    plan = NginxSite().plan(context(subject(site=site)))
    (diff,) = plan.diffs
    lines = diff.splitlines()
    assert any(line.startswith("-") and old in line for line in lines)
    assert any(line.startswith("+") and new in line for line in lines)


def test_nginx_site_missing_diff_is_from_dev_null():
    (diff,) = plan_of(NginxSite(), site_955=MISSING_SITE).diffs
    assert diff.splitlines()[:2] == ["--- /dev/null", f"+++ {SITE_FILE}"]
    assert f"+        proxy_pass http://{CT_IP}:11434; # Replace with LXC 955's IP address" in (
        diff.splitlines()
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"addresses": ()},
            "the CT's IP is unknown (no IPv4 address found in the CT); nothing was changed",
            id="CT IP unknown",
        ),
        pytest.param(
            {"nginx_t": NGINX_EMERG_OTHER},
            "nginx -t already fails in /etc/nginx/sites-enabled/zz (not our site): "
            'nginx: [emerg] unknown directive "bogus" in /etc/nginx/sites-enabled/zz:3. '
            "Fix that file first; nothing was changed, nginx not reloaded",
            id="nginx -t fails in a file not ours",
        ),
        pytest.param(
            {"nginx_t": NGINX_EMERG_OTHER, "site_955": MISSING_SITE},
            "nginx -t already fails in /etc/nginx/sites-enabled/zz (not our site)",
            id="not ours wins over our own changes",
        ),
        pytest.param(
            {"nginx_t": NginxTest(False, "", "", ())},
            "nginx -t already fails in the config (not our site)",
            id="nginx -t fails naming no file",
        ),
    ],
)
def test_nginx_site_not_remediable(changes, message):
    with pytest.raises(NotRemediable) as refused:
        plan_of(NginxSite(), **changes)
    assert message in str(refused.value)


def test_nginx_site_refuses_a_server_name_it_cannot_render():
    ctx = context(subject(host_address="fe80::1%eth0"))
    refused = "refused before any change: <PROXMOX_HOST_IP_OR_DOMAIN>: 'fe80::1%eth0'"
    with pytest.raises(NotRemediable, match=re.escape(refused)):
        NginxSite().plan(ctx)


def test_the_files_the_fixes_write_pass_the_checks_that_read_them():
    """What profile_d and nginx_site write (the plan's templates, filled in) is compliant."""
    written = {
        "profile": profile(_added(plan_of(ProfileD(), profile=FileState(False)))),
        "site_955": site_state(_added(plan_of(NginxSite(), site_955=MISSING_SITE))),
    }
    s = subject(**written)
    assert checks.profile_script(s).ok
    assert checks.site_file(s).ok


def _added(plan: Plan) -> str:
    """The content a create-diff (from /dev/null) writes."""
    (diff,) = plan.diffs
    lines = diff.splitlines()[3:]  # ---, +++, @@
    assert all(line.startswith("+") for line in lines)
    return "".join(line[1:] + "\n" for line in lines)


def test_systemd_unit_keeps_the_models_it_served():
    """After a restart the same models must be served; a lost one is named with the remedy."""
    ctx = context(subject(unit_files={}))
    plan = SystemdUnit().plan(ctx)
    assert plan.keeps is not None
    assert plan.keeps() is None  # the same facts: nothing lost
    ctx.static = subject(direct_tags=factsets.tags(samples.QWEN))
    lost = plan.keeps()
    assert lost is not None
    assert "no longer serves 1 model(s): llama3.2:1b" in lost
    assert "OLLAMA_MODELS" in lost


def test_systemd_unit_without_a_restart_keeps_nothing_to_check():
    plan = plan_of(SystemdUnit(), unit_enabled="disabled")
    assert plan.keeps is not None
    assert plan.keeps() is None


def test_upgrade_ollama_never_plans_and_says_how():
    with pytest.raises(NotRemediable, match="upgrade Ollama in CT 955"):
        plan_of(FIXES["upgrade_ollama"])


def test_ct_onboot_plans_pct_set_only_when_off():
    assert plan_of(FIXES["ct_onboot"]).empty  # PCT_CONFIG has onboot: 1
    off = observed.ct_config_of(0, samples.PCT_CONFIG.replace("onboot: 1\n", ""))
    plan = plan_of(FIXES["ct_onboot"], ct_config_955=off)
    assert plan.commands == ["pct set 955 -onboot 1"]
    with pytest.raises(NotRemediable, match=r"lxc\.start\.auto"):
        plan_of(FIXES["ct_onboot"], transport="lxc-attach", ct_config_955=off)


def test_nginx_site_renders_the_hardening_when_hardened():
    s = dataclasses.replace(
        subject(site_955=factsets.site_state(factsets.SITE_TEXT)),
        settings=dataclasses.replace(DEFAULTS, profile="hardened"),
    )
    plan = FIXES["nginx_site"].plan(context(s))
    (diff,) = plan.diffs
    assert "+        proxy_buffering off;" in diff.splitlines()
    assert "-" + "        proxy_pass" not in diff  # the plan's lines stay: only added to


# -- ct_firewall (hardened) ------------------------------------------------------------------

GUARD_UNIT_TEXT = fix_firewall.UNIT


def firewall_plan(**changes: Any) -> Plan:
    table = factsets.with_hardened(**changes)
    table.values["guard"] = changes.get(
        "guard",
        observed.GuardState(
            {
                fix_firewall.RULES_PATH: factsets.GUARD_RULES,
                fix_firewall.UNIT_PATH: GUARD_UNIT_TEXT,
            },
            nft=True,
            loaded=True,
        ),
    )
    return FIXES["ct_firewall"].plan(context(subject(table)))


def test_ct_firewall_in_place_plans_nothing():
    assert firewall_plan().empty


def test_ct_firewall_missing_writes_rules_and_unit_then_loads_them():
    plan = firewall_plan(guard=observed.GuardState({}, nft=True, loaded=False))
    assert [d.splitlines()[1] for d in plan.diffs] == [
        f"+++ {fix_firewall.RULES_PATH}",
        f"+++ {fix_firewall.UNIT_PATH}",
    ]
    assert "tcp dport 11434 ip saddr 10.0.3.1 accept" in plan.diffs[0]
    assert plan.commands[0] == f"nft -c -f {fix_firewall.RULES_PATH}"
    assert plan.commands[-1] == "systemctl restart ollama-guard.service"


def test_ct_firewall_files_in_place_but_not_loaded_only_reloads():
    files = {fix_firewall.RULES_PATH: factsets.GUARD_RULES, fix_firewall.UNIT_PATH: GUARD_UNIT_TEXT}
    plan = firewall_plan(guard=observed.GuardState(files, nft=True, loaded=False))
    assert plan.diffs == []
    assert "systemctl restart ollama-guard.service" in plan.commands


def test_ct_firewall_without_nft_is_not_remediable():
    with pytest.raises(NotRemediable, match="install nftables"):
        firewall_plan(guard=observed.GuardState({}, nft=False, loaded=False))


def test_ct_firewall_without_the_hosts_address_is_not_remediable():
    with pytest.raises(NotRemediable, match="host's address on the CT's network is unknown"):
        firewall_plan(addresses=(("eth0", "192.168.77.5"),), ct_config_955={})

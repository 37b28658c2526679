"""The fix planners as tables: facts in -> the plan's diffs and commands out.

`Fix.plan(ctx)` reads only `ctx.subject()` (and the container's site / the fleet's settings):
here the subject is static (`factsets`, keyed by fact class), and both remotes refuse every
command, so a planner that ran anything would fail. The plan's `apply` is not run for real (it
needs a host): it is shown to go to the right remote and nowhere before, and its order of steps
(and a rollback's) is shown on a remote that records what it is asked and answers as scripted.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import pytest

from compliance import catalogue, plan
from compliance.catalogue.verdict import Subject, Verdict
from compliance.facts.files import FileState
from compliance.facts.firewall import Guard
from compliance.facts.http import DirectTags, HttpReply
from compliance.facts.net import CtAddresses, Listener, Listeners
from compliance.facts.nginx import NginxLoaded, NginxState, NginxTest, SiteConfig, SiteLink
from compliance.facts.proxmox import (
    CtStatus,
    HostInit,
    PctConfig,
    PveFirewall,
    PveFirewallService,
)
from compliance.facts.shell import Binary, ProfileScript
from compliance.facts.systemd import (
    Journal,
    MainProcessEnv,
    UnitEnabled,
    UnitFiles,
    UnitState,
)
from compliance.settings import Settings
from compliance.syntax import nginx
from remediation import fix_ct, fix_firewall, fix_nginx, fix_unit
from remediation.base import (
    CHANGED,
    FAILED,
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
from remediation.fix_unit import STAGING, SystemdUnit
from remediation.registry import FIXES
from remediation.remote import Step
from selftests.unit import factsets, fault_facts, samples
from selftests.unit.factsets import (
    CT_IP,
    DEFAULT_LINK,
    DEFAULT_SITE,
    HARDENED_SETTINGS,
    HOST,
    LINK_MISSING,
    MISSING_PROFILE,
    MISSING_SITE,
    NGINX_CONF,
    NOW,
    PROFILE_TEXT,
    SETTINGS,
    SITE,
    SITE_TEXT,
    UNIT_TEXT,
    StaticFacts,
    default_settings,
    link_state,
    loaded,
    nginx_state,
    profile,
    site_state,
    site_text,
    unit,
    with_,
)

SITE_FILE, SITE_LINK = SITE.site_file, SITE.site_link
UNIT_PATH, PROFILE_SCRIPT = plan.UNIT_PATH, plan.PROFILE_SCRIPT
DROPIN = "/etc/systemd/system/ollama.service.d/override.conf"
LXC_SETTINGS = default_settings(ct_transport="lxc-attach")


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


class Recorder:
    """A Remote stand-in that records every operation as one line and answers rc 0, except
    where `answers` says otherwise ({a substring of the line: (rc, output)}); a path is only
    restored once this run changed it (as Remote.restore: None otherwise)."""

    def __init__(self, where: str, answers: Mapping[str, tuple[int, str]] | None = None) -> None:
        self.where = where
        self.answers = dict(answers or {})
        self.steps: list[Step] = []
        self.log: list[str] = []
        self.touched: set[str] = set()
        self.written: dict[str, str] = {}

    def _step(self, line: str) -> Step:
        self.log.append(line)
        rc, output = next(
            (answer for part, answer in self.answers.items() if part in line), (0, "")
        )
        step = Step(self.where, line, rc, output)
        self.steps.append(step)
        return step

    def run(self, command: str, *args: str, label: str | None = None) -> Step:
        return self._step(label or command)

    def install(self, path: str, content: str, mode: str = "0644") -> Step:
        step = self._step(f"install {path}")
        if step.rc == 0:
            self.touched.add(path)
            self.written[path] = content
        return step

    def link(self, path: str, target: str) -> Step:
        step = self._step(f"link {path} -> {target}")
        if step.rc == 0:
            self.touched.add(path)
        return step

    def restore(self, path: str) -> Step | None:
        return self._step(f"restore {path}") if path in self.touched else None

    def clean_temps(self, *paths: str) -> None:
        self.log.append(f"clean_temps {' '.join(paths)}")


class StaticFleet:
    """The fleet as a fix sees it: settings, and `judge` on the context's current facts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.view: Callable[[], Subject] | None = None

    def judge(self, check: catalogue.Check, target: Any, log: Any, live: bool = False) -> Verdict:
        assert self.view is not None
        assert live
        return factsets.judge(check, self.view())


@dataclasses.dataclass
class StaticContext(Context):
    """A Context whose subject is static facts. A planner re-reads nothing: `refresh` is an
    error, unless the test gave the fact sets later reads see (`later`: one per refresh, the
    last one staying)."""

    static: Subject | None = None
    later: list[Subject] = dataclasses.field(default_factory=list)

    def subject(self) -> Subject:
        assert self.static is not None
        return self.static

    def refresh(self) -> None:
        if not self.later:
            raise RemoteTouched("refresh: a planner re-reads nothing")
        self.static = self.later.pop(0) if len(self.later) > 1 else self.later[0]


def context(
    s: Subject, dry_run: bool = True, ct: Any = None, host: Any = None, status: str = "running"
) -> StaticContext:
    """The fix's context: stand-ins with only what the fixes touch (its settings: the
    subject's)."""
    site = s.container
    pve = SimpleNamespace(label="pve1", address=HOST)
    container = SimpleNamespace(
        ctid=site.ctid,
        site=site,
        label=f"pve1-ct{site.ctid}",
        host=pve,
        status=lambda live=False: status,
    )
    fleet = StaticFleet(s.settings)
    ctx = StaticContext(
        fleet,  # type: ignore[arg-type]
        container,  # type: ignore[arg-type]
        dry_run,
        ct or NoRemote("ct"),
        host or NoRemote("host"),
        static=s,
    )
    fleet.view = ctx.subject
    return ctx


def subject(
    changes: Mapping[Any, Any] | None = None,
    settings: Settings = SETTINGS,
    table: StaticFacts | None = None,
    **kw: Any,
) -> Subject:
    """The compliant facts (or `table`) with `changes` ({FactClass: value}), as a Subject."""
    return factsets.subject(table if table is not None else with_(changes), settings=settings, **kw)


def plan_of(fix: Any, changes: Mapping[Any, Any] | None = None, **kw: Any) -> Plan:
    return fix.plan(context(subject(changes, **kw)))


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
        (CtStart(), {CtStatus: "stopped"}, "host", "run pct start 955"),
        (ProfileD(), {ProfileScript: MISSING_PROFILE}, "ct", f"clean_temps {PROFILE_SCRIPT}"),
        (SystemdUnit(), {UnitFiles: {}}, "ct", f"clean_temps {UNIT_PATH}"),
        (NginxSite(), {SiteConfig: MISSING_SITE}, "host", f"clean_temps {SITE_FILE} {SITE_LINK}"),
    ],
    ids=lambda value: getattr(value, "name", None),
)
def test_a_plan_defers_its_work_to_apply_on_its_target(fix, changes, remote, first):
    ctx = context(subject(changes))
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
        (CtStart(), {CtStatus: "stopped"}, PLANNED),
        (CtStart(), {CtStatus: ""}, NOT_REMEDIABLE),
        (ProfileD(), {ProfileScript: MISSING_PROFILE}, PLANNED),
        (SystemdUnit(), {Binary: False}, NOT_REMEDIABLE),
        (NginxSite(), {SiteLink: LINK_MISSING}, PLANNED),
    ],
    ids=lambda value: getattr(value, "name", None),
)
def test_a_dry_run_reports_the_plan_and_runs_nothing(fix, changes, status):
    outcome = fix.run(context(subject(changes), dry_run=True))
    assert outcome.status == status
    assert outcome.steps == []
    if status == PLANNED:
        assert all(f"would run: $ {c}" in outcome.text() for c in outcome.plan.commands)


# -- ct_start -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "command"), [(SETTINGS, "pct start 955"), (LXC_SETTINGS, "lxc-start -n 955")]
)
def test_ct_start_starts_a_stopped_ct(settings, command):
    plan = plan_of(CtStart(), {CtStatus: "stopped"}, settings=settings)
    assert_plan(plan, [], [command])
    assert plan.rollback is None  # nothing to undo: a started CT is what every check needs


def test_ct_start_a_missing_ct_is_not_remediable():
    with pytest.raises(NotRemediable, match="CT 955 does not exist on this host"):
        plan_of(CtStart(), {CtStatus: ""})


# -- profile_d ------------------------------------------------------------------------------

OTHER_PROFILE = 'export PATH="$PATH:/opt/bin"\n'
SHARED_PROFILE = "/opt/shared/profile.d/ollama.sh"


@pytest.mark.parametrize(
    ("changes", "diffs", "commands"),
    [
        pytest.param(
            {ProfileScript: MISSING_PROFILE},
            [unified_diff(PROFILE_SCRIPT, None, PROFILE_TEXT)],
            [],
            id="missing",
        ),
        pytest.param(
            {ProfileScript: profile(OTHER_PROFILE)},
            [unified_diff(PROFILE_SCRIPT, OTHER_PROFILE, PROFILE_TEXT)],
            [],
            id="other content",
        ),
        pytest.param(
            {ProfileScript: profile(OTHER_PROFILE, mode=0o666)},
            [unified_diff(PROFILE_SCRIPT, OTHER_PROFILE, PROFILE_TEXT)],
            [],
            id="other content and mode: the diff alone (install sets the mode)",
        ),
        pytest.param(
            {ProfileScript: profile(mode=0o666)},
            [],
            [f"install {PROFILE_SCRIPT} as root:root 0644 (now root:root 0666)"],
            id="world-writable, right content",
        ),
        pytest.param(
            {ProfileScript: profile(owner="ollama:ollama")},
            [],
            [f"install {PROFILE_SCRIPT} as root:root 0644 (now ollama:ollama 0644)"],
            id="owner, right content",
        ),
        pytest.param(
            {ProfileScript: MISSING_PROFILE, Binary: False},
            [unified_diff(PROFILE_SCRIPT, None, PROFILE_TEXT)],
            [],
            id="binary missing, script missing: the script is still written",
        ),
        pytest.param(
            {ProfileScript: profile(link=SHARED_PROFILE)},
            [],
            [f"install {PROFILE_SCRIPT} as a regular file (now a symlink to {SHARED_PROFILE})"],
            id="symlink to the right content: replaced by a regular file",
        ),
        pytest.param(
            {ProfileScript: profile(link=SHARED_PROFILE, mode=0o666)},
            [],
            [f"install {PROFILE_SCRIPT} as a regular file (now a symlink to {SHARED_PROFILE})"],
            id="symlink, target world-writable: the one install fixes both",
        ),
        pytest.param(
            {ProfileScript: profile(OTHER_PROFILE, link=SHARED_PROFILE)},
            [unified_diff(PROFILE_SCRIPT, OTHER_PROFILE, PROFILE_TEXT)],
            [],
            id="symlink to other content: the diff (install replaces the link)",
        ),
        pytest.param(
            {ProfileScript: ProfileScript.parse(1, f"link {SHARED_PROFILE}\nmissing\n")},
            [unified_diff(PROFILE_SCRIPT, None, PROFILE_TEXT)],
            [],
            id="dangling symlink: written from /dev/null",
        ),
    ],
)
def test_profile_d_plans(changes, diffs, commands):
    plan = plan_of(ProfileD(), changes)
    assert_plan(plan, diffs, commands)
    assert plan.rollback is not None


def test_profile_d_replaces_a_symlinked_script_by_installing_a_regular_file():
    """The install writes PROFILE_SCRIPT itself (a rename over the link), not the link's
    target: the shared file elsewhere is left alone."""
    ct = Recorder("ct")
    ctx = context(subject({ProfileScript: profile(link=SHARED_PROFILE)}), ct=ct)
    plan = ProfileD().plan(ctx)
    assert plan.apply is not None
    plan.apply()
    assert ct.log == [
        f"clean_temps {PROFILE_SCRIPT}",
        "sh -n <candidate>",
        f"install {PROFILE_SCRIPT}",
    ]
    assert ct.written == {PROFILE_SCRIPT: PROFILE_TEXT}


def test_profile_d_missing_diff_is_from_dev_null():
    (diff,) = plan_of(ProfileD(), {ProfileScript: MISSING_PROFILE}).diffs
    assert diff.splitlines()[:2] == ["--- /dev/null", f"+++ {PROFILE_SCRIPT}"]
    assert '+export PATH="$PATH:/usr/local/bin"' in diff.splitlines()


def test_profile_d_binary_missing_is_not_remediable():
    with pytest.raises(NotRemediable, match="/usr/local/bin/ollama is missing in CT 955"):
        plan_of(ProfileD(), {Binary: False})


@pytest.mark.parametrize(
    ("binary", "verified_by"),
    [
        (True, ["profile_script", "profile_is_file", "login_path", "which_ollama"]),
        (False, ["profile_script", "profile_is_file", "login_path"]),
    ],
)
def test_profile_d_is_verified_by_which_ollama_only_with_a_binary(binary, verified_by):
    ctx = context(subject({Binary: binary}))
    assert [c.id for c in ProfileD().verifying(ctx)] == verified_by


@pytest.mark.parametrize(
    ("fail", "message"),
    [
        pytest.param(
            {"sh -n": (2, "sh: 1: Syntax error: end of file unexpected")},
            "candidate fails `sh -n`: sh: 1: Syntax error: end of file unexpected; "
            "nothing was changed",
            id="candidate rejected",
        ),
        pytest.param(
            {"install": (1, "mv: cannot move: Read-only file system")},
            f"could not write {PROFILE_SCRIPT}: mv: cannot move: Read-only file system; "
            "nothing was changed",
            id="write fails",
        ),
    ],
)
def test_profile_d_failed_apply_changes_nothing(fail, message):
    ct = Recorder("ct", fail)
    ctx = context(subject({ProfileScript: MISSING_PROFILE}), dry_run=False, ct=ct)
    ctx.later = [ctx.subject()]
    outcome = ProfileD().run(ctx)
    assert (outcome.status, outcome.message) == (FAILED, message)
    assert not any(line.startswith("restore") for line in ct.log)


def test_profile_d_unverified_write_is_restored(monkeypatch):
    monkeypatch.setattr("remediation.base.wait_until", lambda check, seconds, every=0.3: check())
    ct = Recorder("ct", {"restore": (1, "cp: cannot stat")})
    ctx = context(subject({ProfileScript: MISSING_PROFILE}), dry_run=False, ct=ct)
    ctx.later = [ctx.subject()]  # the re-read still sees no script: not verified
    outcome = ProfileD().run(ctx)
    assert outcome.status == FAILED
    assert outcome.message.startswith("not verified 10s after the change: profile_script: ")
    assert outcome.message.endswith(f"; restore of {PROFILE_SCRIPT} failed: cp: cannot stat")
    assert ct.log[-1] == f"restore {PROFILE_SCRIPT}"


def test_profile_d_verified_write_is_changed(monkeypatch):
    monkeypatch.setattr("remediation.base.wait_until", lambda check, seconds, every=0.3: check())
    ct = Recorder("ct")
    ctx = context(subject({ProfileScript: MISSING_PROFILE}), dry_run=False, ct=ct)
    ctx.later = [subject()]  # the re-read sees the plan's script
    outcome = ProfileD().run(ctx)
    assert (outcome.status, outcome.message) == (CHANGED, "applied and verified")
    assert [s.command for s in outcome.steps] == ["sh -n <candidate>", f"install {PROFILE_SCRIPT}"]


def test_profile_d_rollback_before_any_change_says_so():
    ct = Recorder("ct")
    plan = ProfileD().plan(context(subject({ProfileScript: MISSING_PROFILE}), ct=ct))
    assert plan.rollback is not None
    assert plan.rollback() == "nothing was changed"  # the script was never written
    assert ct.log == []


# -- systemd_unit ---------------------------------------------------------------------------

RELOAD = "systemctl daemon-reload"
ENABLE = "systemctl enable ollama.service"
RESET = "systemctl reset-failed ollama.service"
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


def restart(reason: str = "unit changed") -> list[str]:
    """A restart as the plan says it: always `reset-failed` first (whatever NRestarts was,
    the restart must not inherit the old invocations' failures or start limit)."""
    return [RESET, f"systemctl restart ollama.service  # {reason}"]


def started(restarts: int, seconds_ago: int) -> UnitState:
    return unit(NRestarts=str(restarts), ExecMainStartTimestamp=f"@{NOW - seconds_ago}")


@pytest.mark.parametrize(
    ("changes", "diffs", "commands"),
    [
        pytest.param(
            {
                UnitFiles: {},
                UnitState: UnitState.parse(0, samples.UNIT_SHOW_MISSING),
                UnitEnabled: UNIT_MISSING_ENABLED,
                MainProcessEnv: None,
                Journal: Journal.parse(1, "no invocation of the unit"),
                Listeners: (),
                DirectTags: None,
            },
            [unified_diff(UNIT_PATH, None, UNIT_TEXT)],
            [
                RELOAD,
                ENABLE,
                *restart(
                    "unit_active: expected ollama.service is installed (LoadState=loaded), "
                    "found LoadState=not-found"
                ),
            ],
            id="unit missing (manual setup)",
        ),
        pytest.param(
            {UnitFiles: {}},
            [unified_diff(UNIT_PATH, None, UNIT_TEXT)],
            [RELOAD, *restart()],
            id="unit file missing only",
        ),
        pytest.param(
            {UnitFiles: {UNIT_PATH: OLD_UNIT}},
            [unified_diff(UNIT_PATH, OLD_UNIT, UNIT_TEXT)],
            [RELOAD, *restart()],
            id="unit differs",
        ),
        pytest.param(
            {UnitFiles: {UNIT_PATH: UNIT_TEXT, DROPIN: LOOPBACK_DROPIN}},
            [unified_diff(DROPIN, LOOPBACK_DROPIN, "[Service]\n")],
            [RELOAD, *restart()],
            id="the overriding setting removed from its drop-in",
        ),
        pytest.param(
            {
                UnitFiles: {
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
            [RELOAD, *restart()],
            id="only the overriding drop-in edited",
        ),
        pytest.param(
            {UnitFiles: {UNIT_PATH: OLD_UNIT, DROPIN: LOOPBACK_DROPIN}},
            [
                unified_diff(UNIT_PATH, OLD_UNIT, UNIT_TEXT),
                unified_diff(DROPIN, LOOPBACK_DROPIN, "[Service]\n"),
            ],
            [RELOAD, *restart()],
            id="unit and drop-in",
        ),
        pytest.param(
            {UnitState: unit(NeedDaemonReload="yes")},
            [],
            [RELOAD, *restart()],
            id="NeedDaemonReload only",
        ),
        pytest.param(
            {UnitEnabled: "disabled"}, [], [ENABLE], id="disabled only: enable, no restart"
        ),
        pytest.param(
            {UnitState: unit(ActiveState="inactive", SubState="dead", MainPID="0")},
            [],
            restart(
                "unit_active: expected active (running), found inactive (dead), restarted 0 "
                "times by Restart=; systemd says: Started ollama.service - Ollama Service."
            ),
            id="unhealthy: stopped",
        ),
        pytest.param(
            {Journal: Journal.parse(0, samples.JOURNAL_OK + samples.JOURNAL_PANIC)},
            [],
            restart(
                "journal_clean: expected no bind/panic/permission errors, "
                "found 1 error lines, first: panic: $HOME is not defined"
            ),
            id="unhealthy: journal",
        ),
        pytest.param(
            {Listeners: (Listener("127.0.0.1", 11434, (2231,)),)},
            [],
            restart(
                "listener: expected 11434 on all interfaces (0.0.0.0, * or [::]), "
                "found 127.0.0.1:11434"
            ),
            id="unhealthy: listener",
        ),
        pytest.param(
            {DirectTags: None},
            [],
            restart("direct_api: expected 200 JSON {models: [...]}, found no HTTP reply"),
            id="unhealthy: hung",
        ),
        pytest.param(
            {DirectTags: HttpReply(500, "application/json", "{}")},
            [],
            restart(
                "direct_api: expected 200 JSON {models: [...]}, found status 500, "
                'expected 200; no "models" list in the body'
            ),
            id="unhealthy: 500",
        ),
        pytest.param(
            {UnitState: started(3, 5)},
            [],
            restart(
                "unit_active: expected no crash loop (a process Restart= brought back stays "
                "up 30 s), found restarted with NRestarts=3, journal silent 5s ago "
                "(3 restarts); systemd says: Started ollama.service - Ollama Service."
            ),
            id="crash loop: reset-failed before the restart",
        ),
        pytest.param(
            {UnitState: UnitState.parse(0, samples.UNIT_SHOW_STALE)},
            [],
            [
                RELOAD,
                *restart(
                    "unit_active: expected active (running), found activating (auto-restart), "
                    "restarted 17 times by Restart=; systemd says: "
                    "Started ollama.service - Ollama Service."
                ),
            ],
            id="auto-restart, not reloaded",
        ),
        pytest.param(
            {UnitState: unit(NeedDaemonReload="yes", NRestarts="2")},
            [],
            [RELOAD, *restart()],
            id="old restarts, reload: reset-failed",
        ),
        pytest.param(
            {UnitState: started(3, 40)}, [], [], id="old restarts, healthy: nothing to do"
        ),
        pytest.param(
            {UnitState: started(3, 40), UnitEnabled: "disabled"},
            [],
            [ENABLE],
            id="old restarts, disabled: enable only, no reset-failed",
        ),
        pytest.param(
            {UnitFiles: {UNIT_PATH: UNIT_TEXT, DROPIN: HARMLESS_DROPIN}},
            [],
            [],
            id="harmless drop-in kept",
        ),
        pytest.param(
            {UnitFiles: {UNIT_PATH: UNIT_TEXT, DROPIN: OPERATOR_DROPIN}},
            [],
            [],
            id="systemctl-edit drop-in agreeing with the plan kept",
        ),
        pytest.param(
            {UnitFiles: {UNIT_PATH: UNIT_TEXT, DROPIN: OPERATOR_DROPIN}, UnitEnabled: "disabled"},
            [],
            [ENABLE],
            id="disabled with the operator's drop-in: enable only",
        ),
        pytest.param(
            {UnitFiles: {UNIT_PATH: UNIT_TEXT, DROPIN: MIXED_DROPIN}},
            [unified_diff(DROPIN, MIXED_DROPIN, MIXED_KEPT)],
            [RELOAD, *restart()],
            id="only the contradicting assignment leaves a mixed drop-in",
        ),
        pytest.param(
            {UnitFiles: {UNIT_PATH: FileState(True, "root:root", 0o666, UNIT_TEXT)}},
            [],
            [f"install {UNIT_PATH} as root:root 0644", RELOAD, *restart()],
            id="world-writable unit reinstalled",
        ),
        pytest.param(
            {
                UnitFiles: {
                    UNIT_PATH: UNIT_TEXT,
                    DROPIN: FileState(True, "ollama:ollama", 0o644, HARMLESS_DROPIN),
                }
            },
            [],
            [f"install {DROPIN} as root:root 0644", RELOAD, *restart()],
            id="drop-in owned by another user reinstalled as root",
        ),
    ],
)
def test_systemd_unit_plans(changes, diffs, commands):
    plan = plan_of(SystemdUnit(), changes)
    assert_plan(plan, diffs, commands)
    assert (plan.rollback is None) == plan.empty
    assert plan.settle_s == 30.0  # HTTP answers after scheduler and GPU discovery


@pytest.mark.parametrize("restarts", ["0", "5"])
def test_systemd_unit_resets_failed_before_every_restart_whatever_nrestarts_was(restarts):
    """Not decided from the pre-change NRestarts: a restart always forgets the old
    invocations' failures (the plan and its apply both say reset-failed, then restart)."""
    ct = Recorder("ct")
    ctx = context(subject({UnitFiles: {}, UnitState: unit(NRestarts=restarts)}), ct=ct)
    plan = SystemdUnit().plan(ctx)
    assert plan.commands[-2:] == restart()
    assert plan.apply is not None
    plan.apply()
    assert ct.log == [
        f"clean_temps {UNIT_PATH}",
        f"install {STAGING}",
        f"systemd-analyze verify {STAGING}",
        f"install {UNIT_PATH}",
        RELOAD,
        RESET,
        "systemctl restart ollama.service",
    ]
    assert ct.written == {STAGING: UNIT_TEXT, UNIT_PATH: UNIT_TEXT}


def test_systemd_unit_apply_rewrites_drop_ins_and_enables():
    ct = Recorder("ct")
    files = {UNIT_PATH: UNIT_TEXT, DROPIN: MIXED_DROPIN}
    ctx = context(subject({UnitFiles: files, UnitEnabled: "disabled"}), ct=ct)
    SystemdUnit().plan(ctx).apply()  # type: ignore[misc]
    assert ct.log == [
        f"clean_temps {UNIT_PATH} {DROPIN}",
        f"install {DROPIN}",
        RELOAD,
        ENABLE,
        RESET,
        "systemctl restart ollama.service",
    ]
    assert ct.written == {DROPIN: MIXED_KEPT}


def test_systemd_unit_enable_only_neither_reloads_nor_restarts():
    ct = Recorder("ct")
    ctx = context(subject({UnitEnabled: "disabled"}), ct=ct)
    plan = SystemdUnit().plan(ctx)
    plan.apply()  # type: ignore[misc]
    assert ct.log == [f"clean_temps {UNIT_PATH}", ENABLE]
    assert plan.keeps is not None
    assert plan.keeps() is None
    assert plan.rollback() == "restored the previous unit. Journal:\n"  # type: ignore[misc]
    assert ct.log[2:] == [  # the enable undone; the service, never restarted, left running
        "journalctl -u ollama.service -n 15 --no-pager -o cat",
        "systemctl disable ollama.service",
        RELOAD,
    ]


def test_systemd_unit_diffs_read_as_create_and_remove():
    (create,) = plan_of(SystemdUnit(), {UnitFiles: {}}).diffs
    assert create.splitlines()[:2] == ["--- /dev/null", f"+++ {UNIT_PATH}"]
    assert "+ExecStart=/usr/local/bin/ollama serve" in create.splitlines()
    files = {UNIT_PATH: UNIT_TEXT, DROPIN: LOOPBACK_DROPIN}
    (edit,) = plan_of(SystemdUnit(), {UnitFiles: files}).diffs
    assert edit.splitlines()[:2] == [f"--- {DROPIN}", f"+++ {DROPIN}"]
    assert '-Environment="OLLAMA_HOST=127.0.0.1:11434"' in edit.splitlines()


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        pytest.param(
            {UnitState: unit(LoadState="masked", FragmentPath="/dev/null")},
            "ollama.service is masked",
            id="masked",
        ),
        pytest.param(
            {UnitState: unit(FragmentPath="/run/systemd/transient/ollama.service")},
            "systemd reads ollama.service from /run/systemd/transient/ollama.service",
            id="shadowing unit",
        ),
        pytest.param(
            {
                UnitFiles: {
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
        plan_of(SystemdUnit(), changes)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        pytest.param(
            fault_facts.ENV_FILE_LOOPBACK,
            "OLLAMA_HOST=127.0.0.1:11434 from /etc/default/ollama:2 (EnvironmentFile= of "
            "/etc/systemd/system/ollama.service.d/10-env-file.conf:2), which the plan does not "
            "own: change it there (the plan wants OLLAMA_HOST=0.0.0.0:11434); nothing was "
            "changed, the service not restarted",
            id="EnvironmentFile",
        ),
        pytest.param(
            {
                **fault_facts.MANAGER_LOOPBACK,
                UnitFiles: {UNIT_PATH: UNIT_TEXT},  # ours already: the manager still wins
            },
            "OLLAMA_HOST=127.0.0.1:11434 from the manager's environment",
            id="manager, our unit unchanged",
        ),
        pytest.param(
            fault_facts.ALL_SERVICES_LOOPBACK,
            "/etc/systemd/system/service.d/50-lab-env.conf (vendor files",
            id="service.d drop-in for every service",
        ),
    ],
)
def test_systemd_unit_refuses_a_value_in_force_it_does_not_own(changes, why):
    """Refused before any change: rewriting ours and restarting would bind the same place."""
    with pytest.raises(NotRemediable, match=re.escape(why)):
        plan_of(SystemdUnit(), changes)


@pytest.mark.parametrize(
    ("changes", "edit"),
    [
        pytest.param(
            fault_facts.UNSET_HOST,
            "-UnsetEnvironment=OLLAMA_HOST",
            id="UnsetEnvironment in our drop-in dir",
        ),
        pytest.param(
            fault_facts.MANAGER_LOOPBACK,
            '+Environment="OLLAMA_HOST=0.0.0.0:11434"',
            id="manager's value loses to our unit",
        ),
    ],
)
def test_systemd_unit_converges_a_value_in_force_it_owns(changes, edit):
    plan = plan_of(SystemdUnit(), changes)
    assert any(edit in diff for diff in plan.diffs), plan.diffs
    assert any(c.startswith("systemctl restart") for c in plan.commands), plan.commands


def test_systemd_unit_vendor_fragment_is_overridden_by_ours():
    plan = plan_of(
        SystemdUnit(), {UnitState: unit(FragmentPath="/lib/systemd/system/ollama.service")}
    )
    assert plan.empty


@pytest.mark.parametrize(
    "changes", [{Binary: False}, {Binary: False, UnitFiles: {}}], ids=["unit ok", "no unit"]
)
def test_systemd_unit_binary_missing_is_not_remediable(changes):
    with pytest.raises(NotRemediable, match="install Ollama first"):
        plan_of(SystemdUnit(), changes)


def test_systemd_unit_keeps_the_models_it_served(monkeypatch):
    """After a restart the same process must stay up and serve the same models; a lost one
    is named with the remedy."""
    slept: list[float] = []
    monkeypatch.setattr(fix_unit.time, "sleep", slept.append)
    ctx = context(subject({UnitFiles: {}}))
    plan = SystemdUnit().plan(ctx)
    assert plan.keeps is not None
    ctx.later = [subject()]
    assert plan.keeps() is None  # the same facts: still up, nothing lost
    assert slept == [fix_unit.STABLE_S]
    ctx.later = [subject({DirectTags: factsets.tags(samples.QWEN)})]
    lost = plan.keeps()
    assert lost is not None
    assert "no longer serves 1 model(s): llama3.2:1b" in lost
    assert "OLLAMA_MODELS" in lost


@pytest.mark.parametrize(
    ("after", "message"),
    [
        pytest.param(
            unit(InvocationID="0123456789abcdef0123456789abcdef", NRestarts="1"),
            "the service did not stay up 2s after it was verified: active (running), "
            "restarted 1 times by Restart=",
            id="another invocation",
        ),
        pytest.param(
            unit(ActiveState="activating", SubState="auto-restart", NRestarts="1"),
            "the service did not stay up 2s after it was verified: activating (auto-restart), "
            "restarted 1 times by Restart=",
            id="died",
        ),
        pytest.param(
            started(1, 5),
            "unit_active 2s later: expected no crash loop",
            id="same process, judged a crash loop",
        ),
    ],
)
def test_systemd_unit_is_not_kept_when_the_service_does_not_stay_up(after, message, monkeypatch):
    monkeypatch.setattr(fix_unit.time, "sleep", lambda seconds: None)
    ctx = context(subject({UnitFiles: {}}))
    plan = SystemdUnit().plan(ctx)
    ctx.later = [subject({UnitState: after})]
    lost = plan.keeps()  # type: ignore[misc]
    assert lost is not None
    assert lost.startswith(message)


def test_systemd_unit_without_a_restart_keeps_nothing_to_check():
    plan = plan_of(SystemdUnit(), {UnitEnabled: "disabled"})
    assert plan.keeps is not None
    assert plan.keeps() is None


@pytest.mark.parametrize(
    ("fail", "log", "undo"),
    [
        pytest.param(
            {"systemd-analyze": (1, "ollama.service: Unknown key")},
            [
                f"clean_temps {UNIT_PATH}",
                f"install {STAGING}",
                f"systemd-analyze verify {STAGING}",
                "journalctl -u ollama.service -n 15 --no-pager -o cat",
            ],
            "systemd-analyze verify rejects it: ollama.service: Unknown key; nothing was "
            "changed, the service left as it was. Journal:\n",
            id="verify rejects: nothing to put back",
        ),
        pytest.param(
            {"restart ollama": (1, "Job for ollama.service failed.")},
            [
                f"clean_temps {UNIT_PATH}",
                f"install {STAGING}",
                f"systemd-analyze verify {STAGING}",
                f"install {UNIT_PATH}",
                RELOAD,
                RESET,
                "systemctl restart ollama.service",
                "journalctl -u ollama.service -n 15 --no-pager -o cat",
                f"restore {UNIT_PATH}",
                RELOAD,
                "systemctl restart ollama.service",
            ],
            "restart failed: Job for ollama.service failed.; rollback incomplete: "
            "`systemctl restart ollama.service` exit 1: Job for ollama.service failed.. "
            "Journal:\n",
            id="restart fails: unit restored, the running service restarted",
        ),
    ],
)
def test_systemd_unit_failed_apply_is_rolled_back(fail, log, undo):
    ct = Recorder("ct", fail)
    ctx = context(subject({UnitFiles: {}}), dry_run=False, ct=ct)
    ctx.later = [ctx.subject()]
    outcome = SystemdUnit().run(ctx)
    assert outcome.status == FAILED
    assert outcome.message == undo
    assert ct.log == log


def test_systemd_unit_rollback_stops_a_service_that_was_not_running():
    ct = Recorder("ct")
    stopped = unit(ActiveState="inactive", SubState="dead", MainPID="0")
    ctx = context(subject({UnitFiles: {}, UnitState: stopped, UnitEnabled: "disabled"}), ct=ct)
    plan = SystemdUnit().plan(ctx)
    plan.apply()  # type: ignore[misc]
    assert plan.rollback() == "restored the previous unit. Journal:\n"  # type: ignore[misc]
    assert ct.log[-5:] == [
        "journalctl -u ollama.service -n 15 --no-pager -o cat",
        f"restore {UNIT_PATH}",
        "systemctl disable ollama.service",
        RELOAD,
        "systemctl stop ollama.service",
    ]


def test_systemd_unit_rollback_leaves_a_service_it_did_not_restart_as_it_was():
    """Neither running before nor restarted by the fix (only enabled): not stopped, not
    started by the rollback."""
    ct = Recorder("ct")
    ct.touched.add(UNIT_PATH)
    steps = fix_unit.Steps(
        unit=UNIT_TEXT,
        dropins={},
        reload=True,
        enable=True,
        restart=False,
        was_active=False,
        changed=True,
    )
    assert SystemdUnit._rollback(context(subject(), ct=ct), steps) == (
        "restored the previous unit. Journal:\n"
    )
    assert ct.log == [
        "journalctl -u ollama.service -n 15 --no-pager -o cat",
        f"restore {UNIT_PATH}",
        "systemctl disable ollama.service",
        RELOAD,
    ]


# -- nginx_site -----------------------------------------------------------------------------

LINK = f"ln -sfn {SITE_FILE} {SITE_LINK}"
TEST = "nginx -t"
WRONG_IP_TEXT = site_text(f"http://{CT_IP}:11434", "http://10.0.3.99:11434")
BROKEN_TEXT = site_text("break;", "break")  # the rewrite runs into proxy_pass: nginx -t fails
# The run-on rewrite (it swallowed proxy_pass) replaced by the plan's; proxy_pass added after it.
BROKEN_EDITED = site_text(
    f"break;\n\n        # Proxy settings\n        proxy_pass http://{CT_IP}:11434; # Replace",
    "break; # Replace",
).replace("IP address\n", f"IP address\n        proxy_pass http://{CT_IP}:11434;\n", 1)
UNQUOTED_TEXT = site_text('Connection "upgrade";', 'Connection "upgrade;')
NGINX_EMERG_OURS = NginxTest.parse(1, samples.NGINX_T_SERVER_IN_SITE)
NGINX_EMERG_OTHER = NginxTest.parse(1, samples.NGINX_T_BOGUS)
SITE_WITH_IP = dataclasses.replace(SITE, ct_ip="10.0.3.99")
SITE_NAMED = dataclasses.replace(SITE, server_name="ollama.lan")
# The plan's site as its owner keeps it: a comment of theirs, none of the plan's, one line.
OPERATOR_LINES = '        auth_basic "ops";\n        allow 10.0.0.0/8;\n        deny all;\n'
OPERATOR_TEXT = SITE_TEXT.replace(
    "    location /ollama/ {\n", "    location /ollama/ {\n" + OPERATOR_LINES
)
OPERATOR_STALE_TEXT = OPERATOR_TEXT.replace(f"http://{CT_IP}:11434", f"http://{CT_IP}:11999")
RESHAPED_TEXT = "# kept by ops\n" + " ".join(re.sub(r"#.*", "", SITE_TEXT).split()) + "\n"


@pytest.mark.parametrize(
    ("changes", "diffs", "commands"),
    [
        pytest.param(
            {SiteConfig: MISSING_SITE},
            [unified_diff(SITE_FILE, None, SITE_TEXT)],
            [TEST, "nginx -s reload"],
            id="site missing",
        ),
        pytest.param(
            {SiteConfig: MISSING_SITE, SiteLink: LINK_MISSING},
            [unified_diff(SITE_FILE, None, SITE_TEXT)],
            [LINK, TEST, "nginx -s reload"],
            id="site and link missing (manual setup)",
        ),
        pytest.param(
            {SiteConfig: site_state(WRONG_IP_TEXT)},
            [unified_diff(SITE_FILE, WRONG_IP_TEXT, SITE_TEXT)],
            [TEST, "nginx -s reload"],
            id="wrong IP",
        ),
        pytest.param(
            {SiteConfig: site_state(BROKEN_TEXT), NginxTest: NGINX_EMERG_OURS},
            [unified_diff(SITE_FILE, BROKEN_TEXT, BROKEN_EDITED)],
            [TEST, "nginx -s reload"],
            id="nginx -t fails in our site: a `;` missing in the plan's lines, edited",
        ),
        pytest.param(
            {SiteLink: LINK_MISSING},
            [],
            [LINK, TEST, "nginx -s reload"],
            id="link missing",
        ),
        pytest.param(
            {SiteLink: link_state(f"link {SITE_FILE}\ndangling\n")},
            [],
            [LINK, TEST, "nginx -s reload"],
            id="dangling link",
        ),
        pytest.param(
            {SiteLink: link_state("link /etc/nginx/sites-available/ollama_proxy\n")},
            [],
            [LINK, TEST, "nginx -s reload"],
            id="link to a wrong file",
        ),
        pytest.param(
            {SiteLink: link_state("not-a-link\n")},
            [],
            [LINK, TEST, "nginx -s reload"],
            id="a copy instead of a link",
        ),
        pytest.param(
            {SiteConfig: site_state(mode=0o666)},
            [],
            [
                f"install {SITE_FILE} as root:root 0644 (now root:root 0666)",
                TEST,
                "nginx -s reload",
            ],
            id="world-writable, right content",
        ),
        pytest.param(
            {NginxState: nginx_state(running=False)},
            [],
            [TEST, "nginx"],
            id="nginx stopped",
        ),
        pytest.param(
            {NginxState: nginx_state(running=False), HostInit: "systemd"},
            [],
            [TEST, "systemctl start nginx"],
            id="nginx stopped, systemd host",
        ),
        pytest.param(
            {NginxState: nginx_state(changed={SITE_FILE: 1200.0})},
            [],
            [TEST, "nginx -s reload"],
            id="stale: reload",
        ),
        pytest.param(
            {NginxState: nginx_state(changed={SITE_FILE: 1200.0}), HostInit: "systemd"},
            [],
            [TEST, "systemctl reload nginx"],
            id="stale, systemd host",
        ),
        pytest.param(
            {SiteConfig: MISSING_SITE, HostInit: "systemd"},
            [unified_diff(SITE_FILE, None, SITE_TEXT)],
            [TEST, "systemctl reload nginx"],
            id="site missing, systemd host",
        ),
        pytest.param(
            {NginxTest: NGINX_EMERG_OURS},
            [],
            [TEST, "nginx -s reload"],
            id="nginx -t blames our site, files right",
        ),
        pytest.param(
            {NginxState: nginx_state(changed={SITE_FILE: 1000.04})},
            [],
            [],
            id="changed within the clock's resolution: nothing",
        ),
        pytest.param(
            {SiteConfig: site_state(RESHAPED_TEXT)},
            [],
            [],
            id="the plan's site with other comments and whitespace: kept",
        ),
        pytest.param(
            {SiteConfig: site_state(RESHAPED_TEXT, mode=0o666)},
            [],
            [
                f"install {SITE_FILE} as root:root 0644 (now root:root 0666)",
                TEST,
                "nginx -s reload",
            ],
            id="reshaped and world-writable: reinstalled as the plan's",
        ),
        pytest.param(
            {
                SiteConfig: site_state(OPERATOR_TEXT),
                NginxState: nginx_state(changed={SITE_FILE: 1200.0}),
            },
            [],
            [TEST, "nginx -s reload"],
            id="an operator's site, only a reload pending: reloaded, not rewritten",
        ),
        pytest.param(
            {SiteConfig: site_state(OPERATOR_STALE_TEXT)},
            [unified_diff(SITE_FILE, OPERATOR_STALE_TEXT, OPERATOR_TEXT)],
            [TEST, "nginx -s reload"],
            id="an operator's site, stale upstream: only proxy_pass edited",
        ),
    ],
)
def test_nginx_site_plans(changes, diffs, commands):
    plan = plan_of(NginxSite(), changes)
    assert_plan(plan, diffs, commands)
    assert (plan.rollback is None) == plan.empty
    assert plan.settle_s == 10.0


def test_nginx_site_keeps_the_owners_comments_and_whitespace():
    """A site nginx reads as the plan's (same directives and arguments) is not rewritten, nor
    is one with a directive of the operator's more; a wrong one of the plan's is edited."""
    assert RESHAPED_TEXT != SITE_TEXT
    assert "# kept by ops" in RESHAPED_TEXT
    assert site_state(RESHAPED_TEXT).config.shape() == site_state().config.shape()
    assert plan_of(NginxSite(), {SiteConfig: site_state(RESHAPED_TEXT)}).empty
    extra = RESHAPED_TEXT.replace("listen 80;", "listen 80; gzip on;")
    assert plan_of(NginxSite(), {SiteConfig: site_state(extra)}).empty
    stale = extra.replace(f"http://{CT_IP}:11434", "http://10.0.3.99:11434")
    (diff,) = plan_of(NginxSite(), {SiteConfig: site_state(stale)}).diffs
    assert diff == unified_diff(SITE_FILE, stale, extra)


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
    (diff,) = plan_of(NginxSite(), {SiteConfig: MISSING_SITE}).diffs
    assert diff.splitlines()[:2] == ["--- /dev/null", f"+++ {SITE_FILE}"]
    assert f"+        proxy_pass http://{CT_IP}:11434; # Replace with LXC 955's IP address" in (
        diff.splitlines()
    )


CLAIMING_SITE = f"server {{\n    listen 80;\n    server_name {HOST};\n}}\n"
CLAIMING_LINK = "/etc/nginx/sites-enabled/00-claims"
NO_SITES_CONF = NGINX_CONF.replace("    include /etc/nginx/sites-enabled/*;\n", "")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {SiteConfig: site_state(UNQUOTED_TEXT), NginxTest: NGINX_EMERG_OURS},
            f"refused before any change: {SITE_FILE} cannot be parsed (line 19: unterminated",
            id="our site cannot be parsed",
        ),
        pytest.param(
            {SiteConfig: site_state(SITE_TEXT.replace("}\n}\n", "}\n"))},
            f"refused before any change: {SITE_FILE} cannot be parsed (unexpected end of file",
            id="unbalanced braces",
        ),
        pytest.param(
            {
                SiteConfig: site_state(
                    SITE_TEXT.replace("listen 80;\n", "listen 80;\n    bogus {\n    } gzip on;\n")
                ),
                NginxTest: NginxTest.parse(
                    1, samples.NGINX_T_BOGUS.replace("/etc/nginx/sites-enabled/zz", SITE_LINK)
                ),
            },
            f"refused before any change: nginx -t fails in our site {SITE_FILE} at line 3 "
            "(`bogus`), which shares its line with another directive",
            id="nginx -t fails at an operator's block that shares a line of our site",
        ),
        pytest.param(
            {SiteConfig: site_state(SITE_TEXT + SITE_TEXT)},
            f"refused before any change: {SITE_FILE}: server blocks at lines 1, 22 each hold",
            id="two server blocks hold our location",
        ),
        pytest.param(
            {CtAddresses: ()},
            "the CT's IP is unknown (no IPv4 address found in the CT); nothing was changed",
            id="CT IP unknown",
        ),
        pytest.param(
            {NginxTest: NGINX_EMERG_OTHER},
            "nginx -t already fails in /etc/nginx/sites-enabled/zz (not our site): "
            'nginx: [emerg] unknown directive "bogus" in /etc/nginx/sites-enabled/zz:3. '
            "Fix that file first; nothing was changed, nginx not reloaded",
            id="nginx -t fails in a file not ours",
        ),
        pytest.param(
            {NginxTest: NGINX_EMERG_OTHER, SiteConfig: MISSING_SITE},
            "nginx -t already fails in /etc/nginx/sites-enabled/zz (not our site)",
            id="not ours wins over our own changes",
        ),
        pytest.param(
            {NginxTest: NginxTest(False, "", "", ())},
            "nginx -t already fails in the config (not our site)",
            id="nginx -t fails naming no file",
        ),
        pytest.param(
            {
                NginxLoaded: loaded(
                    (CLAIMING_LINK, CLAIMING_SITE),
                    (DEFAULT_LINK, DEFAULT_SITE),
                    (SITE_LINK, SITE_TEXT),
                )
            },
            f"refused before any change: {CLAIMING_LINK}:",
            id="another file claims our server_name first",
        ),
        pytest.param(
            {NginxLoaded: loaded(main=NO_SITES_CONF), SiteLink: LINK_MISSING},
            "refused before any change: nginx.conf includes no file of /etc/nginx/sites-enabled/ "
            "(its includes: /etc/nginx/mime.types, /etc/nginx/conf.d/*.conf). A file the plan "
            "does not own is never edited: change it by hand, then run --fix again",
            id="nginx.conf reads no sites-enabled",
        ),
    ],
)
def test_nginx_site_not_remediable(changes, message):
    with pytest.raises(NotRemediable) as refused:
        plan_of(NginxSite(), changes)
    assert message in str(refused.value)


def test_nginx_site_a_conflicting_server_name_is_named():
    changes = {
        NginxLoaded: loaded((CLAIMING_LINK, CLAIMING_SITE), (SITE_LINK, SITE_TEXT)),
        SiteConfig: MISSING_SITE,
    }
    with pytest.raises(NotRemediable, match="conflicting server name") as refused:
        plan_of(NginxSite(), changes)
    assert f"claims server_name {HOST} on port 80 before our site" in str(refused.value)


def test_nginx_site_refuses_a_server_name_it_cannot_render():
    ctx = context(subject(host_address="fe80::1%eth0"))
    refused = "refused before any change: <PROXMOX_HOST_IP_OR_DOMAIN>: 'fe80::1%eth0'"
    with pytest.raises(NotRemediable, match=re.escape(refused)):
        NginxSite().plan(ctx)


def test_the_files_the_fixes_write_pass_the_checks_that_read_them():
    """What profile_d and nginx_site write (the plan's templates, filled in) is compliant."""
    written = {
        ProfileScript: profile(_added(plan_of(ProfileD(), {ProfileScript: MISSING_PROFILE}))),
        SiteConfig: site_state(_added(plan_of(NginxSite(), {SiteConfig: MISSING_SITE}))),
    }
    s = subject(written)
    checks = catalogue.load()
    for name in ("profile_script", "profile_is_file", "site_file", "proxy_headers"):
        assert checks[name].judge(s).ok, name


def _added(plan: Plan) -> str:
    """The content a create-diff (from /dev/null) writes."""
    (diff,) = plan.diffs
    lines = diff.splitlines()[3:]  # ---, +++, @@
    assert all(line.startswith("+") for line in lines)
    return "".join(line[1:] + "\n" for line in lines)


def test_nginx_site_renders_the_hardening_when_hardened():
    table = factsets.with_hardened(
        SiteConfig=site_state(SITE_TEXT),
        NginxLoaded=loaded((DEFAULT_LINK, DEFAULT_SITE), (SITE_LINK, SITE_TEXT)),
    )
    s = subject(table=table, settings=HARDENED_SETTINGS)
    plan = FIXES["nginx_site"].plan(context(s))
    (diff,) = plan.diffs
    assert "+        proxy_buffering off;" in diff.splitlines()
    assert "+        deny all;" in diff.splitlines()
    assert "-" + "        proxy_pass" not in diff  # the plan's lines stay: only added to


@pytest.mark.parametrize(
    ("changes", "log"),
    [
        pytest.param(
            {SiteConfig: MISSING_SITE, SiteLink: LINK_MISSING},
            [
                f"clean_temps {SITE_FILE} {SITE_LINK}",
                f"install {SITE_FILE}",
                f"link {SITE_LINK} -> {SITE_FILE}",
                TEST,
                "nginx -s reload",
            ],
            id="site and link",
        ),
        pytest.param(
            {NginxState: nginx_state(running=False), HostInit: "systemd"},
            [f"clean_temps {SITE_FILE} {SITE_LINK}", TEST, "systemctl start nginx"],
            id="only a start",
        ),
    ],
)
def test_nginx_site_apply_writes_links_tests_then_reloads(changes, log):
    pve = Recorder("host")
    NginxSite().plan(context(subject(changes), host=pve)).apply()  # type: ignore[misc]
    assert pve.log == log


CLEAN_SITE = f"clean_temps {SITE_FILE} {SITE_LINK}"


@pytest.mark.parametrize(
    ("changes", "fail", "message", "log"),
    [
        pytest.param(
            {SiteConfig: MISSING_SITE},
            {"nginx -t": (1, NGINX_EMERG_OURS.error + "\nnginx: configuration file test failed")},
            f"nginx -t fails with our site in place: {NGINX_EMERG_OURS.error}; "
            "restored the site and link, nginx not reloaded",
            [CLEAN_SITE, f"install {SITE_FILE}", TEST, f"restore {SITE_FILE}"],
            id="nginx -t fails: the site restored, no reload",
        ),
        pytest.param(
            {SiteConfig: MISSING_SITE},
            {"install": (1, "mv: Permission denied")},
            f"could not write {SITE_FILE}: mv: Permission denied; "
            "restored the site and link, nginx not reloaded",
            [CLEAN_SITE, f"install {SITE_FILE}"],
            id="write fails: nothing to restore",
        ),
        pytest.param(
            {SiteConfig: MISSING_SITE, SiteLink: LINK_MISSING},
            {"nginx -s reload": (1, "nginx: [error] invalid PID number")},
            "`nginx -s reload` failed: nginx: [error] invalid PID number; rollback incomplete: "
            "`nginx -s reload` exit 1: nginx: [error] invalid PID number",
            [
                CLEAN_SITE,
                f"install {SITE_FILE}",
                f"link {SITE_LINK} -> {SITE_FILE}",
                TEST,
                "nginx -s reload",
                f"restore {SITE_FILE}",
                f"restore {SITE_LINK}",
                TEST,
                "nginx -s reload",
            ],
            id="reload fails: site and link restored, the old config reloaded (fails too)",
        ),
        pytest.param(
            {SiteConfig: MISSING_SITE, NginxState: nginx_state(running=False)},
            {},
            "not verified 10s after the change: site_file: ",
            [
                CLEAN_SITE,
                f"install {SITE_FILE}",
                TEST,
                "nginx",
                f"restore {SITE_FILE}",
                "nginx -s quit",
            ],
            id="started, not verified: the site restored and nginx stopped again",
        ),
    ],
)
def test_nginx_site_failed_apply_is_rolled_back(changes, fail, message, log, monkeypatch):
    monkeypatch.setattr("remediation.base.wait_until", lambda check, seconds, every=0.3: check())
    pve = Recorder("host", fail)
    ctx = context(subject(changes), dry_run=False, host=pve)
    ctx.later = [ctx.subject()]  # the re-read sees what was there before: not verified
    outcome = NginxSite().run(ctx)
    assert outcome.status == FAILED
    assert outcome.message.startswith(message)
    assert pve.log == log


def test_nginx_site_rollback_keeps_nginx_off_a_restored_config_that_fails():
    pve = Recorder("host")
    ctx = context(subject({SiteConfig: MISSING_SITE}), host=pve)
    plan = NginxSite().plan(ctx)
    plan.apply()  # type: ignore[misc]
    pve.answers = {"nginx -t": (1, "nginx: [emerg] bad")}
    assert plan.rollback() == (  # type: ignore[misc]
        "restored the old files; the restored config fails nginx -t, so nginx was not reloaded"
    )
    assert pve.log[-2:] == [f"restore {SITE_FILE}", TEST]


def test_nginx_site_rollback_stops_a_started_nginx_with_systemd():
    pve = Recorder("host")
    changes = {NginxState: nginx_state(running=False), HostInit: "systemd"}
    plan = NginxSite().plan(context(subject(changes), host=pve))
    plan.apply()  # type: ignore[misc]
    assert plan.rollback() == "restored the old config and stopped nginx"  # type: ignore[misc]
    assert pve.log[-1] == "systemctl stop nginx"


def test_nginx_site_verified_change():
    pve = Recorder("host")
    ctx = context(subject({SiteConfig: MISSING_SITE}), dry_run=False, host=pve)
    ctx.later = [subject()]
    outcome = NginxSite().run(ctx)
    assert (outcome.status, outcome.message) == (CHANGED, "applied and verified")
    assert pve.written == {SITE_FILE: SITE_TEXT}


# -- ct_start (apply) -----------------------------------------------------------------------


def test_ct_start_waits_for_systemd_in_the_ct(monkeypatch):
    monkeypatch.setattr(fix_ct, "BOOT_TIMEOUT_S", 0.0)
    pve, ct = Recorder("host"), Recorder("ct", {"is-system-running": (0, "degraded")})
    ctx = context(subject({CtStatus: "stopped"}), host=pve, ct=ct)
    ctx.later = [subject()]
    CtStart().plan(ctx).apply()  # type: ignore[misc]
    assert pve.log == ["pct start 955"]
    assert ct.log == ["systemctl is-system-running"]


@pytest.mark.parametrize(
    ("status", "fail", "message"),
    [
        pytest.param("stopped", {}, "CT 955 did not boot in 0s: not running yet", id="never runs"),
        pytest.param(
            "running",
            {"is-system-running": (1, "starting")},
            "CT 955 did not boot in 0s: systemd is starting",
            id="systemd still starting",
        ),
    ],
)
def test_ct_start_that_does_not_boot_fails(status, fail, message, monkeypatch):
    monkeypatch.setattr(fix_ct, "BOOT_TIMEOUT_S", 0.0)
    ct = Recorder("ct", fail)
    ctx = context(subject({CtStatus: "stopped"}), host=Recorder("host"), ct=ct, status=status)
    ctx.later = [ctx.subject()]
    plan = CtStart().plan(ctx)
    with pytest.raises(Exception, match=re.escape(message)):
        plan.apply()  # type: ignore[misc]


def test_ct_start_command_that_fails_is_reported():
    pve = Recorder("host", {"pct start": (255, "CT 955 already running")})
    ctx = context(subject({CtStatus: "stopped"}), dry_run=False, host=pve)
    ctx.later = [ctx.subject()]  # a failed fix forgets its live view
    outcome = CtStart().run(ctx)
    assert outcome.status == FAILED
    assert outcome.message == "pct start 955 failed: CT 955 already running; nothing to undo"


# -- the hardened profile's fixes ------------------------------------------------------------


def test_upgrade_ollama_never_plans_and_says_how():
    with pytest.raises(NotRemediable, match="upgrade Ollama in CT 955"):
        plan_of(FIXES["upgrade_ollama"])


def test_ct_onboot_plans_pct_set_only_when_off():
    assert plan_of(FIXES["ct_onboot"]).empty  # PCT_CONFIG has onboot: 1
    off = PctConfig.parse(0, samples.PCT_CONFIG.replace("onboot: 1\n", ""))
    plan = plan_of(FIXES["ct_onboot"], {PctConfig: off})
    assert plan.commands == ["pct set 955 -onboot 1"]
    with pytest.raises(NotRemediable, match=r"lxc\.start\.auto"):
        plan_of(FIXES["ct_onboot"], {PctConfig: off}, settings=LXC_SETTINGS)


GUARD_UNIT_TEXT = fix_firewall.UNIT
GUARD_IN_PLACE = Guard(
    {fix_firewall.RULES_PATH: factsets.GUARD_RULES, fix_firewall.UNIT_PATH: GUARD_UNIT_TEXT},
    nft=True,
    loaded=True,
)


def firewall_plan(changes: Mapping[Any, Any] | None = None) -> Plan:
    table = factsets.with_hardened({Guard: GUARD_IN_PLACE, **(changes or {})})
    return FIXES["ct_firewall"].plan(context(subject(table=table, settings=HARDENED_SETTINGS)))


def test_ct_firewall_in_place_plans_nothing():
    assert firewall_plan().empty


def test_ct_firewall_missing_writes_rules_and_unit_then_loads_them():
    plan = firewall_plan({Guard: Guard({}, nft=True, loaded=False)})
    assert [d.splitlines()[1] for d in plan.diffs] == [
        f"+++ {fix_firewall.RULES_PATH}",
        f"+++ {fix_firewall.UNIT_PATH}",
    ]
    assert "tcp dport 11434 ip saddr 10.0.3.1 accept" in plan.diffs[0]
    assert plan.commands[0] == f"nft -c -f {fix_firewall.RULES_PATH}"
    assert plan.commands[-1] == "systemctl restart ollama-guard.service"


def test_ct_firewall_files_in_place_but_not_loaded_only_reloads():
    plan = firewall_plan({Guard: dataclasses.replace(GUARD_IN_PLACE, loaded=False)})
    assert plan.diffs == []
    assert "systemctl restart ollama-guard.service" in plan.commands


def test_ct_firewall_without_nft_is_not_remediable():
    with pytest.raises(NotRemediable, match="install nftables"):
        firewall_plan({Guard: Guard({}, nft=False, loaded=False)})


def test_ct_firewall_without_the_hosts_address_is_not_remediable():
    with pytest.raises(NotRemediable, match="host's address on the CT's network is unknown"):
        firewall_plan({CtAddresses: (("eth0", "192.168.77.5"),), PctConfig: {}})


def test_ct_firewall_adds_no_second_filter_when_proxmox_filters_the_ct():
    """Proxmox's firewall on for the CT (cluster, CT file, net0 firewall=1): refused up front
    with the two exact rules to add there; nothing planned in the CT."""
    on = "[OPTIONS]\nenable: 1\n"
    firewall = PveFirewall({"cluster.fw": on, "955.fw": on})
    nic = PctConfig.parse(0, samples.PCT_CONFIG.replace(",type=veth", ",firewall=1,type=veth"))
    running = PveFirewallService("enabled/running")
    with pytest.raises(NotRemediable) as refused:
        firewall_plan(
            {
                Guard: Guard({}, nft=True, loaded=False),
                PveFirewall: firewall,
                PveFirewallService: running,
                PctConfig: nic,
            }
        )
    assert str(refused.value) == (
        "the Proxmox firewall filters CT 955 (cluster.fw and 955.fw enable: 1, net0 firewall=1),"
        " so the suite adds no second filter in the CT: put these first in"
        " /etc/pve/firewall/955.fw [RULES]: `IN ACCEPT -source 10.0.3.1 -p tcp -dport 11434`"
        " then `IN DROP -p tcp -dport 11434`; nothing was changed"
    )


@pytest.mark.parametrize(
    ("service", "named"),
    [
        (
            PveFirewallService("enabled/stopped"),
            "pve-firewall is not running (Status: enabled/stopped)",
        ),
        (
            PveFirewallService("enabled/running", "[OPTIONS]\nnftables: 1\n", True, "failed"),
            "proxmox-firewall is not running (host.fw nftables: 1; systemctl is-active: failed)",
        ),
    ],
)
def test_ct_firewall_refuses_beside_files_whose_service_is_stopped(service, named):
    """The files turn Proxmox's firewall on for the CT but nothing applies them: refused up
    front in one line naming the service; nothing planned in the CT."""
    on = "[OPTIONS]\nenable: 1\n"
    nic = PctConfig.parse(0, samples.PCT_CONFIG.replace(",type=veth", ",firewall=1,type=veth"))
    with pytest.raises(NotRemediable) as refused:
        firewall_plan(
            {
                Guard: Guard({}, nft=True, loaded=False),
                PveFirewall: PveFirewall({"cluster.fw": on, "955.fw": on}),
                PveFirewallService: service,
                PctConfig: nic,
            }
        )
    assert str(refused.value) == (
        f"the Proxmox firewall is configured for CT 955 but {named}: its rules are not applied;"
        " start it, or turn the firewall off for CT 955, before the suite adds a filter in the"
        " CT; nothing was changed"
    )
    assert "\n" not in str(refused.value)


def test_ct_firewall_installs_the_guard_when_proxmox_firewall_is_off_for_the_nic():
    on = "[OPTIONS]\nenable: 1\n"
    plan = firewall_plan(
        {
            Guard: Guard({}, nft=True, loaded=False),
            PveFirewall: PveFirewall({"cluster.fw": on, "955.fw": on}),
        }
    )
    assert len(plan.diffs) == 2


SECOND_LINK = "/etc/nginx/sites-enabled/zz-ollama-8081"
SECOND_SERVER = (
    f"server {{\n    listen 8081;\n    location / {{\n        proxy_pass http://{CT_IP}:11434;"
    "\n    }\n}\n"
)


def test_nginx_site_refuses_a_write_endpoint_open_in_a_file_it_does_not_own():
    """Hardened: another enabled site proxies Ollama's writes to the CT: the site fix cannot
    close it (it never edits that file), so it refuses before any change, naming it."""
    table = factsets.with_hardened(
        NginxLoaded=loaded(
            (DEFAULT_LINK, DEFAULT_SITE),
            (SITE_LINK, factsets.HARDENED_SITE_TEXT),
            (SECOND_LINK, SECOND_SERVER),
        )
    )
    with pytest.raises(NotRemediable) as refused:
        FIXES["nginx_site"].plan(context(subject(table=table, settings=HARDENED_SETTINGS)))
    message = str(refused.value)
    assert message.startswith("refused before any change: POST /api/pull, ")
    assert f"through location / ({SECOND_LINK}:3) of server" in message
    assert "on port 8081 from any address. A file the plan does not own is never edited" in message


def test_nginx_site_rewrites_a_write_location_in_our_own_site():
    """Hardened: an exact-match location in our site that lets a write endpoint reach the CT
    past the guard is the profile's to remove (only it: the rest of the site is kept)."""
    exact = (
        "    location = /ollama/api/pull {\n        rewrite ^/ollama/(.*)$ /$1 break;\n"
        f"        proxy_pass http://{CT_IP}:11434;\n    }}\n"
    )
    text = site_text(
        "    location /ollama/ {", exact + "    location /ollama/ {", factsets.HARDENED_SITE_TEXT
    )
    table = factsets.with_hardened(
        SiteConfig=site_state(text),
        NginxLoaded=loaded((DEFAULT_LINK, DEFAULT_SITE), (SITE_LINK, text)),
    )
    plan = FIXES["nginx_site"].plan(context(subject(table=table, settings=HARDENED_SETTINGS)))
    (diff,) = plan.diffs
    assert diff == unified_diff(SITE_FILE, text, factsets.HARDENED_SITE_TEXT)


def test_a_line_nginx_rejects_in_our_site_is_disabled_and_kept_as_a_comment():
    """nginx -t fails at an operator's one-line directive of our site: it serves nobody (nginx
    keeps its old config), so the fix turns it into a comment under nginx's reason, keeps the
    rest, and converges."""
    broken = SITE_TEXT.replace("listen 80;\n", "listen 80;\n    bogus on;\n")
    tested = NginxTest.parse(
        1, samples.NGINX_T_BOGUS.replace("/etc/nginx/sites-enabled/zz", SITE_LINK)
    )
    (diff,) = plan_of(NginxSite(), {SiteConfig: site_state(broken), NginxTest: tested}).diffs
    removed = [ln for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    added = [ln for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    assert removed == ["-    bogus on;"]
    assert added == [
        '+    # disabled by ollama-lxc-compliance --fix, nginx -t: unknown directive "bogus" in '
        f"{SITE_LINK}:3",
        "+    # bogus on;",
    ]


@pytest.mark.parametrize(
    ("text", "line", "disabled"),
    [
        (
            "a;\n  bad x;\nb;\n",
            2,
            "a;\n  # disabled by ollama-lxc-compliance --fix, nginx -t: why\n  # bad x;\nb;\n",
        ),
        ("bad x;", 1, "# disabled by ollama-lxc-compliance --fix, nginx -t: why\n# bad x;"),
        (  # a block: every line of it, braces and all, so the braces around it still pair
            "a;\nbad {\n  # note\n\n  x;\n}\nb;\n",
            2,
            "a;\n# disabled by ollama-lxc-compliance --fix, nginx -t: why\n# bad {\n  # # note\n"
            "\n  # x;\n# }\nb;\n",
        ),
        (  # a directive over two lines, with a comment after it
            "a;\n  bad\n    x; # why not\nb;\n",
            2,
            "a;\n  # disabled by ollama-lxc-compliance --fix, nginx -t: why\n  # bad\n"
            "    # x; # why not\nb;\n",
        ),
        ("a; bad x;\n", 1, None),  # shares its line with another directive
        ("bad x; a;\n", 1, None),
        ("bad {\n} a;\n", 1, None),
    ],
)
def test_disable_line(text, line, disabled):
    directive = next(d for d in nginx.walk(nginx.parse(text).directives) if d.name == "bad")
    assert directive.line == line
    assert fix_nginx.disable_line(text, directive, "nginx: [emerg] why") == disabled
    assert fix_nginx.disable_line(text, directive, "nginx: [emerg] 22211#22211: why") == disabled


@pytest.mark.parametrize(
    ("text", "named", "found"),
    [
        ("server {\n  listen 80;\n  bad\n    on\n    ;\n}\n", 5, "bad"),  # at its `;`
        ("server {\n  listen 80;\n  bad\n  {\n    x;\n  }\n}\n", 4, "bad"),  # at its `{`
        ("server {\n  listen 80;\n  bad {\n    worse;\n  }\n}\n", 4, "worse"),  # innermost
        ("server {\n  listen 80; bad on;\n}\n", 2, "bad"),
        ("server {\n  listen 80;\n  bad on;\n}\n", 2, None),  # a line of the plan's
        ("server {\n  listen 80;\n  bad on;\n}\n", 9, None),  # past the file
    ],
)
def test_the_directive_nginx_rejects_is_the_one_covering_the_line_it_names(text, named, found):
    """nginx names the line of a directive's `;` (or `{`), which is its last line, not its
    first, when it is written over several lines."""
    tested = NginxTest(False, f"nginx: [emerg] unknown directive in {SITE_LINK}:{named}", SITE_LINK)
    rejected = fix_nginx.operators_line_fails(tested, nginx.parse(text), text, SITE_TEXT)
    assert (rejected.name if rejected else None) == found

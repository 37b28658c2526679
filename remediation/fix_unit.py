"""systemd_unit: the plan's ollama.service in effect, enabled, running and healthy."""

from __future__ import annotations

import time
from dataclasses import dataclass

from compliance.catalogue import load
from compliance.catalogue.ollama_api import tags_problems
from compliance.catalogue.verdict import Subject
from compliance.facts.http import DirectTags
from compliance.facts.shell import Binary
from compliance.facts.systemd import (
    DROPIN_DIRS,
    MainProcessEnv,
    UnitEnabled,
    UnitFiles,
    UnitState,
    host_in_force,
)
from compliance.plan import BINARY, PORT, UNIT, UNIT_PATH
from compliance.report.evidence import EvidenceLog
from compliance.syntax import systemd_env
from compliance.syntax.ollama import ollama_host
from remediation import dropins, render
from remediation.base import (
    Context,
    Fix,
    NotRemediable,
    Plan,
    must,
    rollback_outcome,
    unified_diff,
)

STAGING = "/run/ollama-compliance/ollama.service"
VENDOR_DIRS = ("/lib/systemd/system/", "/usr/lib/systemd/system/")  # ours in /etc overrides
START_TIMEOUT_S = 30.0  # a real server answers HTTP only after scheduler and GPU discovery
STABLE_S = 2.0  # a restarted service must keep its process this long after it is verified


@dataclass
class Steps:
    """What the plan changes: files to write or remove, and the service commands it needs."""

    unit: str | None  # the unit's new content, None when it already matches
    dropins: dict[str, str]  # drop-in path -> its content without the contradicting settings
    reload: bool
    enable: bool
    restart: bool
    was_active: bool
    changed: bool = False  # set once a step changed the CT (a file, enable, restart)


def unhealthy(s: Subject) -> str | None:
    """The first check a restart heals (`@check(..., restart_heals=True)`) that fails, or None."""
    for check in load().values():
        if not check.restart_heals:
            continue
        verdict = check.judge(s)
        if not verdict.ok:
            return f"{check.id}: {verdict.line()}"
    return None


class SystemdUnit(Fix):
    """Write the unit, drop overriding drop-ins, verify, reload, enable, (re)start, wait."""

    name = "systemd_unit"
    target = "ct"
    requires = ("ct_start",)

    def plan(self, ctx: Context) -> Plan:
        s = ctx.subject()
        if not s[Binary].present:
            raise NotRemediable(
                f"{BINARY} is missing in CT {ctx.target.ctid}: install Ollama first "
                "(the plan starts from an installed binary); nothing was changed"
            )
        unit = s[UnitState]
        _refuse_units_we_cannot_replace(unit.get("LoadState"), unit.get("FragmentPath"))
        want = render.template("ollama.service")
        files = s[UnitFiles].files
        have = files[UNIT_PATH].text if UNIT_PATH in files else None
        edited = {}
        for path, state in files.items():
            if path == UNIT_PATH:
                continue
            new = dropins.without_overrides(state.text)
            if new is not None or state.unsafe():
                edited[path] = state.text if new is None else new
        foreign = sorted(p for p in edited if not p.startswith(DROPIN_DIRS))
        if foreign:
            raise NotRemediable(
                f"drop-ins outside {' and '.join(DROPIN_DIRS)} override the plan or are "
                f"writable by others: {', '.join(foreign)} (vendor files are not ours to edit); "
                "nothing was changed"
            )
        host = host_in_force(unit, s[UnitFiles], s[MainProcessEnv])
        _refuse_values_not_ours(host, rewrites_unit=have != want)
        rewrite = have != want or bool(UNIT_PATH in files and files[UNIT_PATH].unsafe())
        plan = Plan(settle_s=START_TIMEOUT_S)
        if have != want:
            plan.diffs.append(unified_diff(UNIT_PATH, have, want))
        elif rewrite:
            plan.commands.append(f"install {UNIT_PATH} as root:root 0644")
        for path, new in edited.items():
            if new != files[path].text:
                plan.diffs.append(unified_diff(path, files[path].text, new))
            else:
                plan.commands.append(f"install {path} as root:root 0644")
        reload = rewrite or bool(edited) or unit.get("NeedDaemonReload") == "yes"
        enable = s[UnitEnabled].state != "enabled"
        sick = unhealthy(s)
        restart = reload or sick is not None
        steps = Steps(
            unit=want if rewrite else None,
            dropins=edited,
            reload=reload,
            enable=enable,
            restart=restart,
            was_active=unit.get("ActiveState") == "active",
        )
        if reload:
            plan.commands.append("systemctl daemon-reload")
        if enable:
            plan.commands.append("systemctl enable ollama.service")
        if restart:
            # Decided from nothing read before the change: a restart always forgets the old
            # invocations' failures and start limit (a crash loop's pending restart included).
            plan.commands.append("systemctl reset-failed ollama.service")
            plan.commands.append(f"systemctl restart ollama.service  # {sick or 'unit changed'}")
        if not plan.empty:
            served = _model_names(s)
            plan.apply = lambda: self._apply(ctx, steps)
            plan.rollback = lambda: self._rollback(ctx, steps)
            plan.keeps = lambda: (_stable(ctx) or _models_kept(ctx, served)) if restart else None
        return plan

    def _apply(self, ctx: Context, steps: Steps) -> None:
        ct = ctx.ct
        ct.clean_temps(UNIT_PATH, *steps.dropins)
        if steps.unit is not None:
            must(ct.install(STAGING, steps.unit), f"could not write {STAGING}")
            must(ct.run(f"systemd-analyze verify {STAGING}"), "systemd-analyze verify rejects it")
            must(ct.install(UNIT_PATH, steps.unit), f"could not write {UNIT_PATH}")
            steps.changed = True
        for path, text in steps.dropins.items():
            must(ct.install(path, text), f"could not rewrite {path}")
            steps.changed = True
        if steps.reload:
            must(ct.run("systemctl daemon-reload"), "daemon-reload failed")
        steps.changed = True  # from here on, systemd's state may differ
        if steps.enable:
            must(ct.run("systemctl enable ollama.service"), "enable failed")
        if steps.restart:  # a restart merged into a pending auto-restart keeps NRestarts
            must(ct.run("systemctl reset-failed ollama.service"), "reset-failed failed")
            must(ct.run("systemctl restart ollama.service"), "restart failed")

    @staticmethod
    def _rollback(ctx: Context, steps: Steps) -> str:
        """Restore the files, undo the enable, and leave the service as it was found."""
        ct = ctx.ct
        journal = ct.run("journalctl -u ollama.service -n 15 --no-pager -o cat").output
        if not steps.changed:  # it failed before its first change: nothing to put back
            return f"nothing was changed, the service left as it was. Journal:\n{journal}"
        undo = [ct.restore(path) for path in (UNIT_PATH, *steps.dropins)]
        if steps.enable:
            undo.append(ct.run("systemctl disable ollama.service"))
        undo.append(ct.run("systemctl daemon-reload"))
        if steps.restart and steps.was_active:  # back to the old unit's process
            undo.append(ct.run("systemctl restart ollama.service"))
        elif steps.restart:  # it was not running before: do not leave it running
            undo.append(ct.run("systemctl stop ollama.service"))
        done = rollback_outcome(undo, "restored the previous unit")
        return f"{done}. Journal:\n{journal}"


def _refuse_units_we_cannot_replace(load_state: str, fragment: str) -> None:
    """A masked unit, or one systemd reads from a place that shadows ours, is refused."""
    if load_state == "masked":
        raise NotRemediable(
            "ollama.service is masked (someone chose that it never runs): "
            "`systemctl unmask ollama.service` first if it should; nothing was changed"
        )
    if fragment and fragment != UNIT_PATH and not fragment.startswith(VENDOR_DIRS):
        raise NotRemediable(
            f"systemd reads ollama.service from {fragment}, not {UNIT_PATH}: writing ours "
            "would change nothing it runs; remove or move that unit first; nothing was changed"
        )


def _refuse_values_not_ours(host: systemd_env.Setting, rewrites_unit: bool) -> None:
    """OLLAMA_HOST in force from a source the plan does not own is refused before any change:
    writing our unit and drop-ins, and restarting, would bind the same place again."""
    bind = ollama_host(host.value or "")
    if bind.all_interfaces and bind.port == PORT:
        return
    kinds = systemd_env
    ours = host.kind in (kinds.UNIT, kinds.DROPIN, kinds.UNSET, kinds.DEFAULT) or (
        host.kind in (kinds.MANAGER, kinds.PASSED) and rewrites_unit  # our Environment= wins
    )
    if not ours:
        raise NotRemediable(
            f"{host.shown}, which the plan does not own: change it there (the plan wants "
            f"OLLAMA_HOST={UNIT.ollama_host}); nothing was changed, the service not restarted"
        )


def _stable(ctx: Context) -> str | None:
    """None when the verified process still runs STABLE_S later (same invocation, healthy):
    a service that answers once and then dies is not converged."""
    before = ctx.subject()[UnitState].get("InvocationID")
    time.sleep(STABLE_S)
    ctx.refresh()
    now = ctx.subject()[UnitState]
    if now.get("InvocationID") != before or not now.running:
        return (
            f"the service did not stay up {STABLE_S:.0f}s after it was verified: "
            f"{now.state}, restarted {now.restarts} times by Restart="
        )
    active = ctx.fleet.judge(load()["unit_active"], ctx.target, EvidenceLog(), live=True)
    return None if active.ok else f"unit_active {STABLE_S:.0f}s later: {active.line()}"


def _model_names(s: Subject) -> set[str]:
    models, problems = tags_problems(s[DirectTags].reply)
    return set() if problems else {str(m.get("name")) for m in models}


def _models_kept(ctx: Context, before: set[str]) -> str | None:
    """None while the service serves every model it served before the change."""
    lost = sorted(before - _model_names(ctx.subject()))
    if not lost:
        return None
    return (
        f"after the change the service no longer serves {len(lost)} model(s): {', '.join(lost)}. "
        "Ollama reads $HOME/.ollama/models of the unit's User (the plan's User=root reads "
        "/root/.ollama/models); keep them with an OLLAMA_MODELS drop-in pointing at their "
        "directory, or move them there"
    )

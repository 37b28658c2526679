"""systemd_unit: the plan's ollama.service in effect, enabled, running and healthy."""

from __future__ import annotations

import re
from dataclasses import dataclass

from compliance import checks
from compliance.probes import (
    BINARY,
    BINARY_PRESENT,
    UNIT_ENABLED,
    UNIT_FILES,
    UNIT_PATH,
    UNIT_SHOW,
)
from compliance.verdict import Subject
from remediation import render
from remediation.base import (
    Context,
    Fix,
    FixError,
    NotRemediable,
    Plan,
    rollback_outcome,
    unified_diff,
)

STAGING = "/run/ollama-compliance/ollama.service"
OVERRIDES = re.compile(
    r"^\s*(ExecStart|Restart|RestartSec|User|Group)\s*=|^\s*Environment\s*=.*OLLAMA_HOST", re.M
)
START_TIMEOUT_S = 20.0
SERVICE_HEALTH = (checks.unit_active, checks.journal_clean, checks.listener, checks.direct_api)


@dataclass(frozen=True)
class Steps:
    """What the plan changes: files to write or remove, and the service commands it needs."""

    unit: str | None  # the unit's new content, None when it already matches
    overriding: tuple[str, ...]
    reload: bool
    enable: bool
    restart: bool
    reset_failed: bool
    was_active: bool


def unhealthy(s: Subject) -> str | None:
    """The first service-health check that fails (a restart is the remedy), or None."""
    for judge in SERVICE_HEALTH:
        verdict = judge(s)
        if not verdict.ok:
            return f"{judge.__name__}: {verdict.line()}"
    return None


class SystemdUnit(Fix):
    """Write the unit, drop overriding drop-ins, verify, reload, enable, (re)start, wait."""

    name = "systemd_unit"
    target = "ct"
    requires = ("ct_start",)

    def plan(self, ctx: Context) -> Plan:
        s = ctx.subject()
        if not s.get(BINARY_PRESENT):
            raise NotRemediable(
                f"{BINARY} is missing in CT {ctx.container.ctid}: install Ollama first "
                "(the plan starts from an installed binary); nothing was changed"
            )
        want = render.template("ollama.service")
        files = s.get(UNIT_FILES)
        have = files.get(UNIT_PATH)
        overriding = tuple(
            p for p, text in files.items() if p != UNIT_PATH and OVERRIDES.search(text)
        )
        unit = s.get(UNIT_SHOW)
        plan = Plan(settle_s=START_TIMEOUT_S)
        if have != want:
            plan.diffs.append(unified_diff(UNIT_PATH, have, want))
        for path in overriding:
            plan.diffs.append(unified_diff(path, files[path], None))
        reload = bool(plan.diffs) or unit.get("NeedDaemonReload") == "yes"
        enable = s.get(UNIT_ENABLED) != "enabled"
        sick = unhealthy(s)
        restart = reload or sick is not None
        steps = Steps(
            unit=want if have != want else None,
            overriding=overriding,
            reload=reload,
            enable=enable,
            restart=restart,
            reset_failed=restart and unit.restarts > 0,
            was_active=unit.get("ActiveState") == "active",
        )
        if reload:
            plan.commands.append("systemctl daemon-reload")
        if enable:
            plan.commands.append("systemctl enable ollama.service")
        if restart:
            plan.commands.append(f"systemctl restart ollama.service  # {sick or 'unit changed'}")
        if steps.reset_failed:
            plan.commands.append(
                "systemctl reset-failed ollama.service  # forget the old crash loop's restarts"
            )
        if not plan.empty:
            plan.apply = lambda: self._apply(ctx, steps)
            plan.rollback = lambda: self._rollback(ctx, steps)
        return plan

    def _apply(self, ctx: Context, steps: Steps) -> None:
        ct = ctx.ct
        ct.clean_temps(UNIT_PATH, *steps.overriding)
        if steps.unit is not None:
            self._must(ct.install(STAGING, steps.unit).rc == 0, f"could not write {STAGING}")
            verify = ct.run(f"systemd-analyze verify {STAGING}")
            if verify.rc != 0:
                raise FixError(f"systemd-analyze verify rejects the unit: {verify.output}")
            self._must(ct.install(UNIT_PATH, steps.unit).rc == 0, "could not write the unit")
        for path in steps.overriding:
            self._must(ct.remove(path).rc == 0, f"could not remove {path}")
        if steps.reload:
            self._must(ct.run("systemctl daemon-reload").rc == 0, "daemon-reload failed")
        if steps.enable:
            self._must(ct.run("systemctl enable ollama.service").rc == 0, "enable failed")
        if steps.restart:
            self._must(ct.run("systemctl restart ollama.service").rc == 0, "restart failed")
        if steps.reset_failed:  # a restart issued during auto-restart keeps NRestarts
            self._must(
                ct.run("systemctl reset-failed ollama.service").rc == 0, "reset-failed failed"
            )

    @staticmethod
    def _rollback(ctx: Context, steps: Steps) -> str:
        """Restore the files, undo the enable, and leave the service as it was found."""
        ct = ctx.ct
        journal = ct.run("journalctl -u ollama.service -n 15 --no-pager -o cat").output
        undo = [ct.restore(path) for path in (UNIT_PATH, *steps.overriding)]
        if steps.enable:
            undo.append(ct.run("systemctl disable ollama.service"))
        undo.append(ct.run("systemctl daemon-reload"))
        if steps.was_active:
            undo.append(ct.run("systemctl restart ollama.service"))
        elif steps.restart:  # it was not running before: do not leave it running
            undo.append(ct.run("systemctl stop ollama.service"))
        done = rollback_outcome(undo, "restored the previous unit")
        return f"{done}. Journal:\n{journal}"

    @staticmethod
    def _must(ok: bool, why: str) -> None:
        if not ok:
            raise FixError(why)

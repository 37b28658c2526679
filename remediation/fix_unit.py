"""systemd_unit: the plan's ollama.service in effect, enabled, running and healthy."""

from __future__ import annotations

import re
from dataclasses import dataclass

from compliance import parsers, probes, service_health
from compliance.facts import FactStore
from remediation import render
from remediation.base import (
    Context,
    Fix,
    FixError,
    NotRemediable,
    Plan,
    rollback_outcome,
    unified_diff,
    wait_until,
)

UNIT_PATH = "/etc/systemd/system/ollama.service"
DROPIN_DIRS = ("/etc/systemd/system/ollama.service.d", "/run/systemd/system/ollama.service.d")
STAGING = "/run/ollama-compliance/ollama.service"
OVERRIDES = re.compile(
    r"^\s*(ExecStart|Restart|RestartSec|User|Group)\s*=|^\s*Environment\s*=.*OLLAMA_HOST", re.M
)
START_TIMEOUT_S = 20.0


def health(store: FactStore, fresh: bool = True) -> str | None:
    """None when the unit runs healthy by the audit's own conditions, else why not.

    Re-reads the facts when `fresh` (waiting after a restart).
    """
    if fresh:
        store.invalidate()
    return service_health.unhealthy(store)


@dataclass(frozen=True)
class Steps:
    """Which service commands the plan needs."""

    reload: bool
    enable: bool
    restart: bool
    was_active: bool


class SystemdUnit(Fix):
    """Write the unit, drop overriding drop-ins, verify, reload, enable, (re)start, wait."""

    name = "systemd_unit"
    target = "ct"
    requires = ("ct_start",)

    def plan(self, ctx: Context) -> Plan:
        store = ctx.container.store
        if not store.get("binary").ok:
            raise NotRemediable(
                f"{probes.BINARY} is missing in CT {ctx.container.ctid}: install Ollama first "
                "(the plan starts from an installed binary); nothing was changed"
            )
        want = render.template("ollama.service")
        listing = ctx.ct.run(
            "for f in " + " ".join(f"{d}/*.conf" for d in DROPIN_DIRS) + '; do [ -f "$f" ] && '
            'echo "$f"; done; true'
        )
        dropins = [line for line in listing.output.splitlines() if line.startswith("/")]
        files = ctx.ct.read(UNIT_PATH, *dropins)
        overriding = [p for p in dropins if OVERRIDES.search(files.get(p) or "")]
        props = parsers.systemctl_show(store.get("unit_show").output)
        enabled = store.get("unit_enabled").output.strip() == "enabled"
        unhealthy = health(store, fresh=False)

        plan = Plan()
        changes_files = files[UNIT_PATH] != want or bool(overriding)
        if files[UNIT_PATH] != want:
            plan.diffs.append(unified_diff(UNIT_PATH, files[UNIT_PATH], want))
        for path in overriding:
            plan.diffs.append(unified_diff(path, files[path], None))
        reload = changes_files or props.get("NeedDaemonReload") == "yes"
        if reload:
            plan.commands.append("systemctl daemon-reload")
        if not enabled:
            plan.commands.append("systemctl enable ollama.service")
        restart = reload or unhealthy is not None
        if restart:
            why = "unit changed" if reload else unhealthy
            plan.commands.append(f"systemctl restart ollama.service  # {why}")
        if not plan.empty:
            steps = Steps(reload, not enabled, restart, props.get("ActiveState") == "active")
            plan.apply = lambda: self._apply(ctx, want, overriding, steps)
        return plan

    def _apply(self, ctx: Context, want: str, overriding: list[str], steps: Steps) -> None:
        ct = ctx.ct
        ct.clean_temps(UNIT_PATH, *overriding)
        changed = [UNIT_PATH, *overriding]
        current = ct.read(UNIT_PATH)[UNIT_PATH]
        if current != want:
            self._must(ct.install(STAGING, want).rc == 0, f"could not write {STAGING}")
            verify = ct.run(f"systemd-analyze verify {STAGING}")
            if verify.rc != 0:
                raise FixError(f"systemd-analyze verify rejects the unit: {verify.output}")
        try:
            if current != want:
                self._must(ct.install(UNIT_PATH, want).rc == 0, "could not write the unit")
            for path in overriding:
                self._must(ct.remove(path).rc == 0, f"could not remove {path}")
            if steps.reload:
                self._must(ct.run("systemctl daemon-reload").rc == 0, "daemon-reload failed")
            if steps.enable:
                self._must(ct.run("systemctl enable ollama.service").rc == 0, "enable failed")
            if steps.restart:
                self._must(ct.run("systemctl restart ollama.service").rc == 0, "restart failed")
            reason = wait_until(lambda: health(ctx.container.store), START_TIMEOUT_S)
            if reason:
                raise FixError(f"not healthy {START_TIMEOUT_S:.0f}s after restart: {reason}")
        except FixError as failure:
            journal = ct.run("journalctl -u ollama.service -n 15 --no-pager -o cat").output
            undo = [ct.restore(path) for path in changed]
            if steps.enable:
                undo.append(ct.run("systemctl disable ollama.service"))
            undo.append(ct.run("systemctl daemon-reload"))
            if steps.was_active:
                undo.append(ct.run("systemctl restart ollama.service"))
            done = rollback_outcome(undo, "restored the previous unit")
            raise FixError(f"{failure}; {done}. Journal:\n{journal}") from None

    @staticmethod
    def _must(ok: bool, why: str) -> None:
        if not ok:
            raise FixError(why)

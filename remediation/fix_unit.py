"""systemd_unit: the plan's ollama.service in effect, enabled, running and healthy."""

from __future__ import annotations

from dataclasses import dataclass

from compliance import checks
from compliance.ollama_api import tags_problems
from compliance.probes import (
    BINARY,
    BINARY_PRESENT,
    DIRECT_TAGS,
    DROPIN_DIRS,
    UNIT_ENABLED,
    UNIT_FILES,
    UNIT_PATH,
    UNIT_SHOW,
)
from compliance.verdict import Subject
from remediation import dropins, render
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
VENDOR_DIRS = ("/lib/systemd/system/", "/usr/lib/systemd/system/")  # ours in /etc overrides
START_TIMEOUT_S = 20.0
SERVICE_HEALTH = (checks.unit_active, checks.journal_clean, checks.listener, checks.direct_api)


@dataclass(frozen=True)
class Steps:
    """What the plan changes: files to write or remove, and the service commands it needs."""

    unit: str | None  # the unit's new content, None when it already matches
    dropins: dict[str, str]  # drop-in path -> its content without the contradicting settings
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
        unit = s.get(UNIT_SHOW)
        _refuse_units_we_cannot_replace(unit.get("LoadState"), unit.get("FragmentPath"))
        want = render.template("ollama.service")
        files = s.get(UNIT_FILES)
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
        enable = s.get(UNIT_ENABLED) != "enabled"
        sick = unhealthy(s)
        restart = reload or sick is not None
        steps = Steps(
            unit=want if rewrite else None,
            dropins=edited,
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
            served = _model_names(s)
            plan.apply = lambda: self._apply(ctx, steps)
            plan.rollback = lambda: self._rollback(ctx, steps)
            plan.keeps = lambda: _models_kept(ctx, served) if restart else None
        return plan

    def _apply(self, ctx: Context, steps: Steps) -> None:
        ct = ctx.ct
        ct.clean_temps(UNIT_PATH, *steps.dropins)
        if steps.unit is not None:
            self._must(ct.install(STAGING, steps.unit).rc == 0, f"could not write {STAGING}")
            verify = ct.run(f"systemd-analyze verify {STAGING}")
            if verify.rc != 0:
                raise FixError(f"systemd-analyze verify rejects the unit: {verify.output}")
            self._must(ct.install(UNIT_PATH, steps.unit).rc == 0, "could not write the unit")
        for path, text in steps.dropins.items():
            self._must(ct.install(path, text).rc == 0, f"could not rewrite {path}")
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
        undo = [ct.restore(path) for path in (UNIT_PATH, *steps.dropins)]
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


def _model_names(s: Subject) -> set[str]:
    models, problems = tags_problems(s.get(DIRECT_TAGS))
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

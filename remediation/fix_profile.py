"""profile_d: /etc/profile.d/ollama.sh as the plan writes it (0644 root:root)."""

from __future__ import annotations

from shlex import quote

from compliance.catalogue import Check
from compliance.facts.shell import Binary, ProfileScript
from compliance.plan import BINARY, PROFILE_SCRIPT
from remediation import render
from remediation.base import Context, Fix, NotRemediable, Plan, must, unified_diff

PLAN_OWNER, PLAN_MODE = "root:root", 0o644


class ProfileD(Fix):
    """Install the plan's PATH script; verified when a login shell has /usr/local/bin."""

    name = "profile_d"
    target = "ct"
    requires = ("ct_start",)

    def plan(self, ctx: Context) -> Plan:
        want = render.template("ollama.sh")
        state = ctx.subject()[ProfileScript]
        plan = Plan()
        if not state.exists or state.text != want:
            plan.diffs.append(
                unified_diff(PROFILE_SCRIPT, state.text if state.exists else None, want)
            )
        elif state.link:
            plan.commands.append(
                f"install {PROFILE_SCRIPT} as a regular file (now a symlink to {state.link})"
            )
        elif (state.owner, state.mode) != (PLAN_OWNER, PLAN_MODE):
            plan.commands.append(
                f"install {PROFILE_SCRIPT} as {PLAN_OWNER} {PLAN_MODE:04o} "
                f"(now {state.owner} {state.mode:04o})"
            )
        if not plan.empty:
            plan.apply = lambda: self._apply(ctx, want)
            plan.rollback = lambda: _restored(ctx, PROFILE_SCRIPT)
        elif not ctx.subject()[Binary].present:
            raise NotRemediable(
                f"{BINARY} is missing in CT {ctx.target.ctid}: the PATH is right but there is "
                "no ollama to find; install Ollama first (nothing was changed)"
            )
        return plan

    def verifying(self, ctx: Context) -> list[Check]:
        """which_ollama too, unless the binary is missing (no PATH can find it then)."""
        has_binary = ctx.subject()[Binary].present
        return [c for c in super().verifying(ctx) if has_binary or c.id != "which_ollama"]

    def _apply(self, ctx: Context, want: str) -> None:
        ctx.ct.clean_temps(PROFILE_SCRIPT)
        must(
            ctx.ct.run(f"printf '%s' {quote(want)} | sh -n", label="sh -n <candidate>"),
            "candidate fails `sh -n`",
        )
        must(ctx.ct.install(PROFILE_SCRIPT, want), f"could not write {PROFILE_SCRIPT}")


def _restored(ctx: Context, path: str) -> str:
    step = ctx.ct.restore(path)
    if step is None:
        return "nothing was changed"
    return (
        "restored the previous file" if step.rc == 0 else f"restore of {path} failed: {step.output}"
    )

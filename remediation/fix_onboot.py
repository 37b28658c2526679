"""ct_onboot (hardened): the container starts when the host boots."""

from __future__ import annotations

from shlex import quote

from compliance.facts.proxmox import PctConfig
from remediation.base import Context, Fix, NotRemediable, Plan, must


class CtOnboot(Fix):
    """`pct set <ctid> -onboot 1`; verified by ct_onboot (`onboot: 1` in `pct config`)."""

    name = "ct_onboot"
    target = "host"

    def plan(self, ctx: Context) -> Plan:
        if ctx.fleet.settings.transport != "pct":
            raise NotRemediable(
                "start at boot is a Proxmox setting (pct set -onboot 1); on a plain LXC host "
                "set lxc.start.auto = 1 in the container's config; nothing was changed"
            )
        if ctx.subject()[PctConfig].get("onboot") == "1":
            return Plan()
        command = f"pct set {quote(ctx.target.ctid)} -onboot 1"
        return Plan(
            commands=[command],
            apply=lambda: self._apply(ctx, command),
            rollback=lambda: self._rollback(ctx),
        )

    @staticmethod
    def _apply(ctx: Context, command: str) -> None:
        must(ctx.host.run(command), f"{command} failed")

    @staticmethod
    def _rollback(ctx: Context) -> str:
        step = ctx.host.run(f"pct set {quote(ctx.target.ctid)} -onboot 0")
        return "onboot set back to 0" if step.rc == 0 else f"rollback failed: {step.output}"

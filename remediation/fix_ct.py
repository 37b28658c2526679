"""ct_start: the container runs (every container fix needs it)."""

from __future__ import annotations

from shlex import quote

from compliance.facts.proxmox import CtStatus
from remediation.base import Context, Fix, FixError, NotRemediable, Plan, must, wait_until

BOOT_TIMEOUT_S = 40.0


class CtStart(Fix):
    """Start a stopped container and wait until systemd inside it is up."""

    name = "ct_start"
    target = "host"

    def plan(self, ctx: Context) -> Plan:
        status = ctx.subject()[CtStatus].status
        if status == "running":
            return Plan()
        if not status:
            raise NotRemediable(f"CT {ctx.target.ctid} does not exist on this host")
        start = self._start_command(ctx)
        return Plan(commands=[start], apply=lambda: self._apply(ctx, start))

    @staticmethod
    def _start_command(ctx: Context) -> str:
        ctid = quote(ctx.target.ctid)
        if ctx.fleet.settings.transport == "pct":
            return f"pct start {ctid}"
        return f"lxc-start -n {ctid}"

    def _apply(self, ctx: Context, start: str) -> None:
        must(ctx.host.run(start), f"{start} failed")

        def booted() -> str | None:
            ctx.refresh()
            if ctx.target.status(live=True) != "running":
                return "not running yet"
            state = ctx.ct.run("systemctl is-system-running").output.strip()
            return None if state in ("running", "degraded") else f"systemd is {state}"

        reason = wait_until(booted, BOOT_TIMEOUT_S, every=1.0)
        if reason:
            raise FixError(f"CT {ctx.target.ctid} did not boot in {BOOT_TIMEOUT_S:.0f}s: {reason}")

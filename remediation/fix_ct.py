"""ct_start: the container runs (every container fix needs it)."""

from __future__ import annotations

from shlex import quote

from remediation.base import Context, Fix, FixError, NotRemediable, Plan, wait_until

BOOT_TIMEOUT_S = 40.0


class CtStart(Fix):
    """Start a stopped container and wait until systemd inside it is up."""

    name = "ct_start"
    target = "pve"

    def plan(self, ctx: Context) -> Plan:
        _site, probes = ctx.subject().container
        status = ctx.subject().get(probes.status)
        if status == "running":
            return Plan()
        if not status:
            raise NotRemediable(f"CT {ctx.container.ctid} does not exist on this host")
        start = self._start_command(ctx)
        return Plan(commands=[start], apply=lambda: self._apply(ctx, start))

    @staticmethod
    def _start_command(ctx: Context) -> str:
        ctid = quote(ctx.container.ctid)
        if ctx.fleet.settings.transport == "pct":
            return f"pct start {ctid}"
        return f"lxc-start -n {ctid}"

    def _apply(self, ctx: Context, start: str) -> None:
        step = ctx.pve.run(start)
        if step.rc != 0:
            raise FixError(f"{start} failed: {step.output}")

        def booted() -> str | None:
            ctx.refresh()
            if ctx.container.status() != "running":
                return "not running yet"
            state = ctx.ct.run("systemctl is-system-running").output.strip()
            return None if state in ("running", "degraded") else f"systemd is {state}"

        reason = wait_until(booted, BOOT_TIMEOUT_S, every=1.0)
        if reason:
            raise FixError(
                f"CT {ctx.container.ctid} did not boot in {BOOT_TIMEOUT_S:.0f}s: {reason}"
            )

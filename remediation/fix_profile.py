"""profile_d: /etc/profile.d/ollama.sh as the plan writes it (0644 root:root)."""

from __future__ import annotations

from shlex import quote

from compliance.probes import BINARY, PROFILE_SCRIPT
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


class ProfileD(Fix):
    """Install the plan's PATH script; verify a login shell then has /usr/local/bin."""

    name = "profile_d"
    target = "ct"
    requires = ("ct_start",)

    def plan(self, ctx: Context) -> Plan:
        want = render.template("ollama.sh")
        # Owner and mode from the audit's fact; the content read exactly (facts drop the final
        # newline, as $(...) does, and a missing final newline is a difference worth fixing).
        stat = ctx.container.store.get("profile").output.partition("\n")[0]
        have = ctx.ct.read(PROFILE_SCRIPT)[PROFILE_SCRIPT]
        plan = Plan()
        if have != want:
            plan.diffs.append(unified_diff(PROFILE_SCRIPT, have, want))
        elif not stat.startswith("root:root 644 "):
            plan.commands.append(f"install {PROFILE_SCRIPT} as root:root 0644 (now {stat})")
        if not plan.empty:
            plan.apply = lambda: self._apply(ctx, want)
        elif not ctx.container.store.get("binary").ok:
            raise NotRemediable(
                f"{BINARY} is missing in CT {ctx.container.ctid}: the PATH is right but there is "
                "no ollama to find; install Ollama first (nothing was changed)"
            )
        return plan

    def _apply(self, ctx: Context, want: str) -> None:
        ctx.ct.clean_temps(PROFILE_SCRIPT)
        syntax = ctx.ct.run(f"printf '%s' {quote(want)} | sh -n", label="sh -n <candidate>")
        if syntax.rc != 0:
            raise FixError(f"candidate fails `sh -n`: {syntax.output}")
        step = ctx.ct.install(PROFILE_SCRIPT, want)
        if step.rc != 0:
            raise FixError(f"could not write {PROFILE_SCRIPT}: {step.output}")
        login = ctx.ct.run(ctx.container.store.probe("login_path").command)  # the audit's own
        if "/usr/local/bin" not in login.output.split(":"):
            done = rollback_outcome([ctx.ct.restore(PROFILE_SCRIPT)], "restored the previous file")
            raise FixError(
                f"a login shell still lacks /usr/local/bin (PATH={login.output}): another login "
                f"script resets PATH after {PROFILE_SCRIPT}; {done}"
            )

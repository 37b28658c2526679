"""One nginx round on a host: every container's site written, one `nginx -t`, one reload.

Staged so that a bad site never reaches a reload: all sites are written, then nginx -t runs
once; when it fails in a site of this round, that site alone is restored (its fix fails, named)
and nginx -t runs again with the others; a failure no site of the round can be blamed for
restores them all. Only a tree that passed nginx -t is reloaded, once. Then every site's checks
are verified at once; the sites that do not verify are restored together and nginx reloaded
once more. Anything unexpected (an interruption included) restores every file the round wrote.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from remediation.base import (
    CHANGED,
    FAILED,
    NOT_REMEDIABLE,
    UNCHANGED,
    Context,
    FixError,
    NotRemediable,
    Outcome,
    Plan,
    concurrently,
    must,
    one_line,
    rollback_outcome,
    wait_until,
)
from remediation.remote import Remote, Step

if TYPE_CHECKING:
    from remediation.fix_nginx import NginxSite, Steps


@dataclass(eq=False)
class Member:
    """One container's part of the round: its plan, and how it ended."""

    ctx: Context
    began: float
    wall: float
    marks: tuple[int, int]
    plan: Plan = field(default_factory=Plan)
    steps: Steps | None = None
    status: str = ""
    message: str = ""

    @property
    def paths(self) -> tuple[str, str]:
        return self.ctx.target.site.site_file, self.ctx.target.site.site_link

    def end(self, status: str, message: str) -> None:
        self.status, self.message = status, message

    def restore(self) -> list[Step | None]:
        return [self.ctx.host.restore(path) for path in self.paths]

    def outcome(self, fix: str) -> Outcome:
        ctx = self.ctx
        steps = ctx.ct.steps[self.marks[0] :] + ctx.host.steps[self.marks[1] :]
        seconds = time.monotonic() - self.began
        label = ctx.target.host.label
        return Outcome(fix, label, self.status, self.message, self.plan, steps, seconds, self.wall)


def emerg(step: Step) -> str:
    """nginx's own error line, not the `syntax is ok` lines around it."""
    return next((ln for ln in step.output.splitlines() if "[emerg]" in ln), "") or step.output


def blamed(error: str, staged: list[Member]) -> Member | None:
    """The member whose site or link nginx names in its error, if exactly one is named."""
    named = [
        m for m in staged if any(f"{path}:" in error or f'"{path}"' in error for path in m.paths)
    ]
    return named[0] if len(named) == 1 else None


def run(fix: NginxSite, ctxs: list[Context]) -> list[Outcome]:
    """The fix for every container at once; the outcomes in the order of `ctxs`."""
    members = [
        Member(c, time.monotonic(), time.time(), (len(c.ct.steps), len(c.host.steps))) for c in ctxs
    ]

    def planned(member: Member) -> None:
        try:
            member.plan, member.steps = fix._plan(member.ctx)
            if member.plan.empty:
                member.end(UNCHANGED, "already as the plan wants: nothing to do")
        except NotRemediable as why:
            member.end(NOT_REMEDIABLE, str(why))
        except Exception as why:
            member.end(FAILED, one_line(why))

    concurrently(planned, members)
    active = [m for m in members if not m.status]
    if active:
        _apply(fix, active)
    return [m.outcome(fix.name) for m in members]


def _apply(fix: NginxSite, active: list[Member]) -> None:
    """Write, validate once, reload once, verify; restore what did not make it."""
    written: list[Member] = []
    try:
        concurrently(lambda m: _write(fix, m, written), active)
        staged = _validated([m for m in active if m in written and not m.status])
        if not staged:
            return
        pve, first = staged[0].ctx.host, staged[0].steps
        assert first is not None
        for member in staged:
            assert member.steps is not None
            member.steps.reloaded = True
        must(pve.run(first.reload()), f"`{first.reload()}` failed")
        concurrently(lambda m: _verify(fix, m), staged)
        failed = [m for m in staged if m.status]
        if failed:
            undo = _restore(failed, pve, keep_running=len(failed) < len(staged) or first.running)
            for member in failed:
                member.message = f"{member.message}; {undo}"
        for member in staged:
            if not member.status:
                member.end(CHANGED, f"applied and verified ({len(staged)} sites, one reload)")
    except BaseException as failure:
        undo = "nothing to undo"
        if written:
            ours = [m for m in active if m in written]  # the members' order, not the threads'
            first_steps = ours[0].steps
            running = first_steps.running if first_steps is not None else True
            undo = _restore(ours, ours[0].ctx.host, keep_running=running)
        for member in active:
            if member.status in ("", CHANGED):
                member.end(FAILED, f"{one_line(failure)}; {undo}")
            member.ctx.refresh()
        if not isinstance(failure, Exception):
            raise


def _write(fix: NginxSite, member: Member, written: list[Member]) -> None:
    """Stage one member's files (nginx does not read them until the round's reload)."""
    assert member.steps is not None
    try:
        fix.write(member.ctx, member.steps)
    except FixError as why:
        undo = rollback_outcome(member.restore(), "restored the site and link")
        member.end(FAILED, f"{why}; {undo}, nginx not reloaded")
    finally:
        written.append(member)


def _validated(staged: list[Member]) -> list[Member]:
    """The members whose sites pass `nginx -t` together; a blamed one is restored and failed."""
    while staged:
        tested = staged[0].ctx.host.run("nginx -t")
        if tested.rc == 0:
            return staged
        error = emerg(tested)
        culprit = blamed(error, staged)
        if culprit is None:
            for member in staged:
                undo = rollback_outcome(member.restore(), "restored the site and link")
                member.end(
                    FAILED,
                    f"nginx -t fails with this round's sites in place, no site of it named: "
                    f"{error}; {undo}, nginx not reloaded",
                )
            return []
        undo = rollback_outcome(culprit.restore(), "restored the site and link")
        culprit.end(
            FAILED,
            f"nginx -t fails with our site {culprit.paths[0]} in place: {error}; {undo}, "
            "nginx not reloaded (the round's other sites went on without it)",
        )
        staged = [m for m in staged if m is not culprit]
    return []


def _verify(fix: NginxSite, member: Member) -> None:
    """Wait until the member's checks pass (or its wait runs out); a failure is its message."""
    ctx, plan = member.ctx, member.plan
    reason = wait_until(lambda: fix.unverified(ctx), plan.settle_s)
    if reason:
        member.end(FAILED, f"not verified {plan.settle_s:.0f}s after the change: {reason}")
        return
    try:
        lost = plan.keeps() if plan.keeps is not None else None
    except Exception as error:
        lost = one_line(error)
    if lost:
        member.end(FAILED, lost)


def _restore(members: list[Member], pve: Remote, keep_running: bool) -> str:
    """Restore these members' files; reload nginx once if it ran and the restored tree passes
    nginx -t (stop it only when it was stopped before and nothing of the round stays)."""
    undo = [step for member in members for step in member.restore()]
    for member in members:
        member.ctx.refresh()
    reloaded = any(m.steps is not None and m.steps.reloaded for m in members)
    steps = members[0].steps
    assert steps is not None
    return after_restore(pve, undo, steps, reloaded, keep_running)


def after_restore(
    pve: Remote, undo: list[Step | None], steps: Steps, reloaded: bool, running: bool
) -> str:
    """Once the files are back: nothing more if nginx never read ours; stop an nginx that was
    stopped before; else reload the restored config only if it passes `nginx -t`."""
    if not reloaded:
        return rollback_outcome(undo, "restored the site and link") + ", nginx not reloaded"
    if not running:
        stop = pve.run("systemctl stop nginx" if steps.systemd else "nginx -s quit")
        return rollback_outcome([*undo, stop], "restored the old config and stopped nginx")
    tested = pve.run("nginx -t")
    if tested.rc != 0:
        return rollback_outcome(undo, "restored the old files") + (
            "; the restored config fails nginx -t, so nginx was not reloaded"
        )
    undo.append(pve.run(steps.reload(running=True)))
    return rollback_outcome(undo, "restored the old config")

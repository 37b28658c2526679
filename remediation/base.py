"""What a fix is: it observes, plans only the difference, applies it safely, reports."""

from __future__ import annotations

import difflib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from compliance.catalogue import Check, answered_by
from compliance.catalogue.verdict import Subject
from compliance.report.evidence import EvidenceLog
from compliance.suite.fleet import Ct, Fleet
from remediation.remote import Remote, Step

CHANGED, UNCHANGED, PLANNED = "changed", "unchanged", "planned"
FAILED, NOT_REMEDIABLE = "failed", "not remediable"
PARALLEL = 16  # containers fixed at once on one host (their commands share 6 channels)
T = TypeVar("T")
R = TypeVar("R")


def concurrently(work: Callable[[T], R], items: list[T]) -> list[R]:
    """`work` of every item, at most PARALLEL at a time, results in the items' order."""
    if len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(items))) as pool:
        return list(pool.map(work, items))


class FixError(RuntimeError):
    """A fix could not finish; it restored what it had changed."""


class NotRemediable(RuntimeError):
    """The plan's fixes cannot repair this; nothing was changed."""


@dataclass
class Plan:
    """The difference a fix would close: file diffs and the commands that follow.

    `apply` makes the change; `rollback` undoes whatever of it happened and says how that
    went; `settle_s` bounds the wait for the fix's checks to pass after the change; `keeps`
    says what the change must not lose (a service serving fewer models is rolled back).
    """

    diffs: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    apply: Callable[[], None] | None = None
    rollback: Callable[[], str] | None = None
    settle_s: float = 10.0
    keeps: Callable[[], str | None] | None = None  # what must still hold once verified

    @property
    def empty(self) -> bool:
        return not self.diffs and not self.commands

    def text(self) -> str:
        return "\n".join([*self.diffs, *(f"$ {c}" for c in self.commands)])


@dataclass
class Outcome:
    """What running a fix did."""

    fix: str
    target: str
    status: str
    message: str
    plan: Plan
    steps: list[Step]
    seconds: float
    started: float = 0.0  # epoch seconds, for proving rounds on one host never overlap
    round: str = ""  # `start-end` (epoch seconds) of the round it ran in: one fix, several CTs

    def text(self) -> str:
        lines = [f"fix {self.fix} on {self.target}: {self.status} ({self.seconds:.1f}s)"]
        if self.message:
            lines.append(self.message)
        lines += self.plan.diffs
        if self.status == PLANNED:
            lines += [f"would run: $ {command}" for command in self.plan.commands]
        lines += [f"[{s.where}] $ {s.command}  -> exit {s.rc}" for s in self.steps]
        return "\n".join(lines)


def unified_diff(path: str, old: str | None, new: str | None) -> str:
    """A unified diff from what is there to what is wanted (/dev/null for absent)."""
    before = (old or "").splitlines(keepends=True)
    after = (new or "").splitlines(keepends=True)
    lines = difflib.unified_diff(
        before,
        after,
        fromfile=path if old is not None else "/dev/null",
        tofile=path if new is not None else "/dev/null",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines).rstrip("\n")


@dataclass
class Context:
    """What a fix needs: the fleet, the container it is for (`target`), and the remotes that
    change the container (`ct`) and its Proxmox host (`host`)."""

    fleet: Fleet
    target: Ct
    dry_run: bool
    ct: Remote
    host: Remote

    def subject(self) -> Subject:
        """The container and its host as they are now (the live view: a fix plans from it)."""
        return self.fleet.subject(self.target, live=True)

    def refresh(self) -> None:
        """Forget the live view: the next read sees the targets as they are now (the host's,
        shared with the other CTs' fixes of a round, is re-read once for all who wait)."""
        self.target.store.invalidate()
        self.target.runner.invalidate()
        self.target.host.store.stale_for_me()


def one_line(error: BaseException) -> str:
    """An exception as one line: its message, or its type when it has none."""
    return " ".join(str(error).split()) or type(error).__name__


class Fix(ABC):
    """One remediation of the fix catalogue.

    A fix plans from the facts alone (`plan` runs no command), applies its plan, then is
    verified by the checks it answers for, on fresh facts; anything else rolls it back.
    """

    name: str
    target: str  # where its commands run: "ct" or "host"
    requires: tuple[str, ...] = ()
    # Whether it changes what every CT of the host shares (nginx): it then holds the host's
    # lock besides its containers' (a CT's own config, start or inside holds only theirs).
    shares_host: bool = False

    @abstractmethod
    def plan(self, ctx: Context) -> Plan:
        """Plan only what differs from the facts (an empty plan = no change)."""

    def verifying(self, ctx: Context) -> list[Check]:
        """The checks that must pass for this fix to count as verified (in the run's profile)."""
        return answered_by(self.name, ctx.fleet.settings.profile)

    def unverified(self, ctx: Context) -> str | None:
        """None when every verifying check passes on fresh facts, else which fail and why.

        A read that fails (a target busy restarting) counts as "not yet", not as an error.
        """
        ctx.refresh()
        try:
            verdicts = [
                (c.id, ctx.fleet.judge(c, ctx.target, EvidenceLog(), live=True))
                for c in self.verifying(ctx)
            ]
        except Exception as error:
            return f"facts could not be read: {one_line(error)}"
        # A check that could not be judged (its CT is down) is not verified either.
        failing = [
            f"{name}: {v.line()}" for name, v in verdicts if not v.ok or (v.skipped and v.requested)
        ]
        return "; ".join(failing) or None

    def run_all(self, ctxs: list[Context]) -> list[Outcome]:
        """The fix for several containers of one host at once (one round): each in its own
        thread, since a container's fix shares nothing with another's."""
        return concurrently(self.run, ctxs)

    def run(self, ctx: Context) -> Outcome:
        """Plan, then (unless dry run) apply and verify; never raises for a failed fix."""
        began, wall = time.monotonic(), time.time()
        first = (len(ctx.ct.steps), len(ctx.host.steps))
        label = ctx.target.label if self.target == "ct" else ctx.target.host.label
        plan = Plan()
        try:
            plan = self.plan(ctx)
            if plan.empty:
                status, message = UNCHANGED, "already as the plan wants: nothing to do"
            elif ctx.dry_run:
                status, message = PLANNED, "dry run: nothing changed"
            else:
                self._apply_verified(ctx, plan)
                status, message = CHANGED, "applied and verified"
        except NotRemediable as why:
            status, message = NOT_REMEDIABLE, str(why)
        except Exception as why:  # a plan that could not be made changed nothing
            status, message = FAILED, one_line(why) if not isinstance(why, FixError) else str(why)
        seconds = time.monotonic() - began
        steps = ctx.ct.steps[first[0] :] + ctx.host.steps[first[1] :]
        return Outcome(self.name, label, status, message, plan, steps, seconds, wall)

    def _apply_verified(self, ctx: Context, plan: Plan) -> None:
        """Apply, wait until verified; on any error roll back, then raise one FixError."""
        assert plan.apply is not None
        try:
            plan.apply()
            reason = wait_until(lambda: self.unverified(ctx), plan.settle_s)
            if reason:
                raise FixError(f"not verified {plan.settle_s:.0f}s after the change: {reason}")
            lost = plan.keeps() if plan.keeps is not None else None
            if lost:
                raise FixError(lost)
        except BaseException as failure:
            undo = "nothing to undo"
            if plan.rollback is not None:
                try:
                    undo = plan.rollback()
                except Exception as error:
                    undo = f"rollback incomplete: {one_line(error)}"
            ctx.refresh()
            if not isinstance(failure, Exception):
                raise  # KeyboardInterrupt and the like: rolled back, then let through
            reason = str(failure) if isinstance(failure, FixError) else one_line(failure)
            raise FixError(f"{reason}; {undo}") from None


def must(step: Step, what: str) -> Step:
    """The step, if it succeeded; else a FixError saying `what` failed and the OS's reason."""
    if step.rc != 0:
        raise FixError(step.failure(what))
    return step


def rollback_outcome(steps: list[Step | None], done: str) -> str:
    """`done` if every rollback step succeeded, else which ones failed (never claim a restore)."""
    failed = [step for step in steps if step is not None and step.rc != 0]
    if not failed:
        return done
    return "rollback incomplete: " + "; ".join(
        s.failure(f"`{s.command}` exit {s.rc}") for s in failed
    )


def wait_until(check: Callable[[], str | None], seconds: float, every: float = 0.3) -> str | None:
    """Poll `check` (None = good, else the reason) until good or `seconds` pass."""
    deadline = time.monotonic() + seconds
    reason = check()
    while reason is not None and time.monotonic() < deadline:
        time.sleep(every)
        reason = check()
    return reason

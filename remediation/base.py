"""What a fix is: it observes, plans only the difference, applies it safely, reports."""

from __future__ import annotations

import difflib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from compliance.facts import GatherError
from compliance.targets import Container, Fleet
from remediation.remote import Remote, RemoteError, Step

CHANGED, UNCHANGED, PLANNED = "changed", "unchanged", "planned"
FAILED, NOT_REMEDIABLE = "failed", "not remediable"


class FixError(RuntimeError):
    """A fix could not finish; it restored what it had changed."""


class NotRemediable(RuntimeError):
    """The plan's fixes cannot repair this; nothing was changed."""


@dataclass
class Plan:
    """The difference a fix would close: file diffs and the commands that follow."""

    diffs: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    apply: Callable[[], None] | None = None

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
    started: float = 0.0  # epoch seconds, for proving fixes on one host never overlap

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
    """What a fix needs: the fleet, the container it is for, and its two remotes."""

    fleet: Fleet
    container: Container
    dry_run: bool
    ct: Remote
    pve: Remote


class Fix(ABC):
    """One remediation of the fix catalogue."""

    name: str
    target: str  # "ct" or "pve"
    requires: tuple[str, ...] = ()

    @abstractmethod
    def plan(self, ctx: Context) -> Plan:
        """Observe the target and plan only what differs (an empty plan = no change)."""

    def run(self, ctx: Context) -> Outcome:
        """Plan, then (unless dry run) apply; never raises for an expected failure."""
        began, wall = time.monotonic(), time.time()
        first = (len(ctx.ct.steps), len(ctx.pve.steps))
        label = ctx.container.label if self.target == "ct" else ctx.container.pve.label
        plan = Plan()
        try:
            plan = self.plan(ctx)
            if plan.empty:
                status, message = UNCHANGED, "already as the plan wants: nothing to do"
            elif ctx.dry_run:
                status, message = PLANNED, "dry run: nothing changed"
            else:
                assert plan.apply is not None
                plan.apply()
                status, message = CHANGED, "applied and verified"
        except NotRemediable as why:
            status, message = NOT_REMEDIABLE, str(why)
        except (FixError, RemoteError, GatherError) as why:
            status, message = FAILED, str(why)
        seconds = time.monotonic() - began
        steps = ctx.ct.steps[first[0] :] + ctx.pve.steps[first[1] :]
        return Outcome(self.name, label, status, message, plan, steps, seconds, wall)


def rollback_outcome(steps: list[Step | None], done: str) -> str:
    """`done` if every rollback step succeeded, else which ones failed (never claim a restore)."""
    failed = [step for step in steps if step is not None and step.rc != 0]
    if not failed:
        return done
    return "rollback incomplete: " + "; ".join(f"`{s.command}` exit {s.rc}" for s in failed)


def wait_until(check: Callable[[], str | None], seconds: float, every: float = 0.3) -> str | None:
    """Poll `check` (None = good, else the reason) until good or `seconds` pass."""
    deadline = time.monotonic() + seconds
    reason = check()
    while reason is not None and time.monotonic() < deadline:
        time.sleep(every)
        reason = check()
    return reason

"""pytest wiring for --fix: a failed check gets its catalogue fix, then is re-checked once."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import pytest

from compliance import catalogue
from compliance.report.evidence import EvidenceLog, ReportedFailure
from compliance.report.extras import attach_html
from compliance.report.outcomes import finding_of
from compliance.suite.fleet import Ct, Fleet
from compliance.suite.session import changed_hosts, fleet_of, target_of
from remediation.base import CHANGED, FAILED, NOT_REMEDIABLE, PLANNED, Context, Outcome, Plan
from remediation.locks import fix_locks
from remediation.registry import FIXES, shares_host
from remediation.remote import BACKUP_ROOT, Remote

OUTCOME = pytest.StashKey[Outcome]()
FIXED = pytest.StashKey[bool]()
FOUND = pytest.StashKey[str]()  # what a fixed check found before its fix, for the reports


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ollama-fix", "Ollama LXC remediation")
    group.addoption(
        "--fix",
        action="store_true",
        help="for each failed check apply the plan's fix (backup, validate, reload; verified "
        "when the checks it answers for pass on fresh facts, else rolled back), "
        f"then re-check it once; backups go to {BACKUP_ROOT}/<stamp>/ on the target",
    )
    group.addoption(
        "--dry-run",
        action="store_true",
        help="with --fix: print each planned unified diff and command, change nothing",
    )


FIX_MARKER = "fix"


def fix_of(item: pytest.Item) -> str | None:
    """The fix that answers for an item: its check's, or a plain test's `@pytest.mark.fix`."""
    check = getattr(item, "check", None)
    if check is not None:
        return str(check.fix)
    marker = item.get_closest_marker(FIX_MARKER)
    return str(marker.args[0]) if marker is not None and marker.args else None


def _unknown_fix(name: str, whose: str) -> pytest.UsageError:
    return pytest.UsageError(
        f"{whose} names fix {name!r}, which does not exist (known: {', '.join(sorted(FIXES))})"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every check's and test's fix is a fix of the fix catalogue (a typo is one line)."""
    for check in catalogue.load().values():
        if check.fix not in FIXES:
            raise _unknown_fix(check.fix, f"check {check.id} ({check.module})")
    for item in items:
        marker = item.get_closest_marker(FIX_MARKER)
        if marker is None:
            continue
        if len(marker.args) != 1 or not isinstance(marker.args[0], str):
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.fix takes one fix name")
        if marker.args[0] not in FIXES:
            raise _unknown_fix(marker.args[0], item.nodeid)
        if target_of(item) is None:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.fix needs a target: use the `host` or `ct` fixture"
            )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{FIX_MARKER}(name): under --fix, when this test fails, apply fix `name` (one of "
        f"{', '.join(sorted(FIXES))}) to its target, then run the test again",
    )
    if config.getoption("dry_run") and not config.getoption("fix"):
        raise pytest.UsageError("--dry-run only makes sense with --fix")
    if config.getoption("fix") and not getattr(config.option, "hosts", None):
        raise pytest.UsageError(
            "--fix changes hosts: name them with --hosts (--hosts=local:// for this machine)"
        )
    if config.getoption("fix"):
        config.pluginmanager.register(Remediator(config), "ollama-remediator")


def _forget(box: Ct) -> None:
    """Forget a container's and its host's live view: the next read sees them as they are."""
    for store in (box.store, box.runner, box.host.store):
        store.invalidate()


def _headline(outcomes: list[Outcome]) -> Outcome:
    """The outcome a check reports when its fix ran for several containers: the worst."""
    for status in (FAILED, NOT_REMEDIABLE, PLANNED, CHANGED):
        for outcome in outcomes:
            if outcome.status == status:
                return outcome
    return outcomes[0]


def _failed_in_audit(fleet: Fleet, check: catalogue.Check, target_id: str) -> bool:
    """Whether a check failed on the audit view of its target (a read that failed counts)."""
    try:
        return not fleet.judge(check, fleet.target(target_id), EvidenceLog()).ok
    except Exception:
        return True


class Remediator:
    """Runs fixes (each at most once per target, dependencies first) and re-checks."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.dry_run = bool(config.getoption("dry_run"))
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.remotes: dict[str, tuple[Remote, Remote]] = {}
        self.items: list[pytest.Item] = []

    def _context(self, fleet: Fleet, box: Ct) -> Context:
        if box.label not in self.remotes:
            host = Remote(box.host.conn, box.host.label)
            self.remotes[box.label] = (Remote(box.conn, box.label), host)
        ct, host = self.remotes[box.label]
        return Context(fleet, box, self.dry_run, ct, host)

    def round(self, name: str, boxes: list[Ct]) -> list[Outcome]:
        """Fix `name` for these containers of one host (each at most once, its needs first,
        each need as a round of its own): their fixes run at once, the outcomes in order."""
        fix = FIXES[name]
        todo = []
        for box in boxes:
            if (name, box.label) in self.outcomes:
                continue
            # A backup in progress is the operator's: no fix changes anything under its lock;
            # a CT frozen without one runs no command, so a fix would only wait out its deadline.
            held = box.held(live=True) if box.lock(live=True) or box.store.timed_out else ""
            if held:
                why = f"{held}; nothing changed"
                self.outcomes[(name, box.label)] = Outcome(
                    name, box.label, NOT_REMEDIABLE, why, Plan(), [], 0.0
                )
                continue
            todo.append(box)
        for need in fix.requires:
            self.round(need, todo)
        ready = []
        for box in todo:
            before = next(
                (
                    self.outcomes[(need, box.label)]
                    for need in fix.requires
                    if self.outcomes[(need, box.label)].status in (FAILED, NOT_REMEDIABLE)
                ),
                None,
            )
            if before is None:
                ready.append(box)
                continue
            why = f"needs {before.fix}, which {before.status}: {before.message}"
            self.outcomes[(name, box.label)] = Outcome(
                name, box.label, NOT_REMEDIABLE, why, Plan(), [], 0.0
            )
        fleet = fleet_of(self.config)
        began = time.time()
        outcomes = fix.run_all([self._context(fleet, box) for box in ready])
        span = f"{began:.3f}-{time.time():.3f}"
        for box, outcome in zip(ready, outcomes, strict=True):
            outcome.round = span
            self.outcomes[(name, box.label)] = outcome
            if outcome.status == CHANGED:  # its host's other checks are now judged live
                changed_hosts(self.config).add(box.host.label)
        return [self.outcomes[(name, box.label)] for box in boxes]

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items = list(session.items)

    def peers(self, name: str, boxes: list[Ct]) -> list[Ct]:
        """The other containers of the same host whose own checks of fix `name` failed in the
        audit (and are in this run): they join the round, so the host's CTs converge at once
        instead of one after another. A plain test's failure is known only once it runs. An
        xdist worker fixes only its own targets (another worker has the others)."""
        if hasattr(self.config, "workerinput"):
            return []
        fleet = fleet_of(self.config)
        host, found = boxes[0].host, list(boxes)
        for item in self.items:
            check, target_id = getattr(item, "check", None), target_of(item)
            if check is None or target_id is None or fix_of(item) != name:
                continue
            labels = {box.label for box in found}
            waiting = [
                box
                for box in fleet.cts_of(target_id)
                if box.host is host
                and box.label not in labels
                and (name, box.label) not in self.outcomes
            ]
            if waiting and _failed_in_audit(fleet, check, target_id):
                found += waiting
        return found[len(boxes) :]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        try:
            return (yield)
        except Exception as failure:
            target_id, name = target_of(item), fix_of(item)
            if target_id is None or name is None:
                raise
            boxes = fleet_of(self.config).cts_of(target_id)
            if all((name, box.label) in self.outcomes for box in boxes):
                # The fix already ran here and the facts were re-read after it: no lock and
                # no re-read, only its outcome and the re-check.
                return self._fix_and_recheck(item, failure, name, boxes, fresh=False)
            # Fix and re-check under the locks of what the round changes (its CTs; the host's
            # too for nginx): no other process changes them meanwhile.
            peers = self.peers(name, boxes)
            host = boxes[0].host
            ctids = [box.ctid for box in boxes + peers]
            with fix_locks(host.address, host.conn, ctids, shares_host(name)):
                return self._fix_and_recheck(item, failure, name, boxes, peers=peers)

    def _fix_and_recheck(
        self,
        item: pytest.Item,
        failure: Exception,
        name: str,
        boxes: list[Ct],
        fresh: bool = True,
        peers: list[Ct] | None = None,
    ) -> None:
        together = boxes + (peers or [])
        for box in together if fresh else ():  # plan from the state as it is now, under the lock
            _forget(box)
        outcomes = self.round(name, together)[: len(boxes)]
        outcome = _headline(outcomes)
        item.stash[OUTCOME] = outcome
        item.user_properties += [
            ("fix", outcome.fix),
            ("fix_status", outcome.status),
            ("fix_seconds", f"{outcome.seconds:.2f}"),
            ("fix_started", f"{outcome.started:.3f}"),
            ("fix_finished", f"{outcome.started + outcome.seconds:.3f}"),
            ("fix_round", outcome.round),
            ("fix_log", "\n".join(o.text() for o in outcomes)),
        ]
        if outcome.status in (FAILED, NOT_REMEDIABLE, PLANNED):
            raise ReportedFailure(f"{failure}\n\n{outcome.text()}") from None
        for box in together if fresh else ():  # another process may have changed the host
            _forget(box)
        item.live = True  # type: ignore[attr-defined]  # the re-check reads the targets now
        try:
            item.runtest()
        except Exception as again:
            raise ReportedFailure(
                f"still failing after fix {outcome.fix} ({outcome.status}):\n{again}\n\n"
                f"{outcome.text()}"
            ) from None
        item.stash[FIXED] = True
        item.stash[FOUND] = finding_of(str(failure))
        item.user_properties += [("result", "fixed"), ("finding", item.stash[FOUND])]
        return None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when == "call" and OUTCOME in item.stash:
            outcome = item.stash[OUTCOME]
            status = "fixed" if item.stash.get(FIXED, False) else outcome.status
            report.fix_status = status  # type: ignore[attr-defined]
            report.fix_summary = f"{status}: {outcome.fix}"  # type: ignore[attr-defined]
            if FOUND in item.stash:
                report.fixed_finding = item.stash[FOUND]  # type: ignore[attr-defined]
            if report.passed:  # a failure's message already carries the fix's output
                attach_html(report, "fix", "Remediation", outcome.text())
        return report

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        if report.when == "call" and report.passed and getattr(report, "fix_status", "") == "fixed":
            return "fixed", "+", ("FIXED", {"green": True})
        return None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        write = terminalreporter.write_line
        terminalreporter.section("remediation (dry run)" if self.dry_run else "remediation")
        if not self.outcomes:
            write("no check failed: nothing to change")
            return
        for outcome in self.outcomes.values():
            write(outcome.text())
            write("")
        changed = [o for o in self.outcomes.values() if o.status == CHANGED]
        if not changed and not self.dry_run:
            write("--fix changed nothing on any host")
        total = sum(o.seconds for o in self.outcomes.values())
        write(f"{len(changed)} fix(es) applied, {total:.1f}s spent in fixes")

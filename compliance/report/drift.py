"""Drift: what changed since the last green run (`--drift=PATH`).

PATH holds the tracked facts of the last run that was compliant (file digests, the unit's
settings, the files nginx loads, the models served: `Fact.drift`). Each run compares its own
audit view with it and names every change, in the terminal, the Markdown summary, the HTML
report and the metrics; a green run that changed nothing on its targets becomes the new
baseline (a run whose fixes changed a host is recorded by the next audit, which sees the result).
"""

from __future__ import annotations

import html
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from compliance.report import outcomes
from compliance.report.outcomes import Row
from compliance.suite.session import changed_hosts, fleet_of

View = dict[str, dict[str, str]]  # target (`proxmox/ct955`) -> `fact: property` -> value
RESULT = pytest.StashKey["Drift"]()


@dataclass(frozen=True)
class Change:
    """One tracked property that differs from the last green run (None: absent there/here)."""

    target: str
    key: str
    old: str | None
    new: str | None

    def line(self) -> str:
        if self.old is None:
            return f"{self.target} {self.key}: added ({self.new})"
        if self.new is None:
            return f"{self.target} {self.key}: removed (was {self.old})"
        return f"{self.target} {self.key}: {self.old!r} -> {self.new!r}"


@dataclass(frozen=True)
class Baseline:
    """The last green run: when, by which suite, and its view."""

    time: float
    version: str
    targets: View

    @property
    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.time))


@dataclass
class Drift:
    """The comparison of one run, and whether the run became the new baseline."""

    path: Path
    baseline: Baseline | None
    changes: list[Change] = field(default_factory=list)
    recorded: bool = False
    warning: str = ""

    def lines(self) -> list[str]:
        """What the terminal and the summaries say."""
        lines = [self.warning] if self.warning else []
        if self.baseline is None:
            lines.append(f"drift: no green run recorded yet in {self.path}")
        elif self.changes:
            count = f"{len(self.changes)} change{'s' * (len(self.changes) != 1)}"
            lines.append(f"drift since the last green run ({self.baseline.when}): {count}")
            lines += [f"  {change.line()}" for change in self.changes]
        else:
            lines.append(f"no drift since the last green run ({self.baseline.when})")
        if self.recorded:
            lines.append(f"drift: this run is green: recorded as the baseline in {self.path}")
        return lines


def compare(old: View, new: View) -> list[Change]:
    """Every property added, removed or changed, target by target (a target only one side
    knows is not compared: it was not reached, or is new)."""
    changes = []
    for target in sorted(old.keys() & new.keys()):
        before, now = old[target], new[target]
        for key in sorted(before.keys() | now.keys()):
            if before.get(key) != now.get(key):
                changes.append(Change(target, key, before.get(key), now.get(key)))
    return changes


def load(path: Path) -> tuple[Baseline | None, str]:
    """The baseline in path (None if none yet), and a one-line warning if it is unreadable."""
    if not path.exists():
        return None, ""
    try:
        data = json.loads(path.read_text())
        targets = {
            str(t): {str(k): str(v) for k, v in props.items()}
            for t, props in data["targets"].items()
        }
        return Baseline(float(data["time"]), str(data.get("suite_version", "")), targets), ""
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"drift: {path} is unreadable ({type(exc).__name__}): starting a new baseline"


def record(path: Path, view: View, now: float) -> None:
    """Write the baseline beside and rename it over (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"time": now, "suite_version": outcomes.suite_version(), "targets": view}
    fd, staged = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


def judge(path: Path, view: View, rows: Sequence[Row], changed: bool) -> Drift:
    """Compare with the baseline; record this run when it is green, reached every target
    and changed none."""
    baseline, warning = load(path)
    result = Drift(
        path, baseline, compare(baseline.targets, view) if baseline else [], warning=warning
    )
    if outcomes.is_compliant(rows) and not changed and view and all(view.values()):
        try:
            record(path, view, time.time())
            result.recorded = True
        except OSError as exc:
            result.warning = (
                f"drift: could not record the baseline in {path}: {exc.strerror or exc}"
            )
    return result


def local_view(config: pytest.Config) -> View:
    """This process's targets and what their audit views track."""
    fleet = fleet_of(config)
    view = {host.name: host.store.drift_view() for host in fleet.hosts}
    view.update({ct.name: ct.store.drift_view() for ct in fleet.cts})
    return {target: props for target, props in view.items() if props}


class DriftPlugin:
    """--drift: each xdist worker hands its view to the controller, which judges and records."""

    def __init__(self, config: pytest.Config, path: Path) -> None:
        self.config = config
        self.path = path
        self.view: View = {}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        for target, props in getattr(node, "workeroutput", {}).get("drift", {}).items():
            self.view.setdefault(target, {}).update(props)

    @pytest.hookimpl(tryfirst=True)  # before the summaries, the HTML report and the metrics
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        for target, props in local_view(self.config).items():
            self.view.setdefault(target, {}).update(props)
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["drift"] = self.view
            return
        tally = self.config.pluginmanager.get_plugin("compliance-tally")
        rows = tally.rows if tally is not None else []
        changed = bool(changed_hosts(self.config))
        self.config.stash[RESULT] = judge(self.path, self.view, rows, changed)


def add_option(group: Any) -> None:
    group.addoption(
        "--drift",
        dest="compliance_drift",
        metavar="PATH",
        default=None,
        help="name what changed since the last green run, whose facts PATH (JSON) holds; a "
        "green run that changed nothing becomes the new baseline",
    )


def register(config: pytest.Config) -> None:
    path = config.getoption("compliance_drift", None)
    if path:
        config.pluginmanager.register(DriftPlugin(config, Path(path)), "compliance-drift")


def result(config: pytest.Config) -> Drift | None:
    return config.stash.get(RESULT, None)


def terminal_lines(config: pytest.Config) -> list[str]:
    found = result(config)
    return found.lines() if found else []


def markdown(config: pytest.Config) -> str:
    """The summary's drift paragraph (empty without --drift)."""
    found = result(config)
    if found is None:
        return ""
    head, *rest = found.lines()
    items = [f"- `{line.strip()}`" for line in rest]
    return "\n".join([f"**{head}**", "", *items, ""]) if items else f"**{head}**\n"


def html_paragraphs(config: pytest.Config) -> list[str]:
    found = result(config)
    if found is None:
        return []
    head, *rest = found.lines()
    items = "".join(f"<li><code>{html.escape(line.strip())}</code></li>" for line in rest)
    return [f"<p><strong>{html.escape(head)}</strong></p>" + (f"<ul>{items}</ul>" if items else "")]


def metrics(config: pytest.Config) -> dict[str, tuple[str, float | None]]:
    """The drift gauges for --metrics (none without --drift)."""
    found = result(config)
    if found is None:
        return {}
    last = found.baseline.time if found.baseline else None
    return {
        "drift_changes": ("tracked facts changed since the last green run", len(found.changes)),
        "last_green_timestamp_seconds": ("unix time of the last green run (the baseline)", last),
    }

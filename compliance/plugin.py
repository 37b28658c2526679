"""pytest wiring for the audit: settings, targets, preflight, evidence in the reports."""

from __future__ import annotations

import gc
import html
import importlib
import os
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from testinfra.host import Host

from compliance import backends, settings
from compliance.evidence import ReportedFailure
from compliance.facts import GatherError
from compliance.report import attach_html
from compliance.targets import Audit, Container, Fleet, ProxmoxHost, skip_unless_running

T = TypeVar("T")
FLEET = pytest.StashKey[Fleet]()
SETTINGS = pytest.StashKey[settings.Settings]()
TARGETS = pytest.StashKey[list[Audit]]()
AUTO_WORKERS = pytest.StashKey[str]()
CONTROLLER_REACH = pytest.StashKey[list[Future[str | None]]]()

# Report and run order: the container exists, then inside it, then the host's nginx, then
# the end-to-end call. Fixes follow the same order (container before proxy).
MODULE_ORDER = ("test_host_container", "test_container", "test_host_nginx", "test_proxy")


def pytest_addoption(parser: pytest.Parser) -> None:
    settings.add_options(parser)


@pytest.hookimpl(tryfirst=True)  # before xdist turns `-n N` alone into `--dist load`
def pytest_cmdline_main(config: pytest.Config) -> None:
    """`-n N` without --dist keeps each target on one worker (facts gathered once per target)."""
    option = config.option
    if getattr(option, "numprocesses", None) and option.dist == "no" and not option.distload:
        option.dist = "loadgroup"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker per host (at most one per CPU), and none for a single host.

    A host's containers are already read in parallel threads and its fixes run one at a time
    under its lock, so only several hosts give workers something to do in parallel, and each
    worker costs a Python, pytest and ssh start-up (about 0.7 s of CPU).
    """
    hosts = len(_proxmox_hosts(config))
    workers = 0 if hosts <= 1 else min(hosts, os.cpu_count() or 1)
    config.stash[AUTO_WORKERS] = (
        f"-n auto: {workers} xdist worker{'s' * (workers > 1)} for {hosts} hosts"
        if workers
        else "-n auto: one host, no xdist workers (its containers are read in parallel threads)"
    )
    return workers


def pytest_report_header(config: pytest.Config) -> str | None:
    return config.stash.get(AUTO_WORKERS, None)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Workers parse the original arguments, so they learn the grouping from the controller."""
    node.workerinput["compliance_loadgroup"] = node.config.option.dist == "loadgroup"


def pytest_configure(config: pytest.Config) -> None:
    # Start-up objects (modules, classes: most of the heap) live until exit: move them out of
    # the collector's sight, so the automatic collections and pytest's five gc.collect() calls
    # at exit stop re-scanning them (about 0.3 s of a 1.5 s audit on 2 cores).
    gc.freeze()
    if getattr(config, "workerinput", {}).get("compliance_loadgroup"):
        config.option.loadgroup = True  # read by xdist's collection hook in the worker
    config.addinivalue_line(
        "markers", "fix(name): the remediation that repairs this check when it fails (--fix)"
    )
    config.stash[SETTINGS] = settings.parse(settings.raw_values(config))
    fleet_of(config)  # a bad --hosts or ssh config is a usage error, before collection
    tally = CheckTally(config)
    config.pluginmanager.register(tally, "compliance-tally")
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(HtmlColumns(tally), "compliance-html")


def fleet_of(config: pytest.Config) -> Fleet:
    """The session's fleet, built once (no connection is made here)."""
    if FLEET not in config.stash:
        hosts = _proxmox_hosts(config)
        config.stash[FLEET] = _one_line(lambda: Fleet.build(config.stash[SETTINGS], hosts))
    return config.stash[FLEET]


def _proxmox_hosts(config: pytest.Config) -> list[Host]:
    return _one_line(lambda: backends.proxmox_hosts(config))


def _one_line(build: Callable[[], T]) -> T:
    """--hosts and the ssh config are read here: an unknown scheme or an unparsable config
    stops the run with one line instead of a collection error per test module."""
    try:
        return build()
    except Exception as exc:  # testinfra and paramiko raise their own types
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise pytest.UsageError(f"--hosts / --ssh-config: {type(exc).__name__}: {reason}") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = set(metafunc.fixturenames)
    if not names & {"pve", "ct", "container"}:
        return
    fleet = fleet_of(metafunc.config)
    if names & {"ct", "container"}:
        ids = [c.label for c in fleet.containers]
    else:
        ids = [h.label for h in fleet.hosts]
    metafunc.parametrize("target_id", ids, ids=ids, indirect=True)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run in dependency order; under xdist keep each target's checks on one worker."""

    def rank(item: pytest.Item) -> int:
        name = getattr(item, "module", None).__name__.rsplit(".", 1)[-1]  # type: ignore[union-attr]
        return MODULE_ORDER.index(name) if name in MODULE_ORDER else len(MODULE_ORDER)

    items.sort(key=rank)
    for item in items:
        target = _target_of(item)
        if target:  # honoured by `--dist loadgroup`, the default under -n
            item.add_marker(pytest.mark.xdist_group(target))


def _target_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return (
        str(callspec.params["target_id"]) if callspec and "target_id" in callspec.params else None
    )


def _is_check(item: pytest.Item) -> bool:
    return "target_id" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Preflight: reach every host once and gather all facts; stop early if a host is down."""
    if CONTROLLER_REACH in session.config.stash:
        _controller_preflight(session.config)
        return
    if session.config.option.collectonly or not any(_is_check(i) for i in session.items):
        return
    fleet = fleet_of(session.config)
    wanted = {t for t in map(_target_of, session.items) if t}
    needed = {id(_proxmox(fleet, t)) for t in wanted}
    hosts = [h for h in fleet.hosts if id(h) in needed]
    worker = hasattr(session.config, "workerinput")
    containers = [] if worker else [c for c in fleet.containers if c.label in wanted]
    with ThreadPoolExecutor(max_workers=8) as pool:
        # Import requests (~0.3 s of CPU) while the ssh handshakes wait on the network.
        pool.submit(importlib.import_module, "requests")
        _stop_if_unreachable(pool, hosts)
        # Every target's facts at once; a CT that cannot be read (stopped, missing) is
        # reported by its own checks, with context, so its errors are not raised here.
        jobs = [pool.submit(h.store.prefetch) for h in hosts]
        jobs += [pool.submit(c.store.prefetch) for c in containers]
        for job in jobs[: len(hosts)]:
            if job.exception():
                pytest.exit(f"host facts could not be read: {job.exception()}", returncode=3)


@pytest.hookimpl(tryfirst=True)  # before xdist's controller spawns its workers
def pytest_sessionstart(session: pytest.Session) -> None:
    """Under `-n`, the controller reaches every host while its workers spawn."""
    config = session.config
    if config.pluginmanager.has_plugin("dsession") and not config.option.collectonly:
        hosts = fleet_of(config).hosts
        pool = ThreadPoolExecutor(max_workers=len(hosts), thread_name_prefix="reach")
        config.stash[CONTROLLER_REACH] = [pool.submit(_reach, host) for host in hosts]
        pool.shutdown(wait=False)


def _controller_preflight(config: pytest.Config) -> None:
    """One line and exit 3 if a host is down, before any worker's preflight could crash xdist."""
    down = [line for job in config.stash[CONTROLLER_REACH] if (line := job.result())]
    if down:
        pytest.exit("; ".join(down), returncode=3)


def _stop_if_unreachable(pool: ThreadPoolExecutor, hosts: list[ProxmoxHost]) -> None:
    """Connect to every host at once; end the session (exit 3) naming each one that is down."""
    down = [line for line in pool.map(_reach, hosts) if line]
    if down:
        pytest.exit("; ".join(down), returncode=3)


def _reach(pve: ProxmoxHost) -> str | None:
    """Connect to a host; None, or the one line saying why it is unreachable."""
    try:
        backends.connect(pve.host)
    except Exception as exc:  # any transport failure: one line, not a traceback per test
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return (
            f"{pve.label}: host unreachable via {pve.host.backend.NAME} "
            f"({pve.address}): {type(exc).__name__}: {reason}"
        )
    return None


@pytest.fixture
def target_id(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fleet(request: pytest.FixtureRequest) -> Fleet:
    return fleet_of(request.config)


@pytest.fixture
def container(fleet: Fleet, target_id: str) -> Container:
    """The container (and its host) this check is about."""
    return fleet.container(target_id)


def _proxmox(fleet: Fleet, target_id: str) -> ProxmoxHost:
    if any(c.label == target_id for c in fleet.containers):
        return fleet.container(target_id).pve
    return fleet.host(target_id)


def _register(request: pytest.FixtureRequest, audit: Audit) -> Audit:
    request.node.stash.setdefault(TARGETS, []).append(audit)
    return audit


@pytest.fixture
def pve(request: pytest.FixtureRequest, fleet: Fleet, target_id: str) -> Audit:
    """The Proxmox host as a check sees it (with the container, for per-container checks)."""
    if any(c.label == target_id for c in fleet.containers):
        box = fleet.container(target_id)
        return _register(request, Audit("host", box.pve.label, lambda log: fleet.subject(box, log)))
    host = fleet.host(target_id)
    return _register(request, Audit("host", host.label, lambda log: fleet.host_subject(host, log)))


@pytest.fixture
def ct(request: pytest.FixtureRequest, fleet: Fleet, target_id: str) -> Audit:
    """The container as a check sees it; skips when the container is not running."""
    box = fleet.container(target_id)
    skip_unless_running(box)
    return _register(request, Audit("ct", box.label, lambda log: fleet.subject(box, log)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if _is_check(item):
        report.is_check = True  # type: ignore[attr-defined]
    one_line = (ReportedFailure, GatherError)  # the message is the whole story
    if call.excinfo is not None and isinstance(call.excinfo.value, one_line):
        report.longrepr = str(call.excinfo.value)
    if call.when == "call" and _is_check(item):
        targets = item.stash.get(TARGETS, [])
        backend = ", ".join(sorted({f"{t.kind} {t.label}" for t in targets}))
        evidence = "\n".join(t.log.text() for t in targets if t.log.text())
        report.backend = backend  # type: ignore[attr-defined]
        item.user_properties.append(("backend", backend))
        item.user_properties.append(("evidence", evidence))
        if report.passed:  # a failure's message already carries its evidence
            attach_html(report, "evidence", "", evidence or "(no command was needed)")
    return report


class CheckTally:
    """Counts check outcomes; a run where no check ran (all skipped) is a failure."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.ran = 0
        self.skipped = 0
        self.worker_commands = 0  # reported by xdist workers

    def remote_commands(self) -> int:
        """Remote commands of this run: this process's plus those of xdist workers."""
        return backends.COMMANDS.count + self.worker_commands

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        self.worker_commands += int(getattr(node, "workeroutput", {}).get("remote_commands", 0))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not getattr(report, "is_check", False):
            return
        if report.when == "call" and not report.skipped:
            self.ran += 1
        elif report.skipped:
            self.skipped += 1

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["remote_commands"] = backends.COMMANDS.count
        if self.skipped and not self.ran:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        if self.skipped and not self.ran:
            terminalreporter.write_line(
                f"FAILED: no compliance check ran ({self.skipped} skipped): "
                "a run that checked nothing is not a pass",
                red=True,
                bold=True,
            )
        terminalreporter.write_line(f"remote commands this run: {self.remote_commands()}")


class HtmlColumns:
    """pytest-html: a Backend column (host / ct) next to each check, and the command count."""

    def __init__(self, tally: CheckTally) -> None:
        self.tally = tally

    def pytest_html_report_title(self, report: Any) -> None:
        fixing = self.tally.config.getoption("fix", False)
        report.title = "Ollama LXC compliance: " + ("converge (--fix)" if fixing else "audit")

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str]
    ) -> None:
        prefix.append(f"<p>Remote commands this run: {self.tally.remote_commands()}</p>")

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(2, "<th>Backend</th>")
        if self.tally.config.getoption("fix", False):
            cells.insert(3, "<th>Fix</th>")

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        cells.insert(2, f"<td>{html.escape(getattr(report, 'backend', ''))}</td>")
        if self.tally.config.getoption("fix", False):
            fix = getattr(report, "fix_summary", "")
            cells.insert(3, f"<td>{html.escape(fix)}</td>")

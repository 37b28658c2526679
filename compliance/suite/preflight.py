"""Preflight: reach every host once and gather every target's facts before any check runs.

A host that cannot be used ends the session with one line (exit 102) instead of a failure per
check: unreachable, host key unknown or changed, authentication failed, sudo refused or asking
for a password, or a login that is not root without --sudo (the lines are in
compliance/transport/connect_errors.py). Under xdist the controller does this while its
workers spawn.
"""

from __future__ import annotations

import importlib
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from compliance.report.outcomes import EXIT_UNREACHABLE
from compliance.suite.fleet import Host
from compliance.suite.session import fleet_of, target_of
from compliance.transport import backends
from compliance.transport.connect_errors import one_line

CONTROLLER_REACH = pytest.StashKey[list[Future[str | None]]]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Preflight: reach every host once and gather all facts; stop early if a host is down."""
    if CONTROLLER_REACH in session.config.stash:
        _controller_preflight(session.config)
        return
    wanted = {t for t in map(target_of, session.items) if t}
    if session.config.option.collectonly or not wanted:
        return
    fleet = fleet_of(session.config)
    needed = {id(fleet.host_of(t)) for t in wanted}
    hosts = [h for h in fleet.hosts if id(h) in needed]
    worker = hasattr(session.config, "workerinput")
    cts = [] if worker else [c for c in fleet.cts if c.label in wanted]
    # a thread per job: the runner's HTTP reads need not wait behind the hosts' commands
    with ThreadPoolExecutor(max_workers=max(8, 1 + len(hosts) + 2 * len(cts))) as pool:
        # Import requests (~0.3 s of CPU) while the ssh handshakes wait on the network.
        pool.submit(importlib.import_module, "requests")
        if not worker:  # under -n the controller already logged in to every host
            _stop_if_unreachable(pool, hosts)
        # Every target's facts at once: this is the audit view every check is judged on,
        # whatever a fix changes later. A CT that cannot be read (stopped, missing) is
        # reported by its own checks, with context, so its errors are not raised here.
        jobs = [pool.submit(h.store.prefetch) for h in hosts]
        jobs += [pool.submit(c.store.prefetch) for c in cts]
        jobs += [pool.submit(c.runner.prefetch) for c in cts]
        for host, job in zip(hosts, jobs, strict=False):
            if job.exception():
                why = one_line(str(job.exception()))
                pytest.exit(
                    f"{host.label}: host facts could not be read: {why}",
                    returncode=EXIT_UNREACHABLE,
                )


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
    """One line and exit 102 if a host is down, before any worker's preflight could crash xdist."""
    down = [line for job in config.stash[CONTROLLER_REACH] if (line := job.result())]
    if down:
        pytest.exit("; ".join(down), returncode=EXIT_UNREACHABLE)


def _stop_if_unreachable(pool: ThreadPoolExecutor, hosts: list[Host]) -> None:
    """Connect to every host at once; end the session (exit 102) naming each one that is down."""
    down = [line for line in pool.map(_reach, hosts) if line]
    if down:
        pytest.exit("; ".join(down), returncode=EXIT_UNREACHABLE)


def _reach(host: Host) -> str | None:
    """Log in to a host and check commands will run as root; None, or the one line why not."""
    return backends.reach(host.conn, host.label, host.address)

"""pytest wiring for the audit: options, settings, parametrization by target, fixtures.

Preflight, xdist glue and reporting live in their own modules, loaded with this one.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from compliance import advisories, reporting, settings
from compliance.checks import CATALOGUE
from compliance.session import fleet_of, settings_of, target_of
from compliance.targets import Audit, Container, Fleet, skip_unless_running

pytest_plugins = ["compliance.xdist_glue", "compliance.preflight"]
CHECK_ORDER = {check_id: rank for rank, check_id in enumerate(CATALOGUE)}


def pytest_addoption(parser: pytest.Parser) -> None:
    settings.add_options(parser)
    reporting.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    # Start-up objects (modules, classes: most of the heap) live until exit: move them out of
    # the collector's sight, so the automatic collections and pytest's five gc.collect() calls
    # at exit stop re-scanning them (about 0.3 s of a 1.5 s audit on 2 cores).
    gc.freeze()
    config.addinivalue_line(
        "markers", "fix(name): the remediation that repairs this check when it fails (--fix)"
    )
    if settings_of(config).hardened:  # a bad advisories file is one line, before any check
        try:
            advisories.load(settings_of(config).advisories)
        except advisories.AdvisoriesError as why:
            raise pytest.UsageError(f"setting ollama_advisories (--advisories): {why}") from None
    fleet_of(config)  # a bad --hosts or ssh config is a usage error, before collection
    config.pluginmanager.register(reporting, "compliance-evidence")
    tally = reporting.CheckTally(config)
    config.pluginmanager.register(tally, "compliance-tally")
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(reporting.HtmlColumns(tally), "compliance-html")


def pytest_report_header(config: pytest.Config) -> str:
    settings = settings_of(config)
    extra = " (the plan's checks and the hardening)" if settings.hardened else ""
    return f"profile: {settings.profile}{extra}"


HARDENED_MODULE = "test_hardened.py"  # the hardened profile's checks, collected only with it


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The default run is exactly the plan: the hardened module is not even collected."""
    if collection_path.name == HARDENED_MODULE and not settings_of(config).hardened:
        return True
    return None


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
    """Run in the catalogue's order (the container exists, then inside it, then the host's
    nginx, then end to end; fixes follow it); under xdist keep each target on one worker."""
    items.sort(key=lambda item: CHECK_ORDER.get(check_id(item.name), len(CHECK_ORDER)))
    for item in items:
        target = target_of(item)
        if target:  # honoured by `--dist loadgroup`, the default under -n
            item.add_marker(pytest.mark.xdist_group(target))


def check_id(test_name: str) -> str:
    """`test_ct_login_path[proxmox-ct955]` -> `login_path`."""
    base = test_name.split("[", 1)[0]
    for prefix in ("test_ct_", "test_pve_", "test_runner_"):
        if base.startswith(prefix):
            return base[len(prefix) :]
    return base


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


def _register(request: pytest.FixtureRequest, audit: Audit) -> Audit:
    request.node.stash.setdefault(reporting.TARGETS, []).append(audit)
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

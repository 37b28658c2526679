"""`host` and `ct`: the fixtures a person's own testinfra tests in tests/ use.

`host` is the Proxmox host (testinfra's own fixture, made per target of the fleet), `ct` the
container, reached through the host with `pct exec` (or lxc-attach): both are testinfra
`Host` objects (`ct.file("/etc/profile.d/ollama.sh").exists`, `host.run("nginx -t")`). A test
that uses `ct` runs once per container (`test_x[proxmox-ct955]`), one that uses only `host`
once per Proxmox host (`test_x[proxmox]`), like the catalogue's items; a container that does
not run skips its tests, as it skips its checks.
"""

from __future__ import annotations

import pytest
from testinfra.host import Host as Connection

from compliance import catalogue
from compliance.suite.fleet import Ct
from compliance.suite.session import TARGET_PARAM, fleet_of


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise a test that uses `ct` per container, one that uses `host` per host (tests
    in the suite's tests/, or anywhere in a run given --hosts)."""
    in_suite = metafunc.definition.path.parent == catalogue.CHECKS_DIR
    if not (in_suite or getattr(metafunc.config.option, "hosts", None)):
        return
    names = [name for name in metafunc.fixturenames if name not in _parametrized(metafunc)]
    fleet = fleet_of(metafunc.config)
    if "ct" in names:
        targets = [ct.label for ct in fleet.cts]
    elif "host" in names:
        targets = [host.label for host in fleet.hosts]
    else:
        return
    metafunc.parametrize(TARGET_PARAM, targets, ids=targets, indirect=True, scope="module")


def _parametrized(metafunc: pytest.Metafunc) -> set[str]:
    """Argument names the test parametrises itself (a `host` of its own is not ours)."""
    names: set[str] = set()
    for mark in metafunc.definition.iter_markers("parametrize"):
        argnames = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if isinstance(argnames, str):
            argnames = argnames.split(",")
        names.update(name.strip() for name in argnames)
    return names


@pytest.fixture(scope="module")
def _ollama_target(request: pytest.FixtureRequest) -> str:
    """The target id this test runs against (`proxmox`, `proxmox-ct955`)."""
    return str(request.param)


@pytest.fixture(scope="module")
def host(_ollama_target: str, request: pytest.FixtureRequest) -> Connection:
    """The Proxmox host (for a container's test: the host it runs on), as testinfra's Host."""
    return fleet_of(request.config).host_of(_ollama_target).conn


@pytest.fixture(scope="module")
def ct(_ollama_target: str, request: pytest.FixtureRequest) -> Connection:
    """The container, reached through its host with `pct exec`, as testinfra's Host; a
    container that does not run skips the test, saying so."""
    target = fleet_of(request.config).target(_ollama_target)
    assert isinstance(target, Ct), _ollama_target
    status = target.status()
    if status != "running":
        pytest.skip(f"CT {target.ctid} is {status or 'missing'} on {target.host.label}")
    return target.conn

"""The session's settings and fleet, built once per pytest process (no connection made)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest
from testinfra.host import Host

from compliance import settings
from compliance.suite.fleet import Fleet
from compliance.transport import backends

T = TypeVar("T")
FLEET = pytest.StashKey[Fleet]()
SETTINGS = pytest.StashKey[settings.Settings]()


def settings_of(config: pytest.Config) -> settings.Settings:
    """The validated settings (a bad value is a one-line usage error)."""
    if SETTINGS not in config.stash:
        config.stash[SETTINGS] = settings.parse(settings.raw_values(config))
    return config.stash[SETTINGS]


def fleet_of(config: pytest.Config) -> Fleet:
    """The session's fleet, built once (no connection is made here)."""
    if FLEET not in config.stash:
        hosts = proxmox_hosts(config)
        config.stash[FLEET] = _one_line(lambda: Fleet.build(settings_of(config), hosts))
    return config.stash[FLEET]


def proxmox_hosts(config: pytest.Config) -> list[Host]:
    return _one_line(lambda: backends.proxmox_hosts(config))


def _one_line(build: Callable[[], T]) -> T:
    """--hosts and the ssh config are read here: an unknown scheme or an unparsable config
    stops the run with one line instead of a collection error per test module."""
    try:
        return build()
    except Exception as exc:  # testinfra and paramiko raise their own types
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise pytest.UsageError(f"--hosts / --ssh-config: {type(exc).__name__}: {reason}") from None


CHANGED_HOSTS = pytest.StashKey[set[str]]()


def changed_hosts(config: pytest.Config) -> set[str]:
    """The hosts a fix changed this session: their checks are judged on the live view."""
    return config.stash.setdefault(CHANGED_HOSTS, set())


TARGET_PARAM = "_ollama_target"  # the parameter that gives a plain test its target
AUDIT = pytest.StashKey[bool]()


def target_of(item: pytest.Item) -> str | None:
    """The target id an item runs against: a check's, or the `host`/`ct` fixture's of a plain
    test (None for a test that uses neither)."""
    target = getattr(item, "target_id", None)
    if target is None:
        callspec = getattr(item, "callspec", None)
        target = callspec.params.get(TARGET_PARAM) if callspec is not None else None
    return target if isinstance(target, str) else None


def is_check(item: pytest.Item) -> bool:
    """A check of the catalogue (as opposed to a plain test a person wrote)."""
    return hasattr(item, "check")


def is_audit(config: pytest.Config) -> bool:
    """This run audits targets (`--hosts` given, or the suite's checks collected): then every
    item it runs is in the verdict and the reports. The project's own self-tests are not."""
    return config.stash.get(AUDIT, False)


def mark_audit(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[AUDIT] = bool(getattr(config.option, "hosts", None)) or any(
        is_check(item) for item in items
    )


def runs_tests(config: pytest.Config) -> bool:
    """False for the runs that only show something (--collect-only, --fixtures, --markers,
    --help, --version): they write no report."""
    option = config.option
    shows = ("collectonly", "showfixtures", "show_fixtures_per_test", "markers", "help", "version")
    return not any(getattr(option, name, False) for name in shows)

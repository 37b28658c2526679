"""pytest-xdist glue: group each target's checks on one worker, and what `-n auto` means."""

from __future__ import annotations

import os
from typing import Any

import pytest

from compliance.suite.session import proxmox_hosts, target_of

AUTO_WORKERS = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)  # before xdist turns `-n N` alone into `--dist load`
def pytest_cmdline_main(config: pytest.Config) -> None:
    """`-n N` without --dist keeps each target on one worker (facts gathered once per target)."""
    option = config.option
    if getattr(option, "numprocesses", None) and option.dist == "no" and not option.distload:
        option.dist = "loadgroup"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker per host (at most one per CPU), and none for a single host.

    A host's containers are already read, and fixed, in parallel threads (each fix for all of
    them at once), so only several hosts give workers something to do in parallel, and each
    worker costs a Python, pytest and ssh start-up (about 0.7 s of CPU).
    """
    hosts = len(proxmox_hosts(config))
    workers = 0 if hosts <= 1 else min(hosts, os.cpu_count() or 1)
    config.stash[AUTO_WORKERS] = (
        f"-n auto: {workers} xdist worker{'s' * (workers > 1)} for {hosts} hosts"
        if workers
        else "-n auto: one host, no xdist workers (its containers are read in parallel threads)"
    )
    return workers


@pytest.hookimpl(tryfirst=True)  # before xdist reads the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, each target's items share a group (`--dist loadgroup` keeps them on one
    worker); without xdist there is no such marker to add."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        target = target_of(item)
        if target is not None:
            item.add_marker(pytest.mark.xdist_group(target))


def pytest_report_header(config: pytest.Config) -> str | None:
    return config.stash.get(AUTO_WORKERS, None)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Workers parse the original arguments, so they learn the grouping from the controller."""
    node.workerinput["compliance_loadgroup"] = node.config.option.dist == "loadgroup"


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config, "workerinput", {}).get("compliance_loadgroup"):
        config.option.loadgroup = True  # read by xdist's collection hook in the worker

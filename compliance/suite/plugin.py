"""pytest wiring for the audit: options, settings, and the plugins that make the suite.

The items come from the suite's tests/ (compliance/suite/items.py: the checks; fixtures.py:
`host` and `ct` for a person's own tests); preflight, xdist glue and the reports live in
their own modules, loaded with this one.
"""

from __future__ import annotations

import gc

import pytest

from compliance import catalogue, settings
from compliance.catalogue import advisories
from compliance.report import drift
from compliance.report import hooks as reporting
from compliance.suite.session import fleet_of, runs_tests, settings_of

pytest_plugins = [
    "compliance.suite.items",
    "compliance.suite.fixtures",
    "compliance.suite.xdist",
    "compliance.suite.preflight",
]


REPORT_HTML = "reports/report.html"
REPORT_JUNIT = "reports/junit.xml"


@pytest.hookimpl(tryfirst=True)  # before pytest-html and junitxml read their paths
def pytest_cmdline_main(config: pytest.Config) -> None:
    """An audit (`--hosts` given) writes its HTML and JUnit reports to reports/ unless told
    where; other runs (the self-tests, --collect-only, --fixtures, --help) write none."""
    option = config.option
    if not getattr(option, "hosts", None) or not runs_tests(config):
        return
    if hasattr(option, "htmlpath") and not option.htmlpath:
        option.htmlpath = REPORT_HTML
        option.self_contained_html = True
    if not option.xmlpath:
        option.xmlpath = REPORT_JUNIT


def pytest_addoption(parser: pytest.Parser) -> None:
    settings.add_options(parser)
    reporting.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    # Start-up objects (modules, classes: most of the heap) live until exit: move them out of
    # the collector's sight, so the automatic collections and pytest's five gc.collect() calls
    # at exit stop re-scanning them (about 0.3 s of a 1.5 s audit on 2 cores).
    gc.freeze()
    catalogue.load()  # every check registered before collection, whatever files it reads
    if settings_of(config).hardened:  # a bad advisories file is one line, before any check
        try:
            advisories.load(settings_of(config).advisories)
        except advisories.AdvisoriesError as why:
            raise pytest.UsageError(f"setting ollama_advisories (--advisories): {why}") from None
    fleet_of(config)  # a bad --hosts or ssh config is a usage error, before collection
    config.pluginmanager.register(reporting, "compliance-evidence")
    tally = reporting.CheckTally(config)
    config.pluginmanager.register(tally, "compliance-tally")
    drift.register(config)
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(reporting.HtmlColumns(tally), "compliance-html")


def pytest_report_header(config: pytest.Config) -> list[str]:
    chosen = settings_of(config)
    extra = " (the plan's checks and the hardening)" if chosen.hardened else ""
    return [f"profile: {chosen.profile}{extra}", *settings.deprecated_used(config)]

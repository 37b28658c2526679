"""The suite's location choice held to the table of nginx's choices (location_table.py)."""

from __future__ import annotations

import pytest

from compliance.syntax import nginx
from selftests.unit.location_table import CASES, NONE, Case, hardened_case

TABLE = [*CASES, hardened_case(), hardened_case(("10.0.0.0/8",))]


def chosen(case: Case, uri: str) -> str:
    """What the suite chooses for `uri` in the case's config, as the table writes it."""
    server = nginx.parse(f"server {{\n{case.config}\n}}").find("server")[0]
    location = nginx.choose_location(server, uri)
    return NONE if location is None else location.shown


@pytest.mark.parametrize(
    ("case", "uri", "want"),
    [(case, uri, want) for case in TABLE for uri, want in case.choices],
    ids=[f"{case.name}: {uri}" for case in TABLE for uri, _want in case.choices],
)
def test_the_suite_chooses_as_nginx_does(case, uri, want):
    assert chosen(case, uri) == want


def test_the_chain_is_the_nesting_from_the_server_down():
    server = nginx.parse("server {\n" + CASES[1].config + "\n}").find("server")[0]
    found = nginx.find_location(server, "/ollama/api/tags")
    assert [loc.shown for loc in found.chain] == [
        "location /ollama/",
        "location ^~ /ollama/api/",
        "location ~ tags$",
    ]
    found = nginx.find_location(server, "/ollama/api/pull")
    assert [loc.shown for loc in found.chain] == ["location ~ pull"]


def test_a_regex_python_cannot_read_makes_the_choice_unknown():
    server = nginx.parse("server { location / { } location ~ ([ { } }").find("server")[0]
    found = nginx.find_location(server, "/x")
    assert found.location is not None
    assert found.location.pattern == "/"
    assert [loc.pattern for loc in found.unreadable] == ["(["]

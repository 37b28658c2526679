"""The location table against the real nginx: a private instance (own prefix, 127.0.0.1 high
ports) serves every config of the table, each location answering its own id, and every URI
of the table must be answered by the location the table (and so the suite) names.

Skipped where nginx is not installed; the real nginx of the host is never touched.
"""

from __future__ import annotations

import pytest

from compliance.syntax import nginx
from selftests import privatenginx
from selftests.unit.location_table import CASES, NONE, Case, hardened_case

pytestmark = pytest.mark.skipif(not privatenginx.available(), reason="nginx is not installed")

TABLE = [*CASES, hardened_case(), hardened_case(("10.0.0.0/8",))]


def instrumented(case: Case, port: int) -> tuple[str, dict[str, str]]:
    """The case's config as a server on `port`, each location answering `return 200 "<id>"`,
    and the ids by the location's text."""
    config = nginx.parse(case.config)
    ids: dict[str, str] = {}

    def text(directive: nginx.Directive, depth: int) -> str:
        pad = "    " * depth
        ident = f"L{len(ids)}"
        ids[ident] = nginx.Location.of(directive).shown
        inner = "".join(text(child, depth + 1) for child in directive.children("location"))
        answer = (
            f'{pad}    return 200 "{ident}";\n' if not directive.args[0].startswith("@") else ""
        )
        return f"{pad}location {' '.join(directive.args)} {{\n{answer}{inner}{pad}}}\n"

    body = "".join(text(d, 2) for d in config.directives if d.name == "location")
    return f"    server {{\n        listen 127.0.0.1:{port};\n{body}    }}\n", ids


def test_nginx_chooses_as_the_table_says():
    ports = privatenginx.free_ports(len(TABLE))
    servers, ids = zip(
        *(instrumented(c, p) for c, p in zip(TABLE, ports, strict=True)), strict=True
    )
    differences = []
    asked = 0
    with privatenginx.running("".join(servers), ports):
        for case, port, named in zip(TABLE, ports, ids, strict=True):
            for uri, want in case.choices:
                reply = privatenginx.request(port, "GET", uri)
                got = named.get(reply.body, NONE) if reply.status == 200 else NONE
                if reply.status not in (200, 404):
                    got = f"HTTP {reply.status}"
                asked += 1
                if got != want:
                    differences.append(f"{case.name}: {uri}: nginx {got}, table {want}")
    assert not differences, "\n".join(differences)
    assert asked == sum(len(case.choices) for case in TABLE)

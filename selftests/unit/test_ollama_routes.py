"""The table of Ollama's routes (compliance/plan/ollama_routes.py): its versions and classes."""

from __future__ import annotations

import pytest

from compliance.plan import ollama_routes
from compliance.plan.ollama_routes import MANAGE, READ, ROUTES, routes_for


def shown(routes):
    return sorted(route.shown for route in routes)


V0_21_MANAGE = [
    "DELETE /api/delete",
    "DELETE /api/user/keys/:encodedKey",
    "HEAD /api/blobs/:digest",
    "POST /api/blobs/:digest",
    "POST /api/copy",
    "POST /api/create",
    "POST /api/experimental/web_fetch",
    "POST /api/experimental/web_search",
    "POST /api/me",
    "POST /api/pull",
    "POST /api/push",
    "POST /api/signout",
]


def test_the_write_endpoints_of_0_21_0():
    used = routes_for("0.21.0")
    assert shown(used.manage) == V0_21_MANAGE
    assert len(used.read) == 23
    assert used.table == "Ollama's routes read 2026-12-06: those of 0.21.0"


def test_main_drops_the_image_routes_and_adds_model_recommendations():
    main = ollama_routes.in_main()
    assert shown(r for r in main if r.kind == MANAGE) == V0_21_MANAGE
    reads = shown(r for r in main if r.kind == READ)
    assert "GET /api/experimental/model-recommendations" in reads
    assert "POST /v1/images/generations" not in reads
    assert len(reads) == 22


@pytest.mark.parametrize(
    ("version", "why"),
    [
        (None, "the version is unknown"),
        ("dev", "'dev' is no version"),
        ("0.40.0", "0.40.0 is newer than the newest release read (v0.32.15)"),
        ("0.33.0-rc2", "newer than the newest release read"),
        ("0.0.9", "older than the first release read (v0.1.17)"),
    ],
)
def test_a_version_the_table_does_not_know_is_judged_with_mains_routes(version, why):
    used = routes_for(version)
    assert used.routes == ollama_routes.in_main()
    assert why in used.table
    assert "main's (main (fb3076099, 2026-08-21))" in used.table


def test_routes_that_came_and_went():
    assert "POST /api/experimental/aliases" in shown(routes_for("0.16.0").manage)
    assert "POST /api/experimental/aliases" not in shown(routes_for("0.18.0").manage)
    assert "POST /api/me" not in shown(routes_for("0.11.0").manage)
    assert "GET /api/ps" not in shown(routes_for("0.1.30").read)
    assert shown(routes_for("v0.1.17").manage) == [
        "DELETE /api/delete",
        "HEAD /api/blobs/:digest",
        "POST /api/blobs/:digest",
        "POST /api/copy",
        "POST /api/create",
        "POST /api/pull",
        "POST /api/push",
    ]


def test_every_route_once_with_a_class_a_reason_and_known_versions():
    assert len({(r.method, r.path) for r in ROUTES}) == len(ROUTES)
    for route in ROUTES:
        assert route.kind in (READ, MANAGE)
        assert route.reason
        assert ollama_routes.version_key_of(route.since) >= (0, 1, 17)
        if route.until is not None:
            assert route.until >= route.since


def test_samples_fill_every_parameter():
    assert {r.sample for r in ROUTES if ":" in r.path.replace(":digest", "")} == {
        "/api/user/keys/a2V5",
        "/v1/models/llama3.2",
    }
    blob = next(r for r in ROUTES if r.path == "/api/blobs/:digest")
    assert blob.sample == "/api/blobs/sha256:" + "0" * 64


@pytest.mark.parametrize(
    ("body", "version"),
    [('{"version":"0.21.0"}', "0.21.0"), ("nope", None), ('["0.21.0"]', None), ("[" * 9999, None)],
)
def test_version_in(body, version):
    assert ollama_routes.version_in(body) == version

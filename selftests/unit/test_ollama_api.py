"""/api/tags shape and direct-vs-proxied parity: replies in, problems out."""

from __future__ import annotations

import copy
import json

import pytest

from compliance.catalogue.ollama_api import media_type, model_key, parity_differences, tags_problems
from compliance.facts.http import HttpReply
from selftests.unit import samples
from selftests.unit.samples import LLAMA, QWEN

JSON = "application/json; charset=utf-8"


def tags(*models, status=200, ctype=JSON, **dumps):
    return HttpReply(status, ctype, samples.tags_body(*models, **dumps))


def without(model, *path):
    """A deep copy of `model` with the key at `path` removed."""
    changed = copy.deepcopy(model)
    holder = changed
    for key in path[:-1]:
        holder = holder[key]
    del holder[path[-1]]
    return changed


@pytest.mark.parametrize(
    ("content_type", "media"),
    [
        ("application/json; charset=utf-8", "application/json"),
        ("application/json", "application/json"),
        ("Application/JSON ; charset=UTF-8", "application/json"),
        ("text/html", "text/html"),
        ("", ""),
    ],
)
def test_media_type(content_type, media):
    assert media_type(content_type) == media


def test_tags_well_formed():
    models, problems = tags_problems(tags(QWEN, LLAMA))
    assert problems == []
    assert [m["name"] for m in models] == ["qwen2.5:0.5b", "llama3.2:1b"]


def test_tags_empty_list_is_fine():
    assert tags_problems(tags()) == ([], [])


@pytest.mark.parametrize(
    ("reply", "problems"),
    [
        (None, ["no HTTP reply"]),
        (
            HttpReply(502, "text/html", samples.NGINX_502),
            [
                "status 502, expected 200",
                "content type 'text/html', expected JSON",
                "body is not JSON",
            ],
        ),
        (
            HttpReply(200, "text/plain; charset=utf-8", "Ollama is running"),
            ["content type 'text/plain; charset=utf-8', expected JSON", "body is not JSON"],
        ),
        (
            HttpReply(404, "text/plain", "404 page not found"),
            [
                "status 404, expected 200",
                "content type 'text/plain', expected JSON",
                "body is not JSON",
            ],
        ),
        (HttpReply(200, "", ""), ["content type '(none)', expected JSON", "body is not JSON"]),
        (
            HttpReply(500, JSON, '{"error":"llama runner process has terminated"}'),
            [
                "status 500, expected 200",
                'no "models" list in the body',
            ],
        ),
        (HttpReply(200, JSON, "[]"), ['no "models" list in the body']),
        (HttpReply(200, JSON, '{"models": null}'), ['no "models" list in the body']),
        (HttpReply(200, JSON, '{"models": ["llama3.2:1b"]}'), ["models[0] is not an object"]),
        (tags(LLAMA, without(QWEN, "digest")), ["models[1] lacks digest"]),
        (
            tags(without(LLAMA, "details", "family"), without(QWEN, "name")),
            ["models[0] lacks details.family", "models[1] lacks name"],
        ),
        (tags(dict(LLAMA, details=None)), ["models[0] lacks details (not an object)"]),
        (tags(without(LLAMA, "details")), ["models[0] lacks details"]),
    ],
    ids=[
        "none",
        "nginx-502",
        "root-not-tags",
        "ollama-404",
        "empty",
        "error-json",
        "list",
        "null-models",
        "names-only",
        "no-digest",
        "no-family-no-name",
        "details-null",
        "no-details",
    ],
)
def test_tags_problems(reply, problems):
    assert tags_problems(reply)[1] == problems


def test_model_key_ignores_key_order():
    reordered = dict(reversed(list(LLAMA.items())))
    assert model_key(reordered) == model_key(LLAMA)
    assert model_key(QWEN) != model_key(LLAMA)


@pytest.mark.parametrize(
    ("direct", "proxied"),
    [
        (tags(QWEN, LLAMA), tags(QWEN, LLAMA)),
        (tags(QWEN, LLAMA), tags(LLAMA, QWEN)),
        (tags(QWEN, LLAMA), tags(QWEN, LLAMA, indent=2, sort_keys=True)),
        (tags(QWEN, LLAMA), tags(QWEN, LLAMA, ctype="application/json")),
        (tags(), tags()),
    ],
    ids=["same", "reordered", "re-serialised", "charset-dropped", "both-empty"],
)
def test_parity_equal(direct, proxied):
    assert parity_differences(direct, proxied) == []


@pytest.mark.parametrize(
    ("direct", "proxied", "differences"),
    [
        (
            tags(QWEN, LLAMA),
            tags(LLAMA),
            ["models only in the direct reply: qwen2.5:0.5b"],
        ),
        (
            tags(LLAMA),
            tags(QWEN, LLAMA),
            ["models only in the proxied reply: qwen2.5:0.5b"],
        ),
        (
            tags(QWEN, LLAMA),
            tags(QWEN, dict(LLAMA, digest="0" * 64)),
            [
                "models only in the direct reply: llama3.2:1b",
                "models only in the proxied reply: llama3.2:1b",
            ],
        ),
        (
            tags(QWEN, LLAMA),
            tags(),
            ["models only in the direct reply: llama3.2:1b, qwen2.5:0.5b"],
        ),
    ],
    ids=["missing", "extra", "different-digest", "proxy-empty"],
)
def test_parity_model_differences(direct, proxied, differences):
    assert parity_differences(direct, proxied) == differences


@pytest.mark.parametrize(
    ("proxied", "words"),
    [
        (HttpReply(502, "text/html", samples.NGINX_502), ["status 502", "text/html", "not JSON"]),
        (HttpReply(404, "text/plain", "404 page not found"), ["status 404", "not JSON"]),
        (HttpReply(403, "", ""), ["status 403"]),
        (HttpReply(200, JSON, "<html>not json</html>"), ["body is not JSON"]),
        (HttpReply(200, "text/html", samples.tags_body(LLAMA)), ["content type 'text/html'"]),
        (tags(QWEN, LLAMA, status=206), ["status 206"]),
        (None, ["no HTTP reply"]),
    ],
    ids=["502-page", "404-rewrite-missing", "403", "non-json", "html-type", "status", "refused"],
)
def test_parity_unusable_proxied_reply(proxied, words):
    (difference,) = parity_differences(tags(QWEN, LLAMA), proxied)
    assert difference.startswith("proxied reply unusable: ")
    for word in words:
        assert word in difference


def test_parity_unusable_direct_reply_is_named_first():
    direct = HttpReply(200, JSON, "Ollama is running")
    assert parity_differences(direct, HttpReply(502, "text/html", samples.NGINX_502)) == [
        "direct reply unusable: body is not JSON"
    ]


def test_parity_does_not_compare_raw_bytes():
    direct = tags(QWEN, LLAMA)
    proxied = HttpReply(200, JSON, json.dumps(json.loads(direct.body), separators=(",", ":")))
    assert proxied.body != direct.body
    assert parity_differences(direct, proxied) == []

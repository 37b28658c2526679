"""Ollama's /api/tags shape and the parity of a direct and a proxied reply."""

from __future__ import annotations

import json
from typing import Any

from compliance.facts.http import HttpReply

MODEL_KEYS = ("name", "model", "modified_at", "size", "digest", "details")
DETAIL_KEYS = ("format", "family", "parameter_size", "quantization_level")


def media_type(content_type: str) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return content_type.split(";", 1)[0].strip().lower()


def tags_problems(reply: HttpReply | None) -> tuple[list[dict[str, Any]], list[str]]:
    """(models, problems) of an /api/tags reply measured against the documented shape."""
    if reply is None:
        return [], ["no HTTP reply"]
    problems = []
    if reply.status != 200:
        problems.append(f"status {reply.status}, expected 200")
    if media_type(reply.content_type) != "application/json":
        problems.append(f"content type {reply.content_type or '(none)'!r}, expected JSON")
    try:
        data = json.loads(reply.body)
    except ValueError:
        return [], [*problems, "body is not JSON"]
    except RecursionError:  # a hostile or broken body: '[' * 100000
        return [], [*problems, "body is not JSON (nested too deep)"]
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        return [], [*problems, 'no "models" list in the body']
    for index, model in enumerate(models):
        if not isinstance(model, dict):
            problems.append(f"models[{index}] is not an object")
            continue
        missing = [k for k in MODEL_KEYS if k not in model]
        details = model.get("details")
        if isinstance(details, dict):
            missing += [f"details.{k}" for k in DETAIL_KEYS if k not in details]
        elif "details" not in missing:
            missing.append("details (not an object)")
        if missing:
            problems.append(f"models[{index}] lacks {', '.join(missing)}")
    return models, problems


def model_key(model: dict[str, Any]) -> str:
    """A model's identity for an order-insensitive comparison."""
    return json.dumps(model, sort_keys=True)


def parity_differences(direct: HttpReply | None, proxied: HttpReply | None) -> list[str]:
    """What differs between the direct and the proxied /api/tags (empty = identical).

    Compares status, media type and the parsed model list regardless of order — not raw
    bytes (nginx may re-chunk) and not merely 'both 200'.
    """
    direct_models, direct_problems = tags_problems(direct)
    proxied_models, proxied_problems = tags_problems(proxied)
    if direct_problems:
        return [f"direct reply unusable: {'; '.join(direct_problems)}"]
    if proxied_problems:
        return [f"proxied reply unusable: {'; '.join(proxied_problems)}"]
    if direct is None or proxied is None:  # unreachable: tags_problems flags None
        return ["no reply"]
    diffs = []
    if direct.status != proxied.status:
        diffs.append(f"status {proxied.status} through the proxy, {direct.status} direct")
    if media_type(direct.content_type) != media_type(proxied.content_type):
        diffs.append(f"content type {proxied.content_type!r} vs {direct.content_type!r}")
    direct_set = {model_key(m): m.get("name") for m in direct_models}
    proxied_set = {model_key(m): m.get("name") for m in proxied_models}
    only_direct = sorted(str(n) for k, n in direct_set.items() if k not in proxied_set)
    only_proxied = sorted(str(n) for k, n in proxied_set.items() if k not in direct_set)
    if only_direct:
        diffs.append(f"models only in the direct reply: {', '.join(only_direct)}")
    if only_proxied:
        diffs.append(f"models only in the proxied reply: {', '.join(only_proxied)}")
    return diffs

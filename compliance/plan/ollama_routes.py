"""Ollama's HTTP routes by version, and which of them only read.

Read on 2026-12-06 from Ollama's own source: `GenerateRoutes` in server/routes.go at every
release tag from v0.1.17 (2023-12-18, the first with that function) to v0.32.15 (2026-08-19),
and at main (commit fb3076099, 2026-08-21, after v0.33.0-rc2), plus
server/internal/registry/server.go, which answered DELETE /api/delete and POST /api/pull in
front of the gin router from v0.5.13 to v0.31.1. The classification is ours:

- READ answers without changing the server's state: listings, the version, a model's details,
  inference (which loads a model into memory and stores nothing);
- MANAGE changes what the server holds (models, blobs, aliases) or acts with the server's
  ollama.com identity (its signed key: sign-in, sign-out, account, web search and fetch), or is
  a step of model upload.

`since`/`until` are the first and the last release with the route (`until` None: still in
main). A version the table does not know (unreadable, older than v0.1.17, or newer than the
newest release read) is judged with main's routes, and the evidence says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

READ, MANAGE = "read", "manage"
READ_ON = "2026-12-06"
FIRST = "0.1.17"
NEWEST = "0.32.15"  # the newest release read; main was read at fb3076099 (after v0.33.0-rc2)
MAIN = "main (fb3076099, 2026-08-21)"

# One sample value per path parameter (gin's `:name` is one path segment).
SAMPLES = {"digest": "sha256:" + "0" * 64, "encodedKey": "a2V5", "model": "llama3.2"}


@dataclass(frozen=True)
class Route:
    """One route of Ollama's router: method, gin path, our class and why, and its releases."""

    method: str
    path: str
    kind: str
    reason: str
    since: str = FIRST
    until: str | None = None

    @property
    def sample(self) -> str:
        """The path with each `:param` filled with a sample value."""
        return re.sub(r":(\w+)", lambda m: SAMPLES[m.group(1)], self.path)

    @property
    def shown(self) -> str:
        return f"{self.method} {self.path}"

    def exists_in(self, version: tuple[int, int, int]) -> bool:
        if version < version_key_of(self.since):
            return False
        return self.until is None or version <= version_key_of(self.until)


R, M = READ, MANAGE
INFERENCE = "inference: loads the model into memory, stores nothing"
ROUTES: tuple[Route, ...] = (
    Route("GET", "/", R, "the banner `Ollama is running`"),
    Route("HEAD", "/", R, "the banner's headers"),
    Route("GET", "/api/version", R, "the server's version"),
    Route("HEAD", "/api/version", R, "the version's headers"),
    Route("GET", "/api/status", R, "whether cloud models are disabled, and by what", "0.16.2"),
    Route("GET", "/api/tags", R, "lists the installed models"),
    Route("HEAD", "/api/tags", R, "the listing's headers"),
    Route("POST", "/api/show", R, "a model's details (Modelfile, parameters, template)"),
    Route("GET", "/api/ps", R, "lists the models loaded in memory", "0.1.38"),
    Route("POST", "/api/generate", R, INFERENCE),
    Route("POST", "/api/chat", R, INFERENCE),
    Route("POST", "/api/embed", R, INFERENCE, "0.2.6"),
    Route("POST", "/api/embeddings", R, INFERENCE),
    Route("POST", "/v1/chat/completions", R, INFERENCE + " (OpenAI-compatible)", "0.1.24"),
    Route("POST", "/v1/completions", R, INFERENCE + " (OpenAI-compatible)", "0.2.0"),
    Route("POST", "/v1/embeddings", R, INFERENCE + " (OpenAI-compatible)", "0.2.6"),
    Route("GET", "/v1/models", R, "lists the installed models (OpenAI-compatible)", "0.2.0"),
    Route("GET", "/v1/models/:model", R, "one model's details (OpenAI-compatible)", "0.2.0"),
    Route("POST", "/v1/responses", R, INFERENCE + " (OpenAI Responses)", "0.13.3"),
    Route("POST", "/v1/messages", R, INFERENCE + " (Anthropic-compatible)", "0.14.0"),
    Route("POST", "/v1/images/generations", R, INFERENCE + " (images)", "0.14.3", "0.32.5"),
    Route("POST", "/v1/images/edits", R, INFERENCE + " (images)", "0.15.0", "0.32.5"),
    Route("POST", "/v1/audio/transcriptions", R, INFERENCE + " (audio)", "0.20.0"),
    Route("GET", "/api/experimental/aliases", R, "lists model aliases", "0.15.5", "0.17.7"),
    Route(
        "GET",
        "/api/experimental/model-recommendations",
        R,
        "a list of recommended models (served from a cache)",
        "0.22.1",
    ),
    Route("POST", "/api/pull", M, "downloads a model from a registry onto the server's disk"),
    Route("POST", "/api/push", M, "uploads a model to a registry, signed with the server's key"),
    Route("POST", "/api/create", M, "creates a model (the entry of CVE-2026-7482)"),
    Route("POST", "/api/blobs/:digest", M, "writes an uploaded blob to the server's disk"),
    Route(
        "HEAD",
        "/api/blobs/:digest",
        M,
        "the upload's first step (`ollama create` asks it before the POST): tells which model"
        " layers the server holds; no inference client calls it",
    ),
    Route("POST", "/api/copy", M, "adds a model under another name"),
    Route("DELETE", "/api/delete", M, "removes a model from the server's disk"),
    Route(
        "POST",
        "/api/me",
        M,
        "asks ollama.com, signed with the server's key, for its account (name, email, plan),"
        " and hands out a sign-in link that connects that key to whoever opens it",
        "0.12.0",
    ),
    Route(
        "POST",
        "/api/signout",
        M,
        "disconnects the server's key from its ollama.com account",
        "0.12.1",
    ),
    Route(
        "DELETE",
        "/api/user/keys/:encodedKey",
        M,
        "the deprecated sign-out: disconnects the server's key from its account",
        "0.12.0",
    ),
    Route(
        "POST",
        "/api/experimental/web_search",
        M,
        "a search run by ollama.com for the server's signed key: spends its account",
        "0.18.0",
    ),
    Route(
        "POST",
        "/api/experimental/web_fetch",
        M,
        "a page fetched by ollama.com for the server's signed key: spends its account",
        "0.18.0",
    ),
    Route("POST", "/api/experimental/aliases", M, "creates a model alias", "0.15.5", "0.17.7"),
    Route("DELETE", "/api/experimental/aliases", M, "removes a model alias", "0.15.5", "0.17.7"),
)
del R, M


def version_key_of(text: str) -> tuple[int, int, int]:
    """(major, minor, patch) of `0.21.0`, `v0.21.0`, `0.33.0-rc2` (ValueError otherwise)."""
    found = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text.strip())
    if not found:
        raise ValueError(f"{text!r} is not a version")
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


@dataclass(frozen=True)
class InUse:
    """The routes of the version in use, and which table they come from (for the evidence)."""

    routes: tuple[Route, ...]
    table: str

    @property
    def manage(self) -> tuple[Route, ...]:
        return tuple(route for route in self.routes if route.kind == MANAGE)

    @property
    def read(self) -> tuple[Route, ...]:
        return tuple(route for route in self.routes if route.kind == READ)


def in_main() -> tuple[Route, ...]:
    return tuple(route for route in ROUTES if route.until is None)


def routes_for(version: str | None) -> InUse:
    """The routes of Ollama `version` (as /api/version says it); main's for a version the
    table does not know, saying why."""
    read = f"Ollama's routes read {READ_ON}"
    if version is None:
        return InUse(in_main(), f"{read}: the version is unknown, so main's ({MAIN})")
    try:
        key = version_key_of(version)
    except ValueError:
        return InUse(in_main(), f"{read}: {version!r} is no version, so main's ({MAIN})")
    if key > version_key_of(NEWEST):
        why = f"{version} is newer than the newest release read (v{NEWEST})"
        return InUse(in_main(), f"{read}: {why}, so main's ({MAIN})")
    if key < version_key_of(FIRST):
        why = f"{version} is older than the first release read (v{FIRST})"
        return InUse(in_main(), f"{read}: {why}, so main's ({MAIN})")
    return InUse(tuple(r for r in ROUTES if r.exists_in(key)), f"{read}: those of {version}")


def version_in(body: str) -> str | None:
    """The `version` of an /api/version answer (None: not that JSON)."""
    try:
        value = json.loads(body).get("version")
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) else None

"""nginx's location choice as a table: configs (their `location` blocks), URIs, and the location
nginx chooses for each, written `location <modifier> <pattern>` (or `none`: no location, 404).

The unit test holds `compliance.syntax.nginx.find_location` to this table host-free; the
differential test (test_nginx_differential.py) starts a private nginx on these configs, every
location answering its own id, and holds the real nginx (1.22 here) to the same table, so the
table is nginx's behaviour, not our reading of its docs.
"""

from __future__ import annotations

from dataclasses import dataclass

from compliance.plan import ollama_routes
from compliance.syntax import nginx
from remediation import render

NONE = "none"


@dataclass(frozen=True)
class Case:
    """One config (the body of a server: its locations) and the choice for each URI."""

    name: str
    config: str
    choices: tuple[tuple[str, str], ...]


GUARDS = """
location / { }
location /ollama/ {
    location ~ ^/ollama/api/(pull|delete) { }
    location /ollama/api/ { }
}
location /ollama/api/version { }
location = /ollama/exact { }
location ^~ /static/ { }
location ~ \\.json$ { }
location ~ ^/static/x { }
location ~* ^/OTHER/ { }
location ~ ^/other/ { }
"""

NESTED_NOREGEX = """
location / { }
location /ollama/ {
    location ^~ /ollama/api/ {
        location ~ tags$ { }
    }
    location ~ version$ { }
}
location ~ pull { }
"""

EXACT_BESIDE = """
location /ollama/ {
    location ~ ^/ollama/api/(pull|push) { }
}
location = /ollama/api/pull { }
"""

EXACT_NESTED = """
location /ollama/ {
    location = /ollama/api/pull { }
    location ~ pull { }
}
location ~ ^/ollama/api/pull { }
"""

REGEX_IN_REGEX = """
location ~ ^/ollama/ {
    location ~ /api/pull$ { }
}
location ~ /api/ { }
location /ollama/ { }
"""

CASE_AND_ORDER = """
location /api/ { }
location ~* /API/PULL { }
location ~ /api/pull { }
location ~ /api/(push|pull) { }
"""

NOREGEX_SHORTER = """
location ^~ /a/ { }
location /a/b/ { }
location ~ /a/b/c { }
location ~ /a/x { }
location @named { }
"""

EXACT_AND_PREFIX_SAME = """
location = /ollama/ { }
location /ollama/ {
    location ~ /$ { }
}
location ~ ^/ollama/$ { }
"""

CASES: tuple[Case, ...] = (
    Case(
        "guards",
        GUARDS,
        (
            ("/ollama/exact", "location = /ollama/exact"),
            ("/ollama/api/version", "location /ollama/api/version"),
            ("/ollama/api/tags", "location /ollama/api/"),
            ("/ollama/api/delete", "location ~ ^/ollama/api/(pull|delete)"),
            ("/ollama/api/pull.json", "location ~ ^/ollama/api/(pull|delete)"),
            ("/ollama/x", "location /ollama/"),
            ("/ollama/x.json", "location ~ \\.json$"),
            ("/static/x.json", "location ^~ /static/"),
            ("/other/y", "location ~* ^/OTHER/"),
            ("/OTHER/y", "location ~* ^/OTHER/"),
            ("/ollama", "location /"),
            ("/nothing", "location /"),
        ),
    ),
    Case(
        "a nested ^~ stops its parent's regexes, not the server's",
        NESTED_NOREGEX,
        (
            ("/ollama/api/pull", "location ~ pull"),
            ("/ollama/api/tags", "location ~ tags$"),
            ("/ollama/api/version", "location ^~ /ollama/api/"),
            ("/ollama/version", "location ~ version$"),
            ("/ollama/pull", "location ~ pull"),
            ("/x", "location /"),
        ),
    ),
    Case(
        "an exact location beside the guarded prefix",
        EXACT_BESIDE,
        (
            ("/ollama/api/pull", "location = /ollama/api/pull"),
            ("/ollama/api/push", "location ~ ^/ollama/api/(pull|push)"),
            ("/ollama/api/pull/", "location ~ ^/ollama/api/(pull|push)"),
            ("/ollama/api/pul", "location /ollama/"),
            ("/x", NONE),
        ),
    ),
    Case(
        "an exact location nested in a prefix",
        EXACT_NESTED,
        (
            ("/ollama/api/pull", "location = /ollama/api/pull"),
            ("/ollama/api/pull2", "location ~ pull"),
            ("/ollama/api/pullx", "location ~ pull"),
            ("/ollama/api/tags", "location /ollama/"),
        ),
    ),
    Case(
        "a regex's nested locations are searched",
        REGEX_IN_REGEX,
        (
            ("/ollama/api/pull", "location ~ /api/pull$"),
            ("/ollama/api/tags", "location ~ ^/ollama/"),
            ("/v1/api/x", "location ~ /api/"),
            ("/ollama/", "location ~ ^/ollama/"),
        ),
    ),
    Case(
        "regexes in file order; ~* ignores case, prefixes do not",
        CASE_AND_ORDER,
        (
            ("/api/pull", "location ~* /API/PULL"),
            ("/api/push", "location ~ /api/(push|pull)"),
            ("/API/PUSH", NONE),
            ("/Api/Pull", "location ~* /API/PULL"),
            ("/api/tags", "location /api/"),
        ),
    ),
    Case(
        "the longest prefix decides, ^~ only when it is the longest; named never",
        NOREGEX_SHORTER,
        (
            ("/a/b/c", "location ~ /a/b/c"),
            ("/a/x", "location ^~ /a/"),
            ("/a/b/d", "location /a/b/"),
            ("/@named", NONE),
        ),
    ),
    Case(
        "an exact match and a prefix of the same name",
        EXACT_AND_PREFIX_SAME,
        (
            ("/ollama/", "location = /ollama/"),
            ("/ollama/x/", "location ~ /$"),
            ("/ollama/x", "location /ollama/"),
        ),
    ),
)


def hardened_case(manage_from: tuple[str, ...] = ()) -> Case:
    """The hardened site as the fix renders it: every route of the table (every version),
    with the /ollama/ prefix, on a read path goes to the read location, the rest to the
    guarded `location /ollama/`."""
    text = render.site("pve.example.com", "10.0.3.55", (600, manage_from))
    server = nginx.parse(text).find("server")[0]
    outer = next(loc for loc in nginx.locations(server) if loc.pattern == "/ollama/")
    reads = render.read_paths()
    inner = f"location ~ {render.read_pattern(reads)}"
    choices = [
        ("/ollama" + route.sample, inner if route.path in reads else outer.shown)
        for route in ollama_routes.ROUTES
    ]
    unknown = ("/ollama/api/unknown", "/ollama/api/tags/", "/ollama/v1/models/a/b", "/ollama/x")
    choices += [(uri, outer.shown) for uri in unknown]
    body = "\n".join(_text(loc.directive) for loc in nginx.locations(server))
    return Case("the hardened site", body, tuple(dict(choices).items()))


def _text(directive: nginx.Directive, depth: int = 0) -> str:
    """A location block again as nginx text: only its nested locations (its other directives
    are not what the choice depends on)."""
    pad = "    " * depth
    inner = "".join(_text(child, depth + 1) + "\n" for child in directive.children("location"))
    args = " ".join(directive.args)
    return f"{pad}location {args} {{\n{inner}{pad}}}"

"""The hardened guard and the request walk, against the real nginx.

A private nginx (own prefix, 127.0.0.1 high ports) serves the site `--fix` renders under the
hardened profile, in front of a stand-in upstream on 127.0.0.1 that echoes what reaches it.
Every route of the table (every version): each read endpoint reaches the upstream at its own
path with the plan's headers, each write endpoint gets 403 and never reaches it (so does the
one read that shares its path with writes: GET /api/experimental/aliases of 0.15.5-0.17.7),
and a client of `ollama_manage_from` (sent from 127.0.0.2) passes every one, at its path.
Then a table of configs and requests: what `nginx_request.walk` predicts (reaches the
upstream as which URI, or stops) must be what nginx did. Skipped where nginx is not installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from compliance import plan
from compliance.plan import ollama_routes
from compliance.syntax import nginx
from compliance.syntax.nginx_request import REACHES, STOPS, Request, walk
from remediation import render
from selftests import privatenginx

pytestmark = pytest.mark.skipif(not privatenginx.available(), reason="nginx is not installed")

MANAGER = "127.0.0.2"  # the network allowed to manage models
ANYONE = "127.0.0.1"


def served(text: str, port: int, upstream: int) -> str:
    """A site's text listening on 127.0.0.1:`port`, its CT on 127.0.0.1:`upstream`."""
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
    return text.replace(f"127.0.0.1:{plan.PORT}", f"127.0.0.1:{upstream}")


def test_the_hardened_site_passes_reads_refuses_writes_and_lets_managers_through():
    port, upstream = privatenginx.free_ports(2)
    text = render.site("127.0.0.1", "127.0.0.1", (600, (f"{MANAGER}/32",)))
    problems = []
    with (
        privatenginx.upstream(upstream),
        privatenginx.running(served(text, port, upstream), [port]),
    ):
        for route in ollama_routes.ROUTES:
            uri = "/ollama" + route.sample
            seen = f"{route.method} {route.sample}"
            anyone = privatenginx.request(port, route.method, uri, ANYONE)
            if route.path in render.read_paths():
                if (anyone.status, anyone.headers.get("x-seen")) != (200, seen):
                    problems.append(
                        f"{route.shown}: read answered {anyone.status} {anyone.headers}"
                    )
                want = {"x-seen-x-real-ip": ANYONE, "x-seen-x-forwarded-proto": "http"}
                if {k: anyone.headers.get(k) for k in want} != want:
                    problems.append(f"{route.shown}: the plan's headers lost: {anyone.headers}")
            elif anyone.status != 403 or "x-seen" in anyone.headers:
                problems.append(f"{route.shown}: write answered {anyone.status} {anyone.headers}")
            manager = privatenginx.request(port, route.method, uri, MANAGER)
            if (manager.status, manager.headers.get("x-seen")) != (200, seen):
                problems.append(f"{route.shown}: the manager got {manager.status}")
    assert not problems, "\n".join(problems)


@dataclass(frozen=True)
class Walked:
    """A server (`UPSTREAM` stands for the stand-in's address) and requests to send it."""

    name: str
    server: str
    requests: tuple[tuple[str, str, str], ...]  # method, uri, source


UPSTREAM = "http://UPSTREAM"
WALKED = (
    Walked(
        "the exact-location fault beside the rendered guard",
        render.site("127.0.0.1", "127.0.0.1", (600, ())).replace(
            "    location /ollama/ {",
            "    location = /ollama/api/pull {\n        rewrite ^/ollama/(.*)$ /$1 break;\n"
            f"        proxy_pass http://127.0.0.1:{plan.PORT};\n    }}\n    location /ollama/ {{",
        ),
        (
            ("POST", "/ollama/api/pull", ANYONE),
            ("POST", "/ollama/api/push", ANYONE),
            ("GET", "/ollama/api/tags", ANYONE),
            ("POST", "/ollama/api/chat", ANYONE),
            ("DELETE", "/ollama/api/chat", ANYONE),
        ),
    ),
    Walked(
        "limit_except, error_page to a named location, rewrite last, try_files",
        f"""server {{
    listen 80;
    location /a/ {{
        limit_except GET {{
            allow {MANAGER};
            deny all;
        }}
        rewrite ^/a/(.*)$ /z/$1 break;
        proxy_pass {UPSTREAM}/;
    }}
    location /b/ {{
        deny all;
        error_page 403 = @up;
    }}
    location @up {{ proxy_pass {UPSTREAM}; }}
    location /c/ {{
        rewrite ^/c/(.*)$ /d/$1 last;
    }}
    location /d/ {{
        allow {MANAGER};
        deny all;
        rewrite ^/d/(.*)$ /$1 break;
        proxy_pass {UPSTREAM};
    }}
    location /e/ {{
        try_files $uri @up;
    }}
    location /f/ {{
        rewrite ^/f/(.*)$ /g/$1;
        rewrite ^/g/(.*)$ /h/$1;
    }}
    location /h/ {{ proxy_pass {UPSTREAM}/x/; }}
    location = /i {{ proxy_pass {UPSTREAM}/j; }}
    location /k/ {{
        rewrite ^ /l/ break;
        return 403;
        proxy_pass {UPSTREAM};
    }}
}}
""",
        (
            ("GET", "/a/pull", ANYONE),
            ("HEAD", "/a/pull", ANYONE),
            ("POST", "/a/pull", ANYONE),
            ("POST", "/a/pull", MANAGER),
            ("POST", "/b/pull", ANYONE),
            ("POST", "/c/pull", ANYONE),
            ("POST", "/c/pull", MANAGER),
            ("POST", "/e/pull", ANYONE),
            ("GET", "/f/pull", ANYONE),
            ("GET", "/i", ANYONE),
            ("POST", "/k/pull", ANYONE),
        ),
    ),
    Walked(
        "a server-level rewrite without flag, then the location's",
        f"""server {{
    listen 80;
    rewrite ^/old/(.*)$ /new/$1;
    location /new/ {{
        rewrite ^/new/(.*)$ /$1 break;
        proxy_pass {UPSTREAM};
    }}
}}
""",
        (("POST", "/old/api/pull", ANYONE), ("GET", "/new/api/tags", ANYONE)),
    ),
    Walked(
        "nested ^~ and the server's regex; a regex's nested location",
        f"""server {{
    listen 80;
    location /ollama/ {{
        deny all;
        location ^~ /ollama/api/ {{ deny all; }}
    }}
    location ~ pull {{
        rewrite ^/ollama/(.*)$ /$1 break;
        proxy_pass {UPSTREAM};
        location ~ push {{ deny all; }}
    }}
}}
""",
        (
            ("POST", "/ollama/api/pull", ANYONE),
            ("POST", "/ollama/api/create", ANYONE),
            ("POST", "/ollama/api/pullpush", ANYONE),
        ),
    ),
)


def _predicted(server: nginx.Directive, method: str, uri: str, source: str) -> str:
    for path in walk(server, Request(method, uri)):
        if source in path.clients.v4:
            if path.kind == REACHES:
                return f"upstream {method} {path.uri}"
            assert path.kind == STOPS, path
            return "stops"
    raise AssertionError(f"no path for {source}")


def test_the_walk_predicts_what_nginx_does():
    ports = privatenginx.free_ports(len(WALKED) + 1)
    upstream, listening = ports[0], ports[1:]
    servers = []
    for walked, port in zip(WALKED, listening, strict=True):
        text = walked.server.replace(UPSTREAM, f"http://127.0.0.1:{upstream}")
        servers.append(served(text, port, upstream))
    differences, asked = [], 0
    with privatenginx.upstream(upstream), privatenginx.running("".join(servers), listening):
        for walked, text, port in zip(WALKED, servers, listening, strict=True):
            server = nginx.parse(text).find("server")[0]
            for method, uri, source in walked.requests:
                reply = privatenginx.request(port, method, uri, source)
                seen = reply.headers.get("x-seen")
                did = f"upstream {seen}" if seen else "stops"
                want = _predicted(server, method, uri, source)
                asked += 1
                if did != want:
                    differences.append(
                        f"{walked.name}: {method} {uri} from {source}: nginx {did}"
                        f" ({reply.status}), walk {want}"
                    )
    assert not differences, "\n".join(differences)
    assert asked == sum(len(w.requests) for w in WALKED)

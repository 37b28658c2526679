"""A request walked through a server's phases (compliance/syntax/nginx_request.py), host-free;
what the real nginx does with such configs is held in test_guard_differential.py."""

from __future__ import annotations

import pytest

from compliance.catalogue.manage import CT, OTHER, UNRESOLVED, _Targets
from compliance.syntax import nginx, nginx_loaded
from compliance.syntax.nginx_request import REACHES, STOPS, UNKNOWN, Clients, Request, walk
from selftests.unit import factsets


def walked(body: str, method: str = "POST", uri: str = "/ollama/api/pull"):
    server = nginx.parse(f"server {{\n{body}\n}}").find("server")[0]
    return walk(server, Request(method, uri))


def only(paths):
    (path,) = paths
    return path


@pytest.mark.parametrize(
    ("body", "kind", "why"),
    [
        ("return 444;", STOPS, "`return 444` in the server block"),
        ("rewrite ^ https://x/ permanent;", STOPS, "redirects the client"),
        ("rewrite ^/ollama/(.*) /$host/$1;", UNKNOWN, "a variable in the replacement"),
        ("rewrite ([ /x;", UNKNOWN, "a regex Python cannot read"),
        ("location /ollama/ { internal; proxy_pass http://u; }", STOPS, "is internal (404)"),
        ("location /ollama/ { return 403; proxy_pass http://u; }", STOPS, "`return 403` in"),
        ("location /ollama/ { try_files $uri =404; }", STOPS, "answers 404 when no file"),
        ("location /ollama/ { try_files $uri $x; }", UNKNOWN, "a URI with a variable: $x"),
        ("location /ollama/ { deny 10.0.0.x; }", UNKNOWN, "unreadable access rule"),
        ("location /ollama/ { root /srv; }", STOPS, "does not proxy"),
        ("location / { rewrite ^ /x; }", STOPS, "rewrite or internal redirection cycle"),
        ("location /x/ { }", STOPS, "no location: nginx serves it from disk"),
    ],
)
def test_where_the_walk_stops_or_cannot_follow(body, kind, why):
    path = only(walked(body))
    assert path.kind == kind
    assert why in path.why


def test_a_rewrite_without_flag_goes_on_then_searches_again():
    body = (
        "rewrite ^/ollama/(.*)$ /a/$1;\n"
        "location /a/ { rewrite ^/a/(.*)$ /$1 break; proxy_pass http://u; }"
    )
    path = only(walked(body))
    assert (path.kind, path.uri) == (REACHES, "/api/pull")


def test_satisfy_any_counts_the_refused_as_admitted():
    path = only(
        walked("location /ollama/ { satisfy any; deny all; auth_basic x; proxy_pass http://u; }")
    )
    assert path.kind == REACHES
    assert path.clients == Clients.everyone()


def test_allow_and_deny_split_the_address_space():
    body = "location /ollama/ { allow 10.0.0.0/8; allow ::1; deny all; proxy_pass http://u; }"
    paths = walked(body)
    reaches = next(p for p in paths if p.kind == REACHES)
    assert str(reaches.clients) == "10.0.0.0/8 and ::1/128"
    refused = next(p for p in paths if p.kind == STOPS)
    assert "refused (403) by the allow/deny of `location /ollama/`" in refused.why


def test_the_uri_proxy_pass_sends():
    assert only(walked("location /ollama/ { proxy_pass http://u/; }")).uri == "/api/pull"
    assert only(walked("location = /ollama/api/pull { proxy_pass http://u/x; }")).uri == "/x"
    assert only(walked("location / { proxy_pass http://u; }")).uri == "/ollama/api/pull"


CT_IP = factsets.CT_IP


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (f"http://{CT_IP}:11434", CT),
        (f"http://{CT_IP}:11434/", CT),
        (f"https://{CT_IP}:11434", CT),
        (f"http://{CT_IP}", OTHER),  # port 80
        ("http://10.0.3.99:11434", OTHER),
        ("http://[fd00::1]:11434", OTHER),
        ("http://unix:/run/x.sock", OTHER),
        ("http://ollama.lan:11434", UNRESOLVED),
        ("http://$backend", UNRESOLVED),
        ("http://ct", CT),
        ("http://mixed", UNRESOLVED),
        ("http://elsewhere", OTHER),
        (f"{CT_IP}:11434", OTHER),  # an http proxy_pass needs a scheme
    ],
)
def test_what_a_proxy_pass_targets(value, kind):
    upstreams = nginx.parse(
        f"upstream ct {{ server 10.0.3.98:11434 down; server {CT_IP}:11434; }}\n"
        "upstream mixed { server 10.0.3.98:11434; server ollama.lan:11434; }\n"
        "upstream elsewhere { server 10.0.3.98:11434; }\n"
    ).directives
    targets = _Targets(CT_IP, {d.args[0]: d for d in upstreams})
    assert targets.of(value) == kind


def test_with_the_cts_address_unknown_any_upstream_on_11434_counts():
    assert _Targets(None, {}).of("http://10.9.9.9:11434") == CT
    assert _Targets(None, {}).of("http://10.9.9.9:8080") == OTHER


def test_an_include_the_dump_does_not_show_is_named():
    dump = nginx_loaded.read_dump(
        "# configuration file /etc/nginx/nginx.conf:\n"
        "http { include /etc/nginx/extra.conf; include /etc/nginx/conf.d/*.conf; }\n"
    )
    assert nginx_loaded.unresolved_includes(dump) == ["/etc/nginx/extra.conf"]

"""compliance/syntax/nginx.py: the lexer, the directive tree and the values read in it."""

from __future__ import annotations

import pytest

from compliance import plan
from compliance.syntax import nginx
from compliance.syntax.nginx import Directive, Headers, Listen
from selftests.unit import samples


def server_of(text: str) -> Directive:
    """The first server block of a site text."""
    config = nginx.parse(text)
    assert config.errors == ()
    return config.find("server")[0]


def location_of(text: str, pattern: str = "/ollama/") -> Directive:
    found = [loc for loc in nginx.locations(server_of(text)) if loc.pattern == pattern]
    assert found, pattern
    return found[0].directive


# -- the lexer and the tree ---------------------------------------------------------------


def test_the_rendered_site_as_a_tree():
    config = nginx.parse(samples.SITE_RENDERED, "/etc/nginx/sites-enabled/ollama_proxy")
    assert config.errors == ()
    (server,) = config.directives
    assert (server.name, server.args) == ("server", ())
    assert [d.name for d in server.block or ()] == ["listen", "server_name", "location"]
    assert server.value("server_name") == "pve.example.com"  # the comment is not an argument
    location = server.children("location")[0]
    assert location.args == ("/ollama/",)
    assert location.where == "/etc/nginx/sites-enabled/ollama_proxy:5"
    assert location.value("rewrite") == "^/ollama/(.*)$ /$1 break"
    assert location.value("proxy_pass") == "http://10.0.3.55:11434"
    assert [d.args[0] for d in location.children("proxy_set_header")] == [
        "Host",
        "X-Real-IP",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "Upgrade",
        "Connection",
    ]
    assert location.children("proxy_set_header")[-1].args == ("Connection", "upgrade")
    assert [d.line for d in config.find("proxy_set_header")] == [11, 12, 13, 14, 18, 19]


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ('x "a b" c;', ("a b", "c")),
        ("x 'single quoted';", ("single quoted",)),
        (r'x "say \"hi\"";', ('say "hi"',)),
        ("x a#b;", ("a#b",)),  # `#` inside a word is not a comment
        ('x a"b;', ('a"b',)),  # a quote opens a string only at the start of a word
        ("x ${host}x;", ("${host}x",)),
        ("x $a${b}c;", ("$a${b}c",)),
        ("x ${a;b};", ("${a;b}",)),  # `${...}` stays one word, whatever it holds
        (r"x a\;b;", (r"a\;b",)),  # an escaped `;` does not end the directive
        ('x "{ ; }";', ("{ ; }",)),  # braces and `;` inside quotes are text
        ("x;", ()),
        ("x a # comment ; here\n b;", ("a", "b")),
    ],
    ids=[
        "double",
        "single",
        "escaped",
        "hash-in-word",
        "quote-in-word",
        "var",
        "vars",
        "var-with-semicolon",
        "escaped-semicolon",
        "quoted-braces",
        "no-args",
        "comment",
    ],
)
def test_lexer_words_and_strings(text, args):
    config = nginx.parse(text)
    assert config.errors == ()
    (directive,) = config.directives
    assert (directive.name, directive.args, directive.block) == ("x", args, None)


def test_a_quoted_string_over_lines_keeps_counting_lines():
    config = nginx.parse('a "one\ntwo";\nb;\n')
    assert [(d.name, d.args, d.line) for d in config.directives] == [
        ("a", ("one\ntwo",), 1),
        ("b", (), 3),
    ]


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("server { listen 80;", ["unexpected end of file: a block is not closed"]),
        ("listen 80; }", ["line 1: unexpected `}`"]),
        ("listen 80", ["line 1: `listen` has no `;`"]),
        ("server { listen 80 }", ["line 1: `listen` has no `;`"]),
        ('x "open;\n', ['line 1: unterminated "quote', "line 1: `x` has no `;`"]),
        ("a }\n", ["line 1: `a` has no `;`", "line 1: unexpected `}`"]),
    ],
    ids=["unclosed", "extra-brace", "no-semicolon", "no-semicolon-in-block", "quote", "stray"],
)
def test_parse_errors_are_recorded_once_each(text, errors):
    assert list(nginx.parse(text).errors) == errors


def test_what_could_be_read_is_kept_after_an_error():
    config = nginx.parse("server {\n listen 80;\n location /ollama/ {\n proxy_pass http://x:1;\n")
    assert config.errors
    assert [d.args for d in config.find("proxy_pass")] == [("http://x:1",)]


def test_a_stray_brace_does_not_glue_words_to_the_next_directive():
    config = nginx.parse("a } b c;")
    assert [(d.name, d.args) for d in config.directives] == [("b", ("c",))]


def test_find_walks_every_depth_in_file_order():
    text = "http { server { location / { location ~ x { deny all; } } deny 1; } } deny 2;"
    config = nginx.parse(text)
    assert [d.args for d in config.find("deny")] == [("all",), ("1",), ("2",)]
    assert [d.name for d in nginx.walk(config.directives)][:3] == ["http", "server", "location"]


def test_directive_children_and_value():
    server = server_of("server { listen 80; listen [::]:80; location / { listen 1; } }")
    assert [d.args for d in server.children("listen")] == [("80",), ("[::]:80",)]  # not nested
    assert server.value("listen") == "[::]:80"  # the last one
    assert server.value("server_name") is None
    assert Directive("x", ()).children("y") == []
    assert Directive("x", (), line=4).where == "line 4"


# -- Config.shape ---------------------------------------------------------------------------


def test_shape_ignores_comments_whitespace_and_lines():
    squeezed = " ".join(
        line.split("#", 1)[0].strip() for line in samples.SITE_RENDERED.splitlines()
    )
    assert squeezed != samples.SITE_RENDERED
    assert nginx.parse(squeezed).shape() == nginx.parse(samples.SITE_RENDERED).shape()


def test_shape_of_the_plan_site_is_the_rendered_site():
    rendered = plan.site_text("pve.example.com", "10.0.3.55")
    assert nginx.parse(rendered).shape() == nginx.parse(samples.SITE_RENDERED).shape()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("proxy_pass http://10.0.3.55:11434;", "proxy_pass http://10.0.3.56:11434;"),
        ("listen 80;", "listen 8080;"),
        ('Connection "upgrade";', 'Connection "close";'),
        ("proxy_http_version 1.1;", ""),
        ("rewrite ^/ollama/(.*)$ /$1 break;", "rewrite ^/ollama/(.*)$ /$1 last;"),
        (
            "proxy_set_header Host $host;\n        proxy_set_header X-Real-IP $remote_addr;",
            "proxy_set_header X-Real-IP $remote_addr;\n        proxy_set_header Host $host;",
        ),
    ],
    ids=["target", "port", "argument", "removed", "flag", "order"],
)
def test_shape_differs_when_nginx_would_read_it_differently(old, new):
    assert old in samples.SITE_RENDERED
    changed = samples.SITE_RENDERED.replace(old, new)
    assert nginx.parse(changed).shape() != nginx.parse(samples.SITE_RENDERED).shape()


def test_shape_tells_an_empty_block_from_a_plain_directive():
    assert nginx.parse("x {}").shape() == (("x", (), ()),)
    assert nginx.parse("x;").shape() == (("x", (), None),)


# -- values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("600", 600.0),
        ("600s", 600.0),
        ("10m", 600.0),
        ("1h 30m", 5400.0),
        ("500ms", 0.5),
        ("1d", 86400.0),
        ("2w", 1209600.0),
        ("", None),
        ("off", None),
    ],
)
def test_seconds(value, seconds):
    assert nginx.seconds(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("listens", "ports"),
    [
        ((), {80}),
        (("80",), {80}),
        (("[::]:80", "80 default_server"), {80}),
        (("10.0.0.1:8080 ssl",), {8080}),
        (("10.0.0.1",), {80}),
        (("[fe80::1]",), {80}),
        (("unix:/run/nginx.sock",), set()),
        (("localhost:8081", "443 ssl http2"), {8081, 443}),
    ],
)
def test_listen_ports(listens, ports):
    text = "server { " + " ".join(f"listen {value};" for value in listens) + " }"
    assert {listen.port for listen in nginx.listens(server_of(text))} == ports


@pytest.mark.parametrize(
    ("value", "listen"),
    [
        ("80", Listen("*", 80)),
        ("*:80", Listen("*", 80)),
        (":8080", Listen("*", 8080)),
        ("[::]:80", Listen("[::]", 80)),
        ("[::]", Listen("[::]", 80)),
        ("10.0.0.2:80 default_server", Listen("10.0.0.2", 80, True)),
        ("80 default", Listen("*", 80, True)),
        ("80 ssl http2", Listen("*", 80)),
        ("pve.example.com:8080", Listen("pve.example.com", 8080)),
        ("10.0.0.2", Listen("10.0.0.2", 80)),
    ],
)
def test_listens(value, listen):
    assert nginx.listens(server_of(f"server {{ listen {value}; }}")) == (listen,)


def test_no_listen_is_nginxs_default():
    assert nginx.listens(server_of("server { server_name x; }")) == (Listen("*", 80),)


def test_a_server_of_unix_sockets_only_listens_on_no_port():
    assert nginx.listens(server_of("server { listen unix:/run/a.sock; }")) == ()


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (samples.SITE_RENDERED, ("pve.example.com",)),
        ("server { server_name a b; server_name c; }", ("a", "b", "c")),
        ('server { server_name "" _; }', ("", "_")),
        ("server { listen 80; }", ()),
    ],
    ids=["rendered", "several", "catch-all", "none"],
)
def test_server_names(text, names):
    assert nginx.server_names(server_of(text)) == names


@pytest.mark.parametrize(
    ("proxy_pass", "target"),
    [
        ("http://10.0.3.55:11434", ("10.0.3.55", 11434)),
        ("http://ollama.lan:11434", ("ollama.lan", 11434)),
        ("http://[fd00::55]:11434", ("fd00::55", 11434)),
        ("http://10.0.3.55:11434/", None),
        ("http://10.0.3.55", None),
        ("https://10.0.3.55:11434", None),
        ("http://ollama_upstream", None),
        ("http://<LXC_955_IP>:11434", ("<LXC_955_IP>", 11434)),  # never equals a real IP
        ("", None),
    ],
)
def test_proxy_target(proxy_pass, target):
    assert nginx.proxy_target(proxy_pass) == target


# -- locations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "modifier", "pattern"),
    [
        ("/ollama/", "", "/ollama/"),
        ("= /exact", "=", "/exact"),
        ("=/exact", "=", "/exact"),
        ("^~ /static/", "^~", "/static/"),
        ("~ ^/api/(pull|push)", "~", "^/api/(pull|push)"),
        ("~^/api/", "~", "^/api/"),
        ("~* \\.PNG$", "~*", "\\.PNG$"),
        ("~*\\.png$", "~*", "\\.png$"),
        ("@named", "", "@named"),
    ],
)
def test_location_modifier_and_pattern(args, modifier, pattern):
    (location,) = nginx.locations(server_of(f"server {{ location {args} {{ }} }}"))
    assert (location.modifier, location.pattern) == (modifier, pattern)
    assert location.directive.name == "location"


@pytest.mark.parametrize(
    ("args", "uri", "matches"),
    [
        ("/ollama/", "/ollama/api/tags", True),
        ("/ollama/", "/ollama", False),
        ("= /ollama", "/ollama", True),
        ("= /ollama", "/ollama/", False),
        ("~ ^/ollama/api/(pull|delete)", "/ollama/api/delete", True),
        ("~ ^/ollama/api/(pull|delete)", "/ollama/api/tags", False),
        ("~ /API/", "/api/", False),
        ("~* /API/", "/api/", True),
        ("~ ([", "/anything", False),  # a pattern Python cannot read matches nothing
    ],
)
def test_location_matches(args, uri, matches):
    (location,) = nginx.locations(server_of(f"server {{ location {args} {{ }} }}"))
    assert location.matches(uri) is matches


def test_locations_are_only_the_direct_ones():
    server = server_of("server { location /a/ { location /a/b/ { } } location /c/ { } }")
    assert [loc.pattern for loc in nginx.locations(server)] == ["/a/", "/c/"]
    inner = nginx.locations(nginx.locations(server)[0].directive)
    assert [loc.pattern for loc in inner] == ["/a/b/"]


CHOOSING = """\
server {
    location / { }
    location /ollama/ {
        location ~ ^/ollama/api/(pull|delete) { deny all; }
        location /ollama/api/ { }
    }
    location /ollama/api/version { }
    location = /ollama/exact { }
    location ^~ /static/ { }
    location ~ \\.json$ { }
    location ~ ^/static/x { }
    location ~* ^/OTHER/ { }
    location ~ ^/other/ { }
}
"""


@pytest.mark.parametrize(
    ("uri", "chosen"),
    [
        ("/ollama/exact", ("=", "/ollama/exact")),  # an exact match wins at once
        ("/ollama/api/version", ("", "/ollama/api/version")),  # the longest prefix
        ("/ollama/api/tags", ("", "/ollama/api/")),  # looked into: the nested prefix
        ("/ollama/api/delete", ("~", "^/ollama/api/(pull|delete)")),  # nested regex wins
        ("/ollama/x", ("", "/ollama/")),
        ("/ollama/x.json", ("~", "\\.json$")),  # a regex of the level beats the prefix
        ("/static/x.json", ("^~", "/static/")),  # `^~` stops the regex search
        ("/other/y", ("~*", "^/OTHER/")),  # the first matching regex in file order
        ("/nothing", ("", "/")),
    ],
)
def test_choose_location(uri, chosen):
    location = nginx.choose_location(server_of(CHOOSING), uri)
    assert location is not None
    assert (location.modifier, location.pattern) == chosen


def test_choose_location_without_a_match():
    assert nginx.choose_location(server_of("server { location /ollama/ { } }"), "/x") is None
    assert nginx.choose_location(server_of("server { listen 80; }"), "/x") is None


def test_the_plan_routes_its_probe_uri_to_its_location():
    location = nginx.choose_location(server_of(samples.SITE_RENDERED), plan.PROBE_URI)
    assert location is not None
    assert location.pattern == plan.LOCATION


# -- inheritance: proxy_set_header and plain directives --------------------------------------


def test_proxy_headers_of_the_rendered_site():
    server = server_of(samples.SITE_RENDERED)
    headers = nginx.proxy_headers([server, location_of(samples.SITE_RENDERED)])
    assert headers.from_level == "location"
    assert headers.values == {
        "host": "$host",
        "x-real-ip": "$remote_addr",
        "x-forwarded-for": "$proxy_add_x_forwarded_for",
        "x-forwarded-proto": "$scheme",
        "upgrade": "$http_upgrade",
        "connection": "upgrade",
    }
    assert headers.values == plan.SITE.headers


def test_a_location_without_headers_inherits_the_servers():
    text = "server { proxy_set_header Host $host; location /ollama/ { proxy_pass http://x:1; } }"
    headers = nginx.proxy_headers([server_of(text), location_of(text)])
    assert headers == Headers({"host": "$host"}, "server")


def test_one_header_in_the_location_drops_every_inherited_one():
    text = (
        "server { proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr;"
        " location /ollama/ { proxy_set_header Connection upgrade; } }"
    )
    headers = nginx.proxy_headers([server_of(text), location_of(text)])
    assert headers == Headers({"connection": "upgrade"}, "location")


def test_proxy_headers_a_later_one_wins_and_names_are_case_blind():
    text = "server { location /ollama/ { proxy_set_header HOST a; proxy_set_header host b; } }"
    headers = nginx.proxy_headers([server_of(text), location_of(text)])
    assert headers.values == {"host": "b"}


def test_proxy_headers_from_the_top_level_and_from_nowhere():
    top = Directive("", (), block=nginx.parse("proxy_set_header Host $host;").directives)
    assert nginx.proxy_headers([top]) == Headers({"host": "$host"}, "top")
    text = "server { location /ollama/ { } }"
    assert nginx.proxy_headers([server_of(text), location_of(text)]) == Headers({}, "")
    assert nginx.proxy_headers([]) == Headers()


def test_inherited_takes_the_innermost_value():
    text = (
        "server { proxy_read_timeout 60s; proxy_buffering on;"
        " location /ollama/ { proxy_read_timeout 600s; } }"
    )
    levels = [server_of(text), location_of(text)]
    assert nginx.inherited(levels, "proxy_read_timeout") == "600s"  # its own
    assert nginx.inherited(levels, "proxy_buffering") == "on"  # from the server
    assert nginx.inherited(levels, "proxy_http_version") is None  # nowhere
    assert nginx.inherited(levels[:1], "proxy_read_timeout") == "60s"

"""What nginx loaded, from its `nginx -T` dump: files in read order, includes expanded, the
server and location it picks for our request."""

from __future__ import annotations

from compliance.syntax.nginx_loaded import (
    choose_server,
    expand,
    http_servers,
    includes,
    location_for,
    read_dump,
    reads,
)

WARN = 'nginx: [warn] conflicting server name "127.0.0.1" on 0.0.0.0:80, ignored'


def dump(*files: tuple[str, str], preamble: str = "") -> str:
    body = "".join(f"# configuration file {path}:\n{text}\n" for path, text in files)
    return preamble + body


MAIN = "events {}\nhttp {\n    include conf.d/*.conf;\n    include /etc/nginx/sites-enabled/*;\n}\n"
OURS = "server {\n    listen 80;\n    server_name 127.0.0.1;\n    location /ollama/ { }\n}\n"
COPY = "server {\n    listen 80;\n    server_name 127.0.0.1;\n    location / { return 404; }\n}\n"


def test_files_and_warnings_in_the_order_nginx_read_them():
    text = dump(
        ("/etc/nginx/nginx.conf", MAIN),
        ("/etc/nginx/sites-enabled/ours", OURS),
        preamble=WARN + "\n",
    )
    loaded = read_dump(text)
    assert loaded.paths == ("/etc/nginx/nginx.conf", "/etc/nginx/sites-enabled/ours")
    assert loaded.warnings == (WARN,)
    assert loaded.text("/etc/nginx/sites-enabled/ours") == OURS + "\n"
    assert read_dump("nginx: [emerg] unknown directive").files == ()
    assert expand(read_dump("")) == ()


def test_includes_resolve_relative_to_the_main_file_in_sorted_order():
    text = dump(
        ("/etc/nginx/nginx.conf", MAIN),
        ("/etc/nginx/conf.d/zz.conf", COPY.replace("127.0.0.1", "other")),
        ("/etc/nginx/sites-enabled/00-copy", COPY),
        ("/etc/nginx/sites-enabled/ours", OURS),
    )
    loaded = read_dump(text)
    servers = http_servers(expand(loaded))
    assert [s.file for s in servers] == [
        "/etc/nginx/conf.d/zz.conf",
        "/etc/nginx/sites-enabled/00-copy",
        "/etc/nginx/sites-enabled/ours",
    ]
    choice = choose_server(servers, 80, "127.0.0.1")
    assert choice.server is not None
    assert choice.server.file.endswith("00-copy")
    assert choice.by_name
    assert [s.file for s in choice.shadowed] == ["/etc/nginx/sites-enabled/ours"]
    assert location_for(choice.shadowed[0], "/ollama/api/tags").pattern == "/ollama/"
    assert includes(loaded) == ["conf.d/*.conf", "/etc/nginx/sites-enabled/*"]


def test_a_glob_does_not_reach_into_subdirectories():
    assert reads("/etc/nginx/sites-enabled/*", "/etc/nginx/sites-enabled/ours")
    assert not reads("/etc/nginx/sites-enabled/*", "/etc/nginx/sites-enabled/old/ours")
    assert reads("sites-enabled/*", "/etc/nginx/sites-enabled/ours")


def test_the_default_server_answers_a_name_nobody_claims():
    default = "server {\n    listen 80 default_server;\n    server_name _;\n}\n"
    text = dump(
        ("/etc/nginx/nginx.conf", MAIN),
        ("/etc/nginx/sites-enabled/default", default),
        ("/etc/nginx/sites-enabled/ours", OURS),
    )
    servers = http_servers(expand(read_dump(text)))
    choice = choose_server(servers, 80, "ollama.lan")
    assert choice.server is not None
    assert choice.server.file.endswith("default")
    assert not choice.by_name
    assert choose_server(servers, 8080, "127.0.0.1").server is None


def test_an_include_loop_stops():
    looping = "http {\n    include /etc/nginx/nginx.conf;\n}\n"
    servers = http_servers(expand(read_dump(dump(("/etc/nginx/nginx.conf", looping)))))
    assert servers == []

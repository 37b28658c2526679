"""nginx -t, the site file, proxy_pass and the nginx_state probe: facts in, values out."""

from __future__ import annotations

import pytest

from compliance import parsers
from remediation.render import template
from selftests.unit import samples


@pytest.mark.parametrize(
    ("rc", "text", "ok", "error", "error_file", "warnings"),
    [
        (0, samples.NGINX_T_OK, True, "", "", 0),
        (
            1,
            samples.NGINX_T_BOGUS,
            False,
            'nginx: [emerg] unknown directive "bogus" in /etc/nginx/sites-enabled/zz:3',
            "/etc/nginx/sites-enabled/zz",
            0,
        ),
        (
            1,
            samples.NGINX_T_SERVER_IN_SITE,
            False,
            'nginx: [emerg] "server" directive is not allowed here in '
            "/etc/nginx/sites-enabled/ollama_proxy:1",
            "/etc/nginx/sites-enabled/ollama_proxy",
            0,
        ),
        (0, samples.NGINX_T_WARN, True, "", "", 1),
        (
            1,
            samples.NGINX_T_NOT_ROOT,
            False,
            '2026/11/02 16:50:01 [emerg] 3120#3120: open() "/run/nginx.pid" failed '
            "(13: Permission denied)",
            "/run/nginx.pid",
            1,
        ),
        # the words alone are not enough: the exit code must agree
        (1, samples.NGINX_T_OK, False, "", "", 0),
        (0, "", False, "", "", 0),
        (127, "sh: 1: nginx: not found\n", False, "", "", 0),
    ],
    ids=["ok", "bogus", "server-in-site", "warn", "not-root", "rc1", "silent", "no-nginx"],
)
def test_nginx_test(rc, text, ok, error, error_file, warnings):
    verdict = parsers.nginx_test(rc, text)
    assert verdict.ok is ok
    assert verdict.error == error
    assert verdict.error_file == error_file
    assert len(verdict.warnings) == warnings


def test_site_file_rendered():
    site = parsers.site_file(samples.SITE_RENDERED)
    assert site.server_names == ("pve.example.com",)
    assert site.listens == ("80",)
    assert site.location_ollama
    assert site.rewrite
    assert site.proxy_pass == "http://10.0.3.55:11434"
    assert site.placeholders == ()


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
    assert parsers.listen_ports(listens) == ports


def test_site_file_template_still_has_its_placeholders():
    site = parsers.site_file(template("ollama_proxy"))
    assert site.placeholders == ("<LXC_955_IP>", "<PROXMOX_HOST_IP_OR_DOMAIN>")
    assert site.server_names == ("<PROXMOX_HOST_IP_OR_DOMAIN>",)
    assert site.proxy_pass == "http://<LXC_955_IP>:11434"
    assert site.rewrite


def _edit(old, new):
    assert old in samples.SITE_RENDERED
    return samples.SITE_RENDERED.replace(old, new)


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        (
            _edit("    proxy_pass http", "    # proxy_pass http"),
            "proxy_pass",
            "",
        ),
        (
            _edit("proxy_pass http://10.0.3.55:11434;", "proxy_pass http://10.0.3.55:11434/;"),
            "proxy_pass",
            "http://10.0.3.55:11434/",
        ),
        (_edit("/$1 break;", "/$1;"), "rewrite", False),
        (_edit("rewrite ^", "# rewrite ^"), "rewrite", False),
        (_edit("location /ollama/ {", "location /llm/ {"), "location_ollama", False),
        (_edit("location /ollama/ {", "location /llm/ {"), "proxy_pass", ""),
        (_edit("location /ollama/ {", "location /ollama {"), "location_ollama", False),
        (
            _edit("server_name pve.example.com;", "server_name pve.example.com 10.0.0.2;"),
            "server_names",
            ("pve.example.com", "10.0.0.2"),
        ),
        (
            _edit("listen 80;", "listen 80 default_server;\n    listen [::]:80;"),
            "listens",
            ("80 default_server", "[::]:80"),
        ),
        (
            _edit("pve.example.com", "<PROXMOX_HOST_IP_OR_DOMAIN>"),
            "placeholders",
            ("<PROXMOX_HOST_IP_OR_DOMAIN>",),
        ),
    ],
    ids=[
        "commented-proxy-pass",
        "proxy-pass-with-uri",
        "rewrite-no-break",
        "rewrite-commented",
        "other-location",
        "other-location-proxy",
        "location-no-slash",
        "two-names",
        "two-listens",
        "placeholder-left",
    ],
)
def test_site_file_finds_what_is_wrong(text, field, value):
    assert getattr(parsers.site_file(text), field) == value


def test_site_file_location_with_a_nested_block():
    text = _edit(
        "        # Rewrite the URL",
        "        if ($request_method = OPTIONS) { return 204; }\n        # Rewrite the URL",
    )
    site = parsers.site_file(text)
    assert site.rewrite
    assert site.proxy_pass == "http://10.0.3.55:11434"


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
    assert parsers.proxy_target(proxy_pass) == target


NGINX_STATE_RUNNING = """\
master 812
worker 813 4523
worker 814 4520
clock 1762100100.0 100.0
hz 100
mtime 1762100030.5 /etc/nginx/nginx.conf
mtime 1762100040.25 /etc/nginx/sites-enabled
mtime 1762100040.25 /etc/nginx/sites-enabled/ollama_proxy
mtime 1762100040.0 /etc/nginx/sites-enabled/ollama_proxy (link)
"""


def test_nginx_state_running_and_current():
    state = parsers.nginx_state(NGINX_STATE_RUNNING)
    assert state.master_pid == 812
    assert state.workers_started == pytest.approx(
        1762100045.23
    )  # (now - uptime) + newest ticks / hz
    assert state.running
    assert state.stale_files() == []
    assert state.config_mtimes["/etc/nginx/sites-enabled/ollama_proxy (link)"] == 1762100040.0


def test_nginx_state_file_changed_after_the_workers_started():
    text = NGINX_STATE_RUNNING + "mtime 1762100200.0 /usr/local/etc/ollama_proxy\n"
    text = text.replace(
        "1762100040.0 /etc/nginx/sites-enabled/ollama_proxy (link)",
        "1762100046.0 /etc/nginx/sites-enabled/ollama_proxy (link)",
    )
    state = parsers.nginx_state(text)
    assert state.stale_files() == [
        "/etc/nginx/sites-enabled/ollama_proxy (link)",
        "/usr/local/etc/ollama_proxy",
    ]


def test_nginx_state_within_the_clock_resolution_is_not_stale():
    state = parsers.nginx_state(NGINX_STATE_RUNNING + "mtime 1762100045.23 /etc/nginx/x\n")
    assert state.stale_files() == []


def test_nginx_state_a_tenth_of_a_second_later_is_stale():
    state = parsers.nginx_state(NGINX_STATE_RUNNING + "mtime 1762100045.30 /etc/nginx/x\n")
    assert state.stale_files() == ["/etc/nginx/x"]


def test_nginx_state_a_respawned_worker_does_not_hide_a_pending_reload():
    """The oldest serving worker decides: a worker respawned after the change runs the
    master's old config too."""
    respawned = NGINX_STATE_RUNNING + "worker 990 9000\nmtime 1762100060.0 /etc/nginx/x\n"
    assert parsers.nginx_state(respawned).stale_files() == ["/etc/nginx/x"]


@pytest.mark.parametrize(
    "text",
    [
        "clock 1762100100.0 100.0\nhz 100\nmtime 1762100030.5 /etc/nginx/nginx.conf\n",  # no master
        "master 812\nclock 1762100100.0 100.0\nhz 100\n",  # master without workers
        "worker 813 4523\nclock 1762100100.0 100.0\nhz 100\n",  # orphan workers, no master
        "master 812\nworker 813 \nclock 1762100100.0 100.0\nhz 100\n",  # worker gone mid-probe
        "",
    ],
    ids=["stopped", "no-workers", "no-master", "worker-vanished", "empty"],
)
def test_nginx_state_not_running(text):
    state = parsers.nginx_state(text)
    assert not state.running
    assert state.workers_started is None
    assert state.stale_files() == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("link /usr/local/x/ollama_proxy", ("link", "/usr/local/x/ollama_proxy")),
        (
            "link ../sites-available/ollama_proxy",
            ("link", "/etc/nginx/sites-available/ollama_proxy"),
        ),
        ("missing", ("missing", "")),
        ("not-a-link", ("not-a-link", "")),
        ("", ("(no answer)", "")),
    ],
)
def test_link_target(text, expected):
    assert parsers.link_target(text, "/etc/nginx/sites-enabled/ollama_proxy") == expected

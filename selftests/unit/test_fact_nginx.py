"""nginx facts on the host: nginx -t, our site file, its link and the running nginx's state."""

from __future__ import annotations

import pytest

from compliance import plan
from compliance.facts.files import END, FileState, file_command
from compliance.facts.nginx import NginxState, NginxTest, SiteConfig, SiteLink
from selftests.unit import samples

SCOPE = samples.default_scope()
PLAN_REWRITE = ("^/ollama/(.*)$", "/$1", "break")


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
    verdict = NginxTest.parse(rc, text)
    assert verdict.ok is ok
    assert verdict.error == error
    assert verdict.error_file == error_file
    assert len(verdict.warnings) == warnings


# -- our site file --------------------------------------------------------------------------


def site(text: str, owner: str = "root:root", mode: str = "644") -> SiteConfig:
    """The SiteConfig of a site file as the fact's command prints it."""
    return SiteConfig.parse(0, f"{owner} {mode}\n{text}{END}")


def test_site_file_rendered():
    rendered = site(samples.SITE_RENDERED)
    assert (rendered.exists, rendered.owner, rendered.mode) == (True, "root:root", 0o644)
    assert rendered.text == samples.SITE_RENDERED
    assert rendered.config.errors == ()
    assert rendered.server_names == ("pve.example.com",)
    assert rendered.listen_values == ("80",)
    assert [listen.port for listen in rendered.listens] == [80]
    assert rendered.location is not None
    assert PLAN_REWRITE in rendered.rewrites
    assert rendered.proxy_pass == "http://10.0.3.55:11434"
    assert rendered.placeholders == ()
    assert rendered.headers.values == plan.SITE.headers
    assert rendered.directive("proxy_http_version") == "1.1"


def test_site_file_template_still_has_its_placeholders():
    template = site(plan.SITE_TEMPLATE)
    assert template.placeholders == ("<LXC_955_IP>", "<PROXMOX_HOST_IP_OR_DOMAIN>")
    assert template.server_names == ("<PROXMOX_HOST_IP_OR_DOMAIN>",)
    assert template.proxy_pass == "http://<LXC_955_IP>:11434"
    assert PLAN_REWRITE in template.rewrites


@pytest.mark.parametrize(
    ("rc", "output"),
    [(1, "missing\n"), (0, "root:root 644\nno end marker"), (0, "")],
    ids=["missing", "cut-off", "silent"],
)
def test_site_file_absent(rc, output):
    absent = SiteConfig.parse(rc, output)
    assert not absent.exists
    assert absent.config.directives == ()
    assert absent.server is None
    assert absent.location is None
    assert (absent.server_names, absent.listens, absent.listen_values) == ((), (), ())
    assert (absent.rewrites, absent.proxy_pass, absent.directive("proxy_pass")) == ([], "", None)
    assert absent.headers.values == {}


def test_site_file_through_a_symlink():
    output = "link /srv/ollama_proxy\nroot:root 644\n" + samples.SITE_RENDERED + END
    linked = SiteConfig.parse(0, output)
    assert linked.link == "/srv/ollama_proxy"
    assert linked.proxy_pass == "http://10.0.3.55:11434"


def test_site_file_unsafe_owner_and_mode():
    assert site(samples.SITE_RENDERED).unsafe() == []
    assert site(samples.SITE_RENDERED, "www-data:www-data", "664").unsafe() == [
        "owner www-data:www-data (want root)",
        "mode 664 is group/world-writable",
    ]
    assert site(samples.SITE_RENDERED, mode="bogus").mode == 0o777  # unreadable: assume the worst


def _edit(old, new):
    assert old in samples.SITE_RENDERED
    return samples.SITE_RENDERED.replace(old, new)


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        (_edit("    proxy_pass http", "    # proxy_pass http"), "proxy_pass", ""),
        (
            _edit("proxy_pass http://10.0.3.55:11434;", "proxy_pass http://10.0.3.55:11434/;"),
            "proxy_pass",
            "http://10.0.3.55:11434/",
        ),
        (
            _edit("location /ollama/ {", "location /llm/ {"),
            "proxy_pass",
            "",
        ),
        (
            _edit("server_name pve.example.com;", "server_name pve.example.com 10.0.0.2;"),
            "server_names",
            ("pve.example.com", "10.0.0.2"),
        ),
        (
            _edit("listen 80;", "listen 80 default_server;\n    listen [::]:80;"),
            "listen_values",
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
        "other-location-proxy",
        "two-names",
        "two-listens",
        "placeholder-left",
    ],
)
def test_site_file_finds_what_is_wrong(text, field, value):
    assert getattr(site(text), field) == value


@pytest.mark.parametrize(
    "text",
    [
        _edit("/$1 break;", "/$1;"),
        _edit("rewrite ^", "# rewrite ^"),
        _edit("location /ollama/ {", "location /llm/ {"),
    ],
    ids=["rewrite-no-break", "rewrite-commented", "other-location"],
)
def test_site_file_without_the_plans_rewrite(text):
    assert PLAN_REWRITE not in site(text).rewrites


@pytest.mark.parametrize(
    "text",
    [
        _edit("location /ollama/ {", "location /llm/ {"),
        _edit("location /ollama/ {", "location /ollama {"),
        _edit("location /ollama/ {", "location ~ /ollama/ {"),
    ],
    ids=["other-location", "location-no-slash", "regex-location"],
)
def test_site_file_without_the_plans_location(text):
    assert site(text).location is None


def test_site_file_location_with_a_nested_block():
    text = _edit(
        "        # Rewrite the URL",
        "        if ($request_method = OPTIONS) { return 204; }\n        # Rewrite the URL",
    )
    nested = site(text)
    assert PLAN_REWRITE in nested.rewrites
    assert nested.proxy_pass == "http://10.0.3.55:11434"


def test_site_file_server_holding_the_plans_location_is_ours():
    text = "server { listen 8080; server_name other; }\n" + samples.SITE_RENDERED
    ours = site(text)
    assert ours.server_names == ("pve.example.com",)
    assert ours.listen_values == ("80",)
    first = site("server { listen 8080; server_name other; }\nserver { listen 81; }\n")
    assert first.server_names == ("other",)  # no plan location: the first server


def test_site_file_directive_inherits_from_the_server():
    text = _edit("    listen 80;", "    listen 80;\n    proxy_read_timeout 600s;")
    assert site(text).directive("proxy_read_timeout") == "600s"
    assert site(samples.SITE_RENDERED).directive("proxy_read_timeout") is None


def test_site_file_hardened_keeps_the_plans_location_and_its_values():
    from remediation import render

    text = render.site("pve.example.com", "10.0.3.55", (600, ("10.0.0.0/24", "192.168.1.5")))
    hardened = site(text)
    assert hardened.location is not None
    assert hardened.location.directive.children("allow")[0].args == ("10.0.0.0/24",)
    assert hardened.proxy_pass == "http://10.0.3.55:11434"
    assert hardened.headers.values == plan.SITE.headers
    assert hardened.directive("proxy_read_timeout") == "600s"
    assert hardened.directive("proxy_buffering") == "off"


def test_site_config_command_reads_the_sites_file():
    assert SiteConfig.command(SCOPE) == file_command(SCOPE.settings.site_file)
    assert SCOPE.settings.site_file in SiteConfig.command(SCOPE)


# -- the running nginx ----------------------------------------------------------------------


def test_nginx_state_running_and_current():
    state = NginxState.parse(0, samples.NGINX_STATE_RUNNING)
    assert state.master_pid == 812
    # (now - uptime) + the oldest serving worker's ticks / hz
    assert state.workers_started == pytest.approx(1762100045.20, abs=1e-3)
    assert state.running
    assert state.stale_files() == []
    assert state.config_mtimes["/etc/nginx/sites-enabled/ollama_proxy (link)"] == 1762100040.0


def test_nginx_state_file_changed_after_the_workers_started():
    text = samples.NGINX_STATE_RUNNING + "mtime 1762100200.0 /usr/local/etc/ollama_proxy\n"
    text = text.replace(
        "1762100040.0 /etc/nginx/sites-enabled/ollama_proxy (link)",
        "1762100046.0 /etc/nginx/sites-enabled/ollama_proxy (link)",
    )
    state = NginxState.parse(0, text)
    assert state.stale_files() == [
        "/etc/nginx/sites-enabled/ollama_proxy (link)",
        "/usr/local/etc/ollama_proxy",
    ]


def test_nginx_state_within_the_clock_resolution_is_not_stale():
    text = samples.NGINX_STATE_RUNNING + "mtime 1762100045.23 /etc/nginx/x\n"
    assert NginxState.parse(0, text).stale_files() == []


def test_nginx_state_a_tenth_of_a_second_later_is_stale():
    text = samples.NGINX_STATE_RUNNING + "mtime 1762100045.30 /etc/nginx/x\n"
    assert NginxState.parse(0, text).stale_files() == ["/etc/nginx/x"]


def test_nginx_state_a_respawned_worker_does_not_hide_a_pending_reload():
    """The oldest serving worker decides: a worker respawned after the change runs the
    master's old config too."""
    respawned = samples.NGINX_STATE_RUNNING + "worker 990 9000\nmtime 1762100060.0 /etc/nginx/x\n"
    assert NginxState.parse(0, respawned).stale_files() == ["/etc/nginx/x"]


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
    state = NginxState.parse(0, text)
    assert not state.running
    assert state.workers_started is None
    assert state.stale_files() == []


def test_nginx_state_command_stats_every_sites_file():
    command = NginxState.command(SCOPE)
    assert "{files}" not in command
    assert SCOPE.settings.site_file in command
    assert "nginx -T" in command


# -- the sites-enabled link ------------------------------------------------------------------

LINK = "/etc/nginx/sites-enabled/ollama_proxy"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("link /usr/local/x/ollama_proxy", ("link", "/usr/local/x/ollama_proxy", False)),
        (
            "link ../sites-available/ollama_proxy",
            ("link", "/etc/nginx/sites-available/ollama_proxy", False),
        ),
        ("link /gone/ollama_proxy\ndangling", ("link", "/gone/ollama_proxy", True)),
        ("missing", ("missing", "", False)),
        ("not-a-link", ("not-a-link", "", False)),
        ("", ("(no answer)", "", False)),
    ],
    ids=["absolute", "relative", "dangling", "missing", "not-a-link", "no-answer"],
)
def test_link_target(text, expected):
    link = SiteLink.parse(0, f"path {LINK}\n{text}\n")
    assert (link.kind, link.target, link.dangling) == expected


def test_site_link_without_its_path_line():
    assert SiteLink.parse(0, "").kind == "(no answer)"
    assert SiteLink.parse(0, "missing\n").kind == "missing"


def test_site_link_command_prints_the_path_it_resolves_against():
    command = SiteLink.command(SCOPE)
    assert command.startswith(f"printf 'path %s\\n' {LINK};")


def test_file_state_is_shared_with_the_site_fact():
    assert issubclass(SiteConfig, FileState)


def test_nginx_state_finds_links_whatever_the_hosts_language(tmp_path):
    """`stat`'s file type is translated (`symbolische Verknüpfung` under LANGUAGE=de): the
    script reads it in the C locale, so a changed link still shows as a pending reload."""
    import subprocess

    from compliance.facts.nginx import NGINX_STATE_SCRIPT

    (tmp_path / "site").write_text("server {}\n")
    (tmp_path / "link").symlink_to(tmp_path / "site")
    line = next(ln for ln in NGINX_STATE_SCRIPT.splitlines() if "(link)" in ln)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LANGUAGE": "de"}
    out = subprocess.run(
        ["sh", "-c", f"set -- {tmp_path}/site {tmp_path}/link; {line}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    ).stdout
    assert out.endswith(f" {tmp_path}/link (link)\n"), out
    assert out.count("\n") == 1, out

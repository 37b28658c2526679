"""The site fix's in-place edit (remediation/site_edit.py): a table of sites as they are ->
the site as the fix writes it; every line that is not the plan's kept byte for byte."""

from __future__ import annotations

import pytest

from compliance import plan
from remediation import render, site_edit

NAME, IP = "192.168.1.10", "10.0.3.55"
WANT = plan.site_text(NAME, IP)
HARDENED = render.site(NAME, IP, (600, ("10.0.0.0/8",)))
STALE = WANT.replace(f"http://{IP}:11434", f"http://{IP}:11999")
LOCATION = "    location /ollama/ {\n"
ACL = (
    '        auth_basic "Ollama";\n        auth_basic_user_file /etc/nginx/htpasswd;\n'
    "        allow 10.0.0.0/8;\n        deny all;\n"
)
TLS = (
    "    listen 443 ssl;\n    ssl_certificate /etc/ssl/ollama.pem;\n"
    "    ssl_certificate_key /etc/ssl/ollama.key;\n    client_max_body_size 2g;\n"
)
TIMEOUTS = "        proxy_read_timeout 600s; # long generations\n        proxy_send_timeout 600s;\n"
VERSION = "        proxy_http_version 1.1;\n"


def _with(text: str, anchor: str, added: str) -> str:
    """`text` with `added` right after the line `anchor`."""
    assert anchor in text
    return text.replace(anchor, anchor + added, 1)


ACL_WANT = _with(WANT, LOCATION, ACL)
TLS_WANT = _with(_with(WANT, "    listen 80;\n", TLS), VERSION, TIMEOUTS)


@pytest.mark.parametrize(
    ("have", "want", "edited"),
    [
        pytest.param(WANT, WANT, WANT, id="the plan's site: unchanged"),
        pytest.param(STALE, WANT, WANT, id="stale upstream: proxy_pass edited"),
        pytest.param(
            _with(STALE, LOCATION, ACL), WANT, ACL_WANT, id="operator's access control kept"
        ),
        pytest.param(
            _with(_with(STALE, "    listen 80;\n", TLS), VERSION, TIMEOUTS),
            WANT,
            TLS_WANT,
            id="operator's TLS listen, certificates, body size, timeouts kept",
        ),
        pytest.param(
            "# ops: managed by hand\n" + STALE.replace("listen 80;", "listen 8080;"),
            WANT,
            "# ops: managed by hand\n" + WANT,
            id="a plain listen on another port is the plan's: edited; comments kept",
        ),
        pytest.param(
            WANT.replace("listen 80;", "listen 443 ssl;"),
            WANT,
            WANT.replace("    listen 80;\n", "    listen 80;\n    listen 443 ssl;\n"),
            id="only a TLS listen: the plan's added before it",
        ),
        pytest.param(
            WANT.replace(f"server_name {NAME};", "server_name old.example;"),
            WANT,
            WANT,
            id="wrong server_name: edited, its comment kept",
        ),
        pytest.param(
            WANT.replace(f"server_name {NAME};", f"server_name ollama.lan {NAME};"),
            WANT,
            WANT.replace(f"server_name {NAME};", f"server_name ollama.lan {NAME};"),
            id="an extra server name of the operator's kept",
        ),
        pytest.param(
            WANT.replace("        proxy_set_header X-Real-IP $remote_addr;\n", ""),
            WANT,
            WANT,
            id="missing header: added in the plan's place",
        ),
        pytest.param(
            WANT.replace("proxy_set_header Host $host;", "proxy_set_header host $proxy_host;"),
            WANT,
            WANT,
            id="a header with another value (any case of its name): edited",
        ),
        pytest.param(
            _with(
                WANT,
                "        proxy_set_header Host $host;\n",
                "        proxy_set_header X-Ops 1;\n",
            ),
            WANT,
            _with(
                WANT,
                "        proxy_set_header Host $host;\n",
                "        proxy_set_header X-Ops 1;\n",
            ),
            id="an operator's extra header kept",
        ),
        pytest.param(
            "server {\n    listen 80;\n    server_name old;\n    root /srv/www;\n}\n",
            WANT,
            "server {\n    listen 80;\n    server_name "
            + NAME
            + ";\n    root /srv/www;\n"
            + WANT[WANT.index(LOCATION) :],
            id="no location /ollama/: the plan's added at the end of the server",
        ),
        pytest.param(
            _with(WANT, VERSION, "        proxy_read_timeout 30s;\n"),
            HARDENED,
            None,
            id="hardened: a shorter timeout raised to the profile's",
        ),
        pytest.param(
            _with(WANT, VERSION, "        proxy_read_timeout 1h;\n"),
            HARDENED,
            None,
            id="hardened: an operator's longer timeout kept",
        ),
        pytest.param(
            _with(WANT, LOCATION, "        allow 192.168.0.0/16;\n        deny all;\n"),
            HARDENED,
            None,
            id="hardened: the profile's allow/deny replace the location's",
        ),
    ],
)
def test_edit(have, want, edited):
    result = site_edit.edit(have, want, "site")
    if edited is not None:
        assert result == edited
    assert site_edit.edit(result, want, "site") == result  # a second run changes nothing


def test_hardened_edits_keep_the_operators_lines_and_reach_the_plan():
    longer = site_edit.edit(_with(WANT, VERSION, "        proxy_read_timeout 1h;\n"), HARDENED, "s")
    assert "proxy_read_timeout 1h;" in longer
    assert "proxy_read_timeout 600s" not in longer
    assert "proxy_send_timeout 600s;" in longer
    shorter = site_edit.edit(
        _with(WANT, VERSION, "        proxy_read_timeout 30s;\n"), HARDENED, "s"
    )
    assert "proxy_read_timeout 30s" not in shorter
    assert "proxy_read_timeout 600s;" in shorter
    acl = site_edit.edit(_with(_with(WANT, LOCATION, ACL), "    listen 80;\n", TLS), HARDENED, "s")
    assert 'auth_basic "Ollama";' in acl
    assert TLS in acl
    assert "allow 10.0.0.0/8;\n        deny all;\n" in acl
    assert "allow 192.168" not in site_edit.edit(
        _with(WANT, LOCATION, "        allow 192.168.0.0/16;\n        deny all;\n"), HARDENED, "s"
    )


@pytest.mark.parametrize(
    ("have", "why"),
    [
        pytest.param(WANT.replace('"upgrade";', '"upgrade;'), "cannot be parsed", id="unparsable"),
        pytest.param(WANT + WANT, "server blocks at lines 1, 22 each hold", id="two servers"),
        pytest.param(
            WANT.replace(LOCATION, "    location /ollama/ {\n    }\n" + LOCATION),
            "`location /ollama/` at lines 5, 7",
            id="two locations",
        ),
        pytest.param(
            "server { listen 80; }\nserver { listen 81; }\n",
            "2 server blocks and none holds",
            id="which server is ours",
        ),
        pytest.param(
            _with(WANT, VERSION, "        rewrite ^/a /b;\n").replace(
                "rewrite ^/ollama/(.*)$ /$1 break;", "rewrite ^/ollama/(.*) /$1;"
            ),
            "2 `rewrite` lines",
            id="two rewrites, none the plan's",
        ),
        pytest.param(
            WANT.replace("server {", "server { # see <LXC_955_IP>"),
            "placeholder <LXC_955_IP> in a line the plan does not own",
            id="a placeholder in an operator's comment",
        ),
        pytest.param(
            "server {\n    listen 80;\n    server_name x;\n    location /ollama/ { }\n}\n",
            "written on one line",
            id="a one-line location",
        ),
    ],
)
def test_refused(have, why):
    with pytest.raises(site_edit.SiteEditError, match=r"^site") as refused:
        site_edit.edit(have, WANT, "site")
    assert why in str(refused.value)
    assert "\n" not in str(refused.value)

"""The plan's nginx site filled in from settings; values that are not plain hosts refused."""

from __future__ import annotations

import pytest

from compliance.plan import HOST_PLACEHOLDER, IP_PLACEHOLDER
from compliance.syntax import nginx
from remediation.render import RenderError, site, template
from selftests.unit import samples


def test_template_has_both_placeholders():
    text = template("ollama_proxy")
    assert HOST_PLACEHOLDER in text
    assert IP_PLACEHOLDER in text


def test_rendered_site_is_the_plan_with_values_filled_in():
    assert site("pve.example.com", "10.0.3.55") == samples.SITE_RENDERED


@pytest.mark.parametrize(
    ("server_name", "ct_ip"),
    [
        ("pve.example.com", "10.0.3.55"),
        ("10.0.0.2", "10.0.3.55"),
        ("pve", "192.168.50.7"),
    ],
)
def test_rendered_site_passes_the_site_checks(server_name, ct_ip):
    text = site(server_name, ct_ip)
    assert "<" not in text  # no placeholder left
    config = nginx.parse(text)
    (server,) = config.find("server")
    assert nginx.server_names(server) == (server_name,)
    location = nginx.choose_location(server, "/ollama/api/tags")
    assert location is not None
    (proxy_pass,) = config.find("proxy_pass")
    assert nginx.proxy_target(proxy_pass.args[0]) == (ct_ip, 11434)


@pytest.mark.parametrize(
    ("server_name", "ct_ip", "named"),
    [
        ("a;b", "10.0.3.55", HOST_PLACEHOLDER),
        ("pve.example.com; include /etc/passwd", "10.0.3.55", HOST_PLACEHOLDER),
        ("pve }", "10.0.3.55", HOST_PLACEHOLDER),
        ("", "10.0.3.55", HOST_PLACEHOLDER),
        ("pve.example.com", "10.0.3", IP_PLACEHOLDER),
        ("pve.example.com", "10.0.3.55/24", IP_PLACEHOLDER),
        ("pve.example.com", "dhcp", IP_PLACEHOLDER),
        ("pve.example.com", "fd00::55", IP_PLACEHOLDER),
        ("pve.example.com", "10.0.3.55:11434; }", IP_PLACEHOLDER),
        ("pve.example.com", "", IP_PLACEHOLDER),
    ],
)
def test_bad_values_are_refused(server_name, ct_ip, named):
    with pytest.raises(RenderError, match=named) as caught:
        site(server_name, ct_ip)
    assert isinstance(caught.value, ValueError)


def test_ipv6_zone_id_cannot_smuggle_nginx_syntax():
    with pytest.raises(RenderError):
        site("fe80::1%x;}", "10.0.3.55")

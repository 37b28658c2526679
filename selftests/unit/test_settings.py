"""Site settings: raw ini/CLI values in, a frozen Settings or a one-line UsageError out."""

from __future__ import annotations

import dataclasses

import pytest

from compliance.settings import PLAN_SITE_FILE, PLAN_SITE_LINK, SETTINGS, Settings, parse

DEFAULTS = {key: default for key, _flag, default, _help in SETTINGS}
SITE_B = "site_file=/etc/nginx/sites-available/b site_link=/etc/nginx/sites-enabled/b"
FLAGS = {key: flag for key, flag, _default, _help in SETTINGS}


def values(**changes: str) -> dict[str, str]:
    """The defaults with some settings changed (keys without the `ollama_` prefix)."""
    raw = dict(DEFAULTS)
    for short, value in changes.items():
        assert f"ollama_{short}" in raw, short
        raw[f"ollama_{short}"] = value
    return raw


def test_defaults_parse_to_the_plan():
    settings = parse(values())
    assert settings == Settings(
        ctids=("955",),
        transport="pct",
        ct_ip=None,
        proxy_url=None,
        server_name=None,
        site_file=PLAN_SITE_FILE,
        site_link=PLAN_SITE_LINK,
    )


def test_settings_are_frozen():
    settings = parse(values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.ct_ip = "10.0.3.55"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    [
        ("ctid", "955", "ctids", ("955",)),
        ("ctid", "100", "ctids", ("100",)),
        ("ctid", "999999999", "ctids", ("999999999",)),
        ("ct_transport", "pct", "transport", "pct"),
        ("ct_transport", "lxc-attach", "transport", "lxc-attach"),
        ("ct_ip", "auto", "ct_ip", None),
        ("ct_ip", "10.0.3.55", "ct_ip", "10.0.3.55"),
        ("proxy_url", "", "proxy_url", None),
        (
            "proxy_url",
            "http://pve.example.com/ollama",
            "proxy_url",
            "http://pve.example.com/ollama/",
        ),
        (
            "proxy_url",
            "https://10.0.0.2:8443/ollama/",
            "proxy_url",
            "https://10.0.0.2:8443/ollama/",
        ),
        ("proxy_url", "http://[::1]:8080/ollama", "proxy_url", "http://[::1]:8080/ollama/"),
        ("proxy_url", "http://pve", "proxy_url", "http://pve/"),
        ("server_name", "", "server_name", None),
        ("server_name", "pve.example.com", "server_name", "pve.example.com"),
        ("server_name", "10.0.0.2", "server_name", "10.0.0.2"),
        (
            "site_file",
            "/etc/nginx/sites-available/ollama_proxy",
            "site_file",
            "/etc/nginx/sites-available/ollama_proxy",
        ),
        (
            "site_link",
            "/etc/nginx/sites-enabled/ollama-proxy.conf",
            "site_link",
            "/etc/nginx/sites-enabled/ollama-proxy.conf",
        ),
    ],
)
def test_good_values(key, value, field, expected):
    assert getattr(parse(values(**{key: value})), field) == expected


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ctid", "abc"),
        ("ctid", "95"),
        ("ctid", "955;rm"),
        ("ctid", "955,955"),
        ("ctid", ""),
        ("ctid", "955,"),
        ("ctid", "0955"),
        ("ctid", "1234567890"),
        ("ct_transport", "ssh"),
        ("ct_transport", "PCT"),
        ("ct_transport", ""),
        ("ct_ip", "10.0.3"),
        ("ct_ip", "10.0.3.256"),
        ("ct_ip", "10.0.3.55/24"),
        ("ct_ip", "dhcp"),
        ("ct_ip", "fd00::55"),
        ("ct_ip", ""),
        ("proxy_url", "ftp://x"),
        ("proxy_url", "http://h/$(id)"),
        ("proxy_url", "http://a b/"),
        ("proxy_url", "pve.example.com/ollama/"),
        ("proxy_url", "http:///ollama/"),
        ("proxy_url", "http://h/ollama/?x=1"),
        ("proxy_url", "http://h/ollama/#top"),
        ("proxy_url", "http://h:99999/ollama/"),
        ("proxy_url", "http://h:port/ollama/"),
        ("proxy_url", "http://h/ol lama/"),
        ("proxy_url", "http://h;reboot/"),
        ("server_name", "a;b"),
        ("server_name", "a b"),
        ("server_name", "pve.example.com}"),
        ("server_name", "-pve"),
        ("server_name", "$(id)"),
        ("site_file", "relative"),
        ("site_file", "/etc/../x"),
        ("site_file", "/etc/.."),
        ("site_file", "/etc/x y"),
        ("site_file", "/etc/nginx/"),
        ("site_file", "/etc/x;rm -rf /"),
        ("site_file", ""),
        ("site_link", "sites-enabled/ollama_proxy"),
        ("site_link", "/etc/nginx/sites-enabled/$(id)"),
    ],
)
def test_bad_values_name_their_setting(key, value):
    ini_key = f"ollama_{key}"
    with pytest.raises(pytest.UsageError) as caught:
        parse(values(**{key: value}))
    message = str(caught.value)
    assert message.startswith(f"setting {ini_key} ({FLAGS[ini_key]}): {value!r} ")
    assert "\n" not in message


def test_the_first_bad_setting_is_the_one_named():
    with pytest.raises(pytest.UsageError, match="ollama_ctid") as caught:
        parse(values(ctid="abc", ct_transport="ssh"))
    assert "ollama_ct_transport" not in str(caught.value)


def test_duplicate_ctids_say_so():
    with pytest.raises(pytest.UsageError, match="twice"):
        parse(values(ctid="955, 956, 955"))


@pytest.mark.parametrize("value", ["fe80::1%eth0;}", "fe80::1%a b"])
def test_server_name_with_an_ipv6_zone_of_metacharacters(value):
    with pytest.raises(pytest.UsageError, match="ollama_server_name"):
        parse(values(server_name=value))


@pytest.mark.parametrize(
    ("host", "proxy_url", "server_name"),
    [
        ("10.0.0.2", "http://10.0.0.2/ollama/", "10.0.0.2"),
        ("pve.example.com", "http://pve.example.com/ollama/", "pve.example.com"),
        ("127.0.0.1", "http://127.0.0.1/ollama/", "127.0.0.1"),
        ("fd00::2", "http://[fd00::2]/ollama/", "fd00::2"),
    ],
)
def test_defaults_resolve_per_host(host, proxy_url, server_name):
    settings = parse(values())
    assert settings.site("955").proxy_url_for(host) == proxy_url
    assert settings.site("955").server_name_for(host) == server_name


@pytest.mark.parametrize("host", ["10.0.0.2", "fd00::2", "pve.example.com"])
def test_explicit_values_win_over_the_host(host):
    settings = parse(values(proxy_url="https://gw.example.com/llm", server_name="ollama.lan"))
    assert settings.site("955").proxy_url_for(host) == "https://gw.example.com/llm/"
    assert settings.site("955").server_name_for(host) == "ollama.lan"


def test_several_ctids_without_their_own_sites_are_refused():
    with pytest.raises(pytest.UsageError, match="would share one site file"):
        parse(values(ctid="955,956"))


def test_containers_lines_give_each_ct_its_own_site():
    raw = values(server_name="127.0.0.1")
    raw["ollama_containers"] = (
        "955\n"
        "956 site_file=/etc/nginx/sites-available/o956 site_link=/etc/nginx/sites-enabled/o956 "
        "server_name=127.0.9.56 ct_ip=10.0.3.56"
    )
    settings = parse(raw)
    assert settings.ctids == ("955", "956")
    assert settings.site("955").site_file == PLAN_SITE_FILE
    assert settings.site("955").proxy_url_for("10.0.0.2") == "http://127.0.0.1/ollama/"
    other = settings.site("956")
    assert other.site_link == "/etc/nginx/sites-enabled/o956"
    assert other.ct_ip == "10.0.3.56"
    assert other.proxy_url_for("10.0.0.2") == "http://127.0.9.56/ollama/"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("955\n956", "share ctid|share site_file"),
        ("955\n956 server_name=x.lan", "share site_file"),
        (
            f"955 ct_ip=10.0.3.5\n956 {SITE_B} server_name=b ct_ip=10.0.3.5",
            "share ct_ip 10.0.3.5",
        ),
        (
            "955 proxy_url=http://a/ollama/\n"
            f"956 {SITE_B} server_name=b proxy_url=http://a/ollama/",
            "share proxy_url http://a/ollama/",
        ),
        ("95x", "not a container id"),
        ("955 colour=red", "use key=value"),
        ("955 ct_ip=10.0.3", "ct_ip: "),
        ("955 server_name=a;b", "server_name: "),
        ("955 site_file=rel/path", "site_file: "),
        ("955 site_file=/etc/passwd", "site_file: is not under /etc/nginx/"),
        ("955 site_link=/etc/passwd", "site_link: is not under /etc/nginx/sites-enabled/"),
    ],
)
def test_bad_containers_lines_name_the_setting(lines, message):
    raw = values()
    raw["ollama_containers"] = lines
    with pytest.raises(pytest.UsageError, match=message) as caught:
        parse(raw)
    assert "ollama_containers" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ctid", "955\n"),
        ("ctid", "955\n,956"),
        ("ctid", "955\t"),
        ("ct_transport", "pct\n"),
        ("ct_ip", "10.0.3.55\n"),
        ("ct_ip", "auto\n"),
        ("server_name", "pve.example.com\n"),
        ("server_name", "10.0.0.2\n"),
        ("server_name", "fd00::2\n"),
        ("proxy_url", "http://pve/ollama/\n"),
        ("proxy_url", "http://pve/oll\nama/"),
        ("proxy_url", "http://pve\n/ollama/"),
        ("proxy_url", "http://pve/ollama/\t"),
        ("site_file", PLAN_SITE_FILE + "\n"),
        ("site_file", "/etc/nginx/sites-available/ollama_proxy\n"),
        ("site_link", PLAN_SITE_LINK + "\n"),
    ],
)
def test_a_trailing_newline_or_control_character_is_refused(key, value):
    ini_key = f"ollama_{key}"
    with pytest.raises(pytest.UsageError) as caught:
        parse(values(**{key: value}))
    assert str(caught.value).startswith(f"setting {ini_key} ({FLAGS[ini_key]}): {value!r} ")


@pytest.mark.parametrize(
    ("key", "value", "dirs"),
    [
        ("site_file", "/etc/passwd", "/etc/nginx/ or /usr/local/phoenix_hypervisor/etc/nginx/"),
        ("site_file", "/etc/shadow", "/etc/nginx/ or /usr/local/phoenix_hypervisor/etc/nginx/"),
        ("site_file", "/root/.ssh/authorized_keys", "/etc/nginx/ or"),
        ("site_file", "/etc/nginx", "/etc/nginx/ or"),
        ("site_file", "/etc/nginxx/sites-available/o", "/etc/nginx/ or"),
        ("site_file", "/etc/nginx/../passwd", "[A-Za-z0-9._/-]"),
        ("site_file", "/etc/nginx/./o", "[A-Za-z0-9._/-]"),
        ("site_file", "/etc/nginx//o", "[A-Za-z0-9._/-]"),
        ("site_file", "/usr/local/phoenix_hypervisor/etc/o", "/etc/nginx/ or"),
        ("site_link", "/etc/passwd", "/etc/nginx/sites-enabled/"),
        ("site_link", "/etc/nginx/sites-available/ollama_proxy", "/etc/nginx/sites-enabled/"),
        ("site_link", "/etc/nginx/sites-enabled", "/etc/nginx/sites-enabled/"),
        ("site_link", "/etc/nginx/sites-enabled/../nginx.conf", "[A-Za-z0-9._/-]"),
    ],
)
def test_site_paths_outside_nginx_configuration_are_refused(key, value, dirs):
    ini_key = f"ollama_{key}"
    with pytest.raises(pytest.UsageError) as caught:
        parse(values(**{key: value}))
    message = str(caught.value)
    assert message.startswith(f"setting {ini_key} ({FLAGS[ini_key]}): {value!r} ")
    assert dirs in message
    assert "\n" not in message


def test_etc_passwd_as_site_file_says_where_site_files_may_be():
    with pytest.raises(pytest.UsageError) as caught:
        parse(values(site_file="/etc/passwd"))
    assert str(caught.value) == (
        "setting ollama_site_file (--site-file): '/etc/passwd' is not under /etc/nginx/ or "
        "/usr/local/phoenix_hypervisor/etc/nginx/ (where an nginx site file may be)"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("site_file", PLAN_SITE_FILE),
        ("site_file", "/etc/nginx/sites-available/ollama_proxy"),
        ("site_file", "/etc/nginx/conf.d/ollama.conf"),
        ("site_file", "/usr/local/phoenix_hypervisor/etc/nginx/sites-available/o956"),
        ("site_link", PLAN_SITE_LINK),
        ("site_link", "/etc/nginx/sites-enabled/ollama_proxy_956"),
    ],
)
def test_site_paths_inside_nginx_configuration_are_accepted(key, value):
    assert getattr(parse(values(**{key: value})), key) == value


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("site_file=/etc/passwd", "site_file: is not under /etc/nginx/ or /usr/local/"),
        ("site_link=/etc/passwd", "site_link: is not under /etc/nginx/sites-enabled/ "),
        ("site_link=/etc/nginx/sites-available/x", "site_link: is not under /etc/nginx/sites-"),
    ],
)
def test_containers_lines_use_the_same_path_rules(pair, message):
    raw = values()
    raw["ollama_containers"] = f"955 {pair}"
    with pytest.raises(pytest.UsageError, match=message) as caught:
        parse(raw)
    assert str(caught.value).startswith("setting ollama_containers (--container): ")
    assert "\n" not in str(caught.value)

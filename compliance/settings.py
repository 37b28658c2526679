"""Site settings: read from the ini file and CLI once, validated, frozen."""

from __future__ import annotations

import ipaddress
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from compliance import plan
from compliance.syntax.hosts import valid_host

PLAN_SITE_FILE, PLAN_SITE_LINK = plan.SITE_FILE, plan.SITE_LINK
TRANSPORTS = ("pct", "lxc-attach")

# Every pattern is used with fullmatch (and anchored with \Z where it looks ahead): `$` would
# let a trailing newline through into a shell command or a config file.
_CTID = re.compile(r"[1-9][0-9]{2,8}")
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._/-]+")
_URL_PATH = re.compile(r"[A-Za-z0-9._~/-]*")
_URL_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space: urlsplit drops \t\r\n
# Where --fix may write: nginx configuration only (a site file elsewhere, /etc/passwd say,
# would be overwritten by the site), and the link only where nginx enables sites.
SITE_FILE_DIRS = ("/etc/nginx/", "/usr/local/phoenix_hypervisor/etc/nginx/")
SITE_LINK_DIRS = ("/etc/nginx/sites-enabled/",)

# (ini key, CLI flag, default, help)
SETTINGS: tuple[tuple[str, str, str, str], ...] = (
    ("ollama_ctid", "--ctid", plan.CTID, "id of the Ollama CT (several: --container)"),
    ("ollama_ct_transport", "--ct-transport", "pct", "how the host enters a CT: pct | lxc-attach"),
    ("ollama_ct_ip", "--ct-ip", "auto", "CT IPv4 the proxy targets, or auto"),
    ("ollama_proxy_url", "--proxy-url", "", "proxied URL (default http://<server name>/ollama/)"),
    ("ollama_server_name", "--server-name", "", "nginx server_name (default: host address)"),
    ("ollama_site_file", "--site-file", PLAN_SITE_FILE, "nginx site file on the host"),
    ("ollama_site_link", "--site-link", PLAN_SITE_LINK, "symlink enabling the site"),
    (
        "ollama_command_timeout",
        "--command-timeout",
        "30",
        "seconds a remote command may run before its target fails (1-600)",
    ),
    (
        "ollama_profile",
        "--compliance-profile",
        "plan",
        "which checks run: plan | hardened (plan + hardening)",
    ),
    (
        "ollama_advisories",
        "--advisories",
        "",
        "JSON file of Ollama advisories for the version floor (default: the suite's own)",
    ),
    (
        "ollama_manage_from",
        "--manage-from",
        "",
        "hardened: client networks (CIDRs, comma separated) allowed to reach the model "
        "management API through the proxy (default: none)",
    ),
    (
        "ollama_exposure_from",
        "--exposure-from",
        "runner",
        "hardened: where the exposure check tries the CT's port 11434 from: runner (this "
        "machine) or netns:NAME (a network namespace on the Proxmox host)",
    ),
    (
        "ollama_probe_streaming",
        "--probe-streaming",
        "off",
        "hardened: on = stream an /api/generate through the proxy and time its chunks; this "
        "LOADS A MODEL on the host (the first that can generate, embedding-only and cloud "
        "models skipped; loaded with an empty request first, so its load time is not timed)",
    ),
    (
        "ollama_proxy_timeout",
        "--proxy-timeout",
        "600",
        "hardened: the least proxy_read_timeout/proxy_send_timeout in seconds (1-86400)",
    ),
)
PROFILES = ("plan", "hardened")


@dataclass(frozen=True)
class Site:
    """One container's proxy site: files, names and the IP nginx must target."""

    ctid: str
    site_file: str
    site_link: str
    server_name: str | None
    proxy_url: str | None
    ct_ip: str | None

    def server_name_for(self, host_address: str) -> str:
        """The nginx server_name (default: the host's address)."""
        return self.server_name or host_address

    def proxy_url_for(self, host_address: str) -> str:
        """The proxied base URL (default http://<server name>/ollama/; ends with a slash)."""
        name = self.server_name_for(host_address)
        return self.proxy_url or f"http://{_url_host(name)}{plan.LOCATION}"


@dataclass(frozen=True)
class Settings:
    """Validated site settings; host-dependent defaults resolve per host.

    The scalar fields are the defaults; `overrides` holds the per-container sites given by
    `ollama_containers` / `--container` (a fleet of several CTs on one host needs one site each).
    """

    ctids: tuple[str, ...]
    transport: str
    ct_ip: str | None
    proxy_url: str | None
    server_name: str | None
    site_file: str
    site_link: str
    overrides: tuple[Site, ...] = ()
    command_timeout: int = 30
    profile: str = "plan"
    advisories: str | None = None
    manage_from: tuple[str, ...] = ()
    proxy_timeout: int = 600
    exposure_from: str = "runner"
    probe_streaming: bool = False

    @property
    def hardened(self) -> bool:
        return self.profile == "hardened"

    def site(self, ctid: str) -> Site:
        """The site of container `ctid` (its override, else the defaults)."""
        for site in self.overrides:
            if site.ctid == ctid:
                return site
        return Site(
            ctid, self.site_file, self.site_link, self.server_name, self.proxy_url, self.ct_ip
        )


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _bad(key: str, flag: str, value: str, why: str) -> pytest.UsageError:
    return pytest.UsageError(f"setting {key} ({flag}): {value!r} {why}")


def _ctids(value: str) -> tuple[str, ...]:
    ids = tuple(part.strip(" ") for part in value.split(","))
    if not ids or not all(_CTID.fullmatch(i) for i in ids):
        raise ValueError("is not a container id list (numbers 100-999999999, comma separated)")
    if len(set(ids)) != len(ids):
        raise ValueError("names a container twice")
    return ids


def _transport(value: str) -> str:
    if value not in TRANSPORTS:
        raise ValueError(f"is not a transport (one of: {', '.join(TRANSPORTS)})")
    return value


def _ct_ip(value: str) -> str | None:
    if value == "auto":
        return None
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError("is not an IPv4 address or 'auto'") from None


def _proxy_url(value: str) -> str | None:
    if not value:
        return None
    if not _URL_CHARS.fullmatch(value):
        raise ValueError("has spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("is not an http(s) URL with a host")
    if not valid_host(parts.hostname) or parts.query or parts.fragment:
        raise ValueError("is not a plain http(s) URL (host, optional port and path only)")
    if not _URL_PATH.fullmatch(parts.path):
        raise ValueError("has characters that do not belong in a URL path")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value if value.endswith("/") else value + "/"


def _server_name(value: str) -> str | None:
    if not value:
        return None
    if not valid_host(value):
        raise ValueError("is not a hostname or IP address")
    return value


def _path(value: str) -> str:
    """An absolute, normalised file path of plain characters (no `..`, `.`, `//`, no trailing
    slash)."""
    if not _SAFE_PATH.fullmatch(value) or posixpath.normpath(value) != value:
        raise ValueError("is not an absolute file path of plain characters ([A-Za-z0-9._/-])")
    return value


def _under(value: str, dirs: tuple[str, ...], what: str) -> str:
    path = _path(value)
    if not any(path.startswith(d) and len(path) > len(d) for d in dirs):
        raise ValueError(f"is not under {' or '.join(dirs)} (where {what} may be)")
    return path


def _site_file(value: str) -> str:
    if value == PLAN_SITE_FILE:
        return value
    return _under(value, SITE_FILE_DIRS, "an nginx site file")


def _site_link(value: str) -> str:
    return _under(value, SITE_LINK_DIRS, "the link enabling a site")


def _seconds(value: str) -> int:
    if not re.fullmatch(r"[0-9]{1,3}", value) or not 1 <= int(value) <= 600:
        raise ValueError("is not a number of seconds from 1 to 600")
    return int(value)


def _profile(value: str) -> str:
    if value not in PROFILES:
        raise ValueError(f"is not a profile (one of: {', '.join(PROFILES)})")
    return value


def _advisories(value: str) -> str | None:
    if not value:
        return None
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", value):
        raise ValueError("is not a file path of plain characters ([A-Za-z0-9._/-])")
    return value


def _networks(value: str) -> tuple[str, ...]:
    nets = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        try:
            nets.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError(f"has {part!r}, not an IP network (CIDR)") from None
    return tuple(nets)


def _vantage(value: str) -> str:
    if value != "runner" and not re.fullmatch(r"netns:[A-Za-z0-9_.-]{1,64}", value):
        raise ValueError("is not `runner` or `netns:NAME`")
    return value


def _switch(value: str) -> bool:
    if value not in ("on", "off"):
        raise ValueError("is not on or off")
    return value == "on"


def _proxy_seconds(value: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", value) or not 1 <= int(value) <= 86400:
        raise ValueError("is not a number of seconds from 1 to 86400")
    return int(value)


_PARSERS = {
    "ollama_ctid": _ctids,
    "ollama_ct_transport": _transport,
    "ollama_ct_ip": _ct_ip,
    "ollama_proxy_url": _proxy_url,
    "ollama_server_name": _server_name,
    "ollama_site_file": _site_file,
    "ollama_site_link": _site_link,
    "ollama_command_timeout": _seconds,
    "ollama_profile": _profile,
    "ollama_advisories": _advisories,
    "ollama_manage_from": _networks,
    "ollama_proxy_timeout": _proxy_seconds,
    "ollama_exposure_from": _vantage,
    "ollama_probe_streaming": _switch,
}


CONTAINERS_KEY, CONTAINERS_FLAG = "ollama_containers", "--container"
CONTAINERS_HELP = (
    "one container per line/flag: '<ctid> [site_file=..] [site_link=..] [server_name=..] "
    "[proxy_url=..] [ct_ip=..]'; replaces ollama_ctid"
)
OVERRIDABLE = {
    "site_file": "ollama_site_file",
    "site_link": "ollama_site_link",
    "server_name": "ollama_server_name",
    "proxy_url": "ollama_proxy_url",
    "ct_ip": "ollama_ct_ip",
}


# Old spellings kept while no other plugin claims them (pytest-profiling owns --profile).
DEPRECATED_FLAGS = {"--profile": "--compliance-profile"}


def _taken(parser: pytest.Parser) -> set[str]:
    """The option strings other plugins already declared."""
    groups = [parser._anonymous, *parser._groups]
    return {name for group in groups for option in group.options for name in option.names()}


def add_options(parser: pytest.Parser) -> None:
    """Declare every setting as an ini key and a CLI flag."""
    group = parser.getgroup("ollama", "Ollama LXC compliance settings")
    taken = _taken(parser)
    for key, flag, default, help_text in SETTINGS:
        parser.addini(key, f"{help_text} (CLI: {flag})", default=default)
        group.addoption(flag, dest=key, default=None, help=f"{help_text} [ini: {key}]")
    for old, new in DEPRECATED_FLAGS.items():
        if old not in taken:
            key = next(k for k, flag, _d, _h in SETTINGS if flag == new)
            group.addoption(old, dest=_old_dest(key), default=None, help=f"deprecated: use {new}")
    parser.addini(CONTAINERS_KEY, CONTAINERS_HELP, type="linelist", default=[])
    group.addoption(
        CONTAINERS_FLAG, dest=CONTAINERS_KEY, action="append", default=None, help=CONTAINERS_HELP
    )


def _old_dest(key: str) -> str:
    return f"{key}_deprecated_flag"


def deprecated_used(config: pytest.Config) -> list[str]:
    """`--profile is deprecated: use --compliance-profile`, for each old spelling used."""
    used = []
    for old, new in DEPRECATED_FLAGS.items():
        key = next(k for k, flag, _d, _h in SETTINGS if flag == new)
        if getattr(config.option, _old_dest(key), None) is not None:
            used.append(f"{old} is deprecated: use {new}")
    return used


def raw_values(config: pytest.Config) -> dict[str, str]:
    """The effective raw value of every setting: CLI flag over ini key."""
    values = {}
    for key, _flag, _default, _help in SETTINGS:
        cli = config.getoption(key)
        if cli is None:
            cli = getattr(config.option, _old_dest(key), None)
        values[key] = str(cli if cli is not None else config.getini(key)).strip()
    lines = config.getoption(CONTAINERS_KEY) or config.getini(CONTAINERS_KEY)
    values[CONTAINERS_KEY] = "\n".join(str(line) for line in lines)
    return values


def _overrides(text: str, defaults: dict[str, object]) -> tuple[Site, ...]:
    """Parse `ollama_containers` lines into per-container sites (defaults filled in)."""
    sites = []
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        ctid, *pairs = line.split()
        try:
            (ctid,) = _ctids(ctid)
        except ValueError as why:
            raise _bad(CONTAINERS_KEY, CONTAINERS_FLAG, line, str(why)) from None
        fields = {short: defaults[key] for short, key in OVERRIDABLE.items()}
        for pair in pairs:
            short, sep, value = pair.partition("=")
            if not sep or short not in OVERRIDABLE:
                usage = f"has {pair!r}: use key=value with keys {', '.join(OVERRIDABLE)}"
                raise _bad(CONTAINERS_KEY, CONTAINERS_FLAG, line, usage)
            try:
                fields[short] = _PARSERS[OVERRIDABLE[short]](value)
            except ValueError as why:
                raise _bad(CONTAINERS_KEY, CONTAINERS_FLAG, line, f"{short}: {why}") from None
        sites.append(Site(ctid=ctid, **fields))  # type: ignore[arg-type]
    _no_shared_sites(sites)
    return tuple(sites)


def _no_shared_sites(sites: list[Site]) -> None:
    """Two containers of one host cannot share a site file, link, server name, proxy URL or
    container IP (unset proxy URLs and IPs are derived per container, so they may repeat)."""
    for field_name in ("ctid", "site_file", "site_link", "server_name", "proxy_url", "ct_ip"):
        seen: dict[object, str] = {}
        for site in sites:
            value = getattr(site, field_name)
            if value is None and field_name in ("proxy_url", "ct_ip"):
                continue
            if value in seen:
                shown = value if value is not None else "(the host address)"
                raise pytest.UsageError(
                    f"setting {CONTAINERS_KEY} ({CONTAINERS_FLAG}): containers {seen[value]} and "
                    f"{site.ctid} share {field_name} {shown}; give each container its own"
                )
            seen[value] = site.ctid


def parse(values: dict[str, str]) -> Settings:
    """Validate raw values into Settings; a bad value is a one-line UsageError naming it."""
    flags = {key: flag for key, flag, _d, _h in SETTINGS}
    parsed: dict[str, object] = {}
    for key, parse_one in _PARSERS.items():
        value = values[key]
        try:
            parsed[key] = parse_one(value)
        except ValueError as why:
            raise _bad(key, flags[key], value, str(why)) from None
    containers = values.get(CONTAINERS_KEY, "")
    if containers.strip():
        overrides = _overrides(containers, parsed)
        parsed["ollama_ctid"] = tuple(site.ctid for site in overrides)
    elif len(parsed["ollama_ctid"]) > 1:  # type: ignore[arg-type]
        ctids = ", ".join(parsed["ollama_ctid"])  # type: ignore[arg-type]
        raise pytest.UsageError(
            f"setting ollama_ctid (--ctid): {ctids} would share one site file; list them in "
            f"{CONTAINERS_KEY} ({CONTAINERS_FLAG}) with a site_file, site_link and server_name each"
        )
    else:
        overrides = ()
    return Settings(
        overrides=overrides,
        ctids=parsed["ollama_ctid"],  # type: ignore[arg-type]
        transport=parsed["ollama_ct_transport"],  # type: ignore[arg-type]
        ct_ip=parsed["ollama_ct_ip"],  # type: ignore[arg-type]
        proxy_url=parsed["ollama_proxy_url"],  # type: ignore[arg-type]
        server_name=parsed["ollama_server_name"],  # type: ignore[arg-type]
        site_file=parsed["ollama_site_file"],  # type: ignore[arg-type]
        site_link=parsed["ollama_site_link"],  # type: ignore[arg-type]
        command_timeout=parsed["ollama_command_timeout"],  # type: ignore[arg-type]
        profile=parsed["ollama_profile"],  # type: ignore[arg-type]
        advisories=parsed["ollama_advisories"],  # type: ignore[arg-type]
        manage_from=parsed["ollama_manage_from"],  # type: ignore[arg-type]
        proxy_timeout=parsed["ollama_proxy_timeout"],  # type: ignore[arg-type]
        exposure_from=parsed["ollama_exposure_from"],  # type: ignore[arg-type]
        probe_streaming=parsed["ollama_probe_streaming"],  # type: ignore[arg-type]
    )

"""The deployment plan (the plan's sections 3-5), stated once.

`files/` holds the plan's three files verbatim: the profile script, the unit and the site
template. Where each goes is the plan's prose, written here once. Every other value the checks
and fixes hold the targets to (the binary, the bind address and port, the restart policy, the
user, the site's directives and headers) is read out of those files with the suite's own
parsers (compliance/syntax), as goss derives expected state from a reference system: change a
file here and the checks, the fixes, the lab and the host-free samples follow.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from compliance.syntax import nginx, systemd
from compliance.syntax.hosts import valid_host
from compliance.syntax.ollama import OllamaHost, ollama_host

FILES = Path(__file__).parent / "files"

# Where the plan puts things (its prose, sections 3-5 and 6).
CTID = "955"
PROFILE_SCRIPT = "/etc/profile.d/ollama.sh"
UNIT_NAME = "ollama.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
SITE_FILE = "/usr/local/phoenix_hypervisor/etc/nginx/sites-available/ollama_proxy"
SITE_LINK = "/etc/nginx/sites-enabled/ollama_proxy"
HOST_PLACEHOLDER = "<PROXMOX_HOST_IP_OR_DOMAIN>"
IP_PLACEHOLDER = "<LXC_955_IP>"
API_PATH = "/api/tags"  # section 6: the call made directly and through the proxy


def text(name: str) -> str:
    """One of the plan's files, verbatim."""
    return (FILES / name).read_text()


PROFILE_TEXT = text("ollama.sh")
UNIT_TEXT = text("ollama.service")
SITE_TEMPLATE = text("ollama_proxy")
FILE_NAMES = ("ollama.sh", "ollama.service", "ollama_proxy")


# -- section 3: the PATH ------------------------------------------------------------------


def path_exports(script: str) -> list[str]:
    """The values of a shell script's `export PATH=...` lines, quotes removed."""
    values = re.findall(r"^\s*export\s+PATH=(.*?)\s*$", script, re.M)
    return [value.strip().strip("\"'") for value in values]


BIN_DIR = next(
    entry for value in path_exports(PROFILE_TEXT) for entry in value.split(":") if "$" not in entry
)


# -- section 4: the unit ------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """The [Service] settings the plan's unit gives, as systemd reads them."""

    exec_start: str
    user: str
    group: str
    restart: str
    restart_sec: float
    environment: dict[str, str]
    wanted_by: str

    @property
    def binary(self) -> str:
        return self.exec_start.split()[0]

    @property
    def bind(self) -> OllamaHost:
        return ollama_host(self.environment.get("OLLAMA_HOST", ""))

    @property
    def ollama_host(self) -> str:
        return self.environment.get("OLLAMA_HOST", "")


def read_unit(unit_text: str) -> Unit:
    sections = systemd.unit_file(unit_text)
    service, install = sections.get("Service", ()), sections.get("Install", ())
    environment: dict[str, str] = {}
    for key, value in service:
        if key == "Environment":
            environment.update(systemd.environment(value))
    seconds = systemd.timespan_seconds(systemd.last(service, "RestartSec") or "")
    return Unit(
        exec_start=" ".join((systemd.last(service, "ExecStart") or "").split()),
        user=systemd.last(service, "User") or "",
        group=systemd.last(service, "Group") or "",
        restart=systemd.last(service, "Restart") or "",
        restart_sec=seconds if seconds is not None else 0.0,
        environment=environment,
        wanted_by=systemd.last(install, "WantedBy") or "",
    )


UNIT = read_unit(UNIT_TEXT)
BINARY = UNIT.binary
PORT = UNIT.bind.port  # where the service listens (11434)


# -- section 5: the site ------------------------------------------------------------------


@dataclass(frozen=True)
class SitePlan:
    """What the plan's site template asks of nginx: the port, the location, its rewrite and
    proxy_pass port, the headers it sends upstream and the HTTP version it speaks."""

    listen_port: int
    location: str
    rewrite: tuple[str, ...]
    upstream_port: int
    headers: dict[str, str]
    http_version: str


def read_site(template: str) -> SitePlan:
    config = nginx.parse(template)
    server = config.find("server")[0]
    location = next(loc for loc in nginx.locations(server) if loc.modifier == "")
    levels = [server, location.directive]
    proxy_pass = (location.directive.value("proxy_pass") or "").replace(IP_PLACEHOLDER, "0.0.0.0")
    target = nginx.proxy_target(proxy_pass)
    return SitePlan(
        listen_port=nginx.listens(server)[0].port,
        location=location.pattern,
        rewrite=location.directive.children("rewrite")[0].args,
        upstream_port=target[1] if target else PORT,
        headers=nginx.proxy_headers(levels).values,
        http_version=nginx.inherited(levels, "proxy_http_version") or "1.0",
    )


SITE = read_site(SITE_TEMPLATE)
LOCATION = SITE.location  # "/ollama/"
PROBE_URI = LOCATION + API_PATH.lstrip("/")  # the request the proxy must route to us


class RenderError(ValueError):
    """A value cannot go into a plan file; nothing was changed."""


def site_text(server_name: str, ct_ip: str) -> str:
    """The plan's site with its two placeholders filled in (values must be plain)."""
    if not valid_host(server_name):
        raise RenderError(f"{HOST_PLACEHOLDER}: {server_name!r} is not a hostname or IP address")
    try:
        address = str(ipaddress.IPv4Address(ct_ip))
    except ValueError:
        raise RenderError(f"{IP_PLACEHOLDER}: {ct_ip!r} is not an IPv4 address") from None
    return SITE_TEMPLATE.replace(HOST_PLACEHOLDER, server_name).replace(IP_PLACEHOLDER, address)


@cache
def checksum() -> str:
    """sha256 of the plan's files, the same as
    `cd compliance/plan/files && LC_ALL=C sha256sum * | sha256sum`."""
    listing = "".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
        for path in sorted(FILES.iterdir(), key=lambda p: p.name.encode())
        if path.is_file()
    )
    return hashlib.sha256(listing.encode()).hexdigest()

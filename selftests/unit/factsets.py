"""Static fact sets for host-free tests of the checks and the fix planners.

`compliant()` is every fact of one compliant container (CT 955) and its host, keyed by probe
name, built from real typed values (the parsers' own types, or the parsers run on samples).
`with_(name=value)` is the compliant facts with some replaced, and `subject(**changes)` the
Subject over them, so a table row changes exactly one thing; the helpers below (`unit`,
`site_text`, ...) build the replacement values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from typing import Any, TypeVar

from compliance import observed, parsers, probes, settings
from compliance.facts import Probe
from compliance.observed import FileState, LinkState, SiteState
from compliance.parsers import HttpReply, NginxState, NginxTest
from compliance.settings import Settings, Site
from compliance.streaming import StreamTiming
from compliance.verdict import Subject
from remediation import fix_firewall, render
from selftests.unit import samples

T = TypeVar("T")

HOST = "10.0.0.2"  # the Proxmox host's address (the default server_name)
CT_IP = "10.0.3.55"  # net0's static IP, live in the CT
MAIN_PID = 2231
NOW = 1762102500  # the CT's clock in samples.UNIT_SHOW (`Now=@...`)
TAGS_URL = f"http://{HOST}/ollama/api/tags"


def default_settings(**changes: str) -> Settings:
    """The plan's defaults (as pyproject.toml ships them), some changed (no `ollama_` prefix)."""
    raw = {key: default for key, _flag, default, _help in settings.SETTINGS}
    for short, value in changes.items():
        assert f"ollama_{short}" in raw, short
        raw[f"ollama_{short}"] = value
    return settings.parse(raw)


SETTINGS = default_settings()
SITE = SETTINGS.site("955")
SITE_PROBES = probes.for_site(SITE, SETTINGS.transport)
NGINX_STATE = probes.nginx_state(SETTINGS)
OUR_PATHS = frozenset({SITE.site_file, SITE.site_link})

# Short names for the per-site probes (their probe names carry the ctid).
STATUS = SITE_PROBES.status.name
CONFIG = SITE_PROBES.config.name
SITE_FILE = SITE_PROBES.site.name
LINK = SITE_PROBES.link.name


# -- builders of typed values -------------------------------------------------------------

PROFILE_TEXT = render.template("ollama.sh")
UNIT_TEXT = render.template("ollama.service")
SITE_TEXT = render.site(HOST, CT_IP)
COMPLIANT_UNIT = observed.unit_state_of(0, samples.UNIT_SHOW)


def unit(**props: str) -> observed.UnitState:
    """The compliant `systemctl show` with some properties replaced."""
    return observed.UnitState({**COMPLIANT_UNIT.props, **props})


def exec_start(path: str, argv: str) -> str:
    """systemctl's ExecStart property for a command."""
    return f"{{ path={path} ; argv[]={argv} ; ignore_errors=no ; start_time=[n/a] ; pid=0 }}"


def profile(text: str = PROFILE_TEXT, owner: str = "root:root", mode: int = 0o644) -> FileState:
    return FileState(True, owner, mode, text)


def site_state(text: str = SITE_TEXT, owner: str = "root:root", mode: int = 0o644) -> SiteState:
    """Our site file as the site probe types it (parsed with the real site parser)."""
    return SiteState(FileState(True, owner, mode, text), parsers.site_file(text))


MISSING_SITE = SiteState(FileState(False), parsers.site_file(""))


def site_text(old: str, new: str) -> str:
    """The compliant site with one piece of text replaced (which must be there)."""
    assert old in SITE_TEXT, old
    return SITE_TEXT.replace(old, new)


def tags(*models: dict[str, Any], status: int = 200, ctype: str = "application/json") -> HttpReply:
    return HttpReply(status, ctype, samples.tags_body(*models))


def nginx_state(
    running: bool = True, workers: float = 1000.0, changed: dict[str, float] | None = None
) -> NginxState:
    """nginx's state: workers started at `workers`; config files last changed before them,
    except those in `changed` (path: mtime)."""
    files = {"/etc/nginx/nginx.conf": 500.0, SITE.site_file: 900.0, SITE.site_link: 900.0}
    files.update(changed or {})
    if not running:
        return NginxState(None, None, files)
    return NginxState(4242, workers, files)


NGINX_OK = NginxTest(True, "", "", ())
NGINX_OK_TEXT = parsers.nginx_test(0, samples.NGINX_T_OK)


def compliant() -> dict[str, Any]:
    """Every fact of a compliant CT 955 and its host, by probe name."""
    return {
        # on the Proxmox host
        STATUS: "running",
        CONFIG: observed.ct_config_of(0, samples.PCT_CONFIG),
        SITE_FILE: site_state(),
        LINK: LinkState("link", SITE.site_file),
        probes.NGINX_T.name: NGINX_OK_TEXT,
        NGINX_STATE.name: nginx_state(),
        probes.INIT.name: "sysv",
        probes.HOST_ADDRESSES.name: (
            ("vmbr0", IPv4Interface("10.0.3.1/24")),
            ("eth0", IPv4Interface(f"{HOST}/24")),
        ),
        # inside the container
        probes.PROFILE.name: profile(),
        probes.LOGIN_PATH.name: observed.login_shell_of(
            0, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        ),
        probes.LOGIN_WHICH.name: observed.which_of(0, "/usr/local/bin/ollama\nexecutable\n"),
        probes.BINARY_PRESENT.name: True,
        probes.UNIT_SHOW.name: COMPLIANT_UNIT,
        probes.UNIT_FILES.name: unit_files({probes.UNIT_PATH: UNIT_TEXT}),
        probes.MAIN_ENV.name: {"OLLAMA_HOST": "0.0.0.0:11434"},
        probes.UNIT_ENABLED.name: "enabled",
        probes.JOURNAL.name: observed.journal_of(0, samples.JOURNAL_OK),
        probes.LISTEN.name: observed.listeners_of(0, samples.SS_DUAL),
        probes.DIRECT_TAGS.name: tags(samples.LLAMA, samples.QWEN),
        probes.ADDRESSES.name: (("eth0", CT_IP),),
        # on the runner
        "proxied_tags": tags(samples.LLAMA, samples.QWEN),
    }


@dataclass
class StaticFacts:
    """Facts from a table: `get` returns values[probe.name]; an unexpected probe is a KeyError.

    `asked` records every probe read (in order), so a test can see which were consulted.
    """

    values: dict[str, Any]
    asked: list[Probe[Any]] = field(default_factory=list)

    def get(self, probe: Probe[T]) -> T:
        self.asked.append(probe)
        if probe.name not in self.values:
            raise KeyError(f"no fact {probe.name!r} in this table")
        value: T = self.values[probe.name]
        return value


HARDENED_SITE_TEXT = render.site(HOST, CT_IP, (600, ()))
GUARD_RULES = fix_firewall.RULES.format(host="10.0.3.1")
VERSION_OK = HttpReply(200, "application/json", '{"version":"0.21.0"}')


def hardened() -> dict[str, Any]:
    """Every fact of a compliant CT 955 under the hardened profile, by probe name."""
    values = compliant()
    values[SITE_FILE] = site_state(HARDENED_SITE_TEXT)
    values[CONFIG] = {**values[CONFIG], "onboot": "1"}
    values[probes.DIRECT_VERSION.name] = VERSION_OK
    values["proxied_version"] = VERSION_OK
    values["proxied_manage"] = HttpReply(403, "text/html", "<center>nginx</center>")
    values["proxied_show"] = HttpReply(200, "application/json", '{"models":[]}')
    values["proxied_stream"] = StreamTiming(200, 15, 0.02, 0.16)
    values["reach_runner"] = None  # the LAN client gets no answer from 11434
    values["reach_netns:lan"] = None
    values[probes.GUARD.name] = observed.GuardState(
        {"/etc/ollama-guard.nft": GUARD_RULES, "/etc/systemd/system/ollama-guard.service": ""},
        nft=True,
        loaded=True,
    )
    return values


def with_hardened(**changes: Any) -> StaticFacts:
    """The hardened profile's compliant facts with some replaced."""
    values = hardened()
    for name, value in changes.items():
        assert name in values, f"{name} is no probe of the fact set"
        values[name] = value
    return StaticFacts(values)


def with_(**changes: Any) -> StaticFacts:
    """The compliant facts with some replaced (keys are probe names, checked to exist)."""
    values = compliant()
    for name, value in changes.items():
        assert name in values, f"{name} is no probe of the fact set"
        values[name] = unit_files(value) if name == probes.UNIT_FILES.name else value
    return StaticFacts(values)


def unit_files(texts: dict[str, Any]) -> dict[str, FileState]:
    """The unit_files fact from {path: text} (root:root 0644) or {path: FileState}."""
    return {
        path: text if isinstance(text, FileState) else FileState(True, "root:root", 0o644, text)
        for path, text in texts.items()
    }


def subject(
    table: StaticFacts | None = None,
    *,
    site: Site = SITE,
    host_address: str = HOST,
    transport: str = "pct",
    **changes: Any,
) -> Subject:
    """A container's Subject (the way Fleet.subject builds it) over static facts."""
    assert table is None or not changes, "give a table or changes, not both"
    return Subject(
        table if table is not None else with_(**changes),
        host_address,
        NGINX_STATE,
        site,
        probes.for_site(site, transport),
        OUR_PATHS,
    )


HOST_PROBES = frozenset(p.name for p in probes.pve_probes(SETTINGS))


def host_subject(**changes: Any) -> Subject:
    """A host-wide Subject (as Fleet.host_subject builds it): no container, and only the
    host's facts (reading a container's fact is a KeyError, as it is an error live)."""
    table = with_(**changes)
    table.values = {name: v for name, v in table.values.items() if name in HOST_PROBES}
    return Subject(table, HOST, NGINX_STATE, our_paths=OUR_PATHS)

"""Static fact sets for host-free tests of the checks and the fix planners.

`compliant()` is every fact of one compliant container (CT 955, the settings pyproject.toml
ships) and its host, keyed by fact class (an on-demand fact by `(class, args)`), built from
real typed values: the fact classes themselves, or their `parse` run on sample outputs. The
plan's files (profile script, unit, site) come from compliance.plan, stated once.
`with_(UnitState=value)` (or `with_({UnitState: value})`) is the compliant facts with some
replaced, and `subject(...)` / `host_subject(...)` the Subject over them, so a table row
changes exactly one thing; the helpers below (`unit`, `site_state`, ...) build the values.

`manual_setup()` is the plan's starting point (lab/states.py `reset`: the container runs with
the binary, nothing of the plan's sections 3-5 done), and `failing(facts)` judges the whole
catalogue on a fact set as the fleet does, so the lab can compare a live audit with the
computed set.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv6Interface
from pathlib import Path
from typing import Any, TypeVar, cast

from compliance import catalogue, facts, plan, settings
from compliance.catalogue.verdict import CtDown, Subject, Verdict
from compliance.facts import Fact
from compliance.facts.files import END, FileState
from compliance.facts.firewall import CtRuleset, Guard
from compliance.facts.http import (
    DirectTags,
    DirectVersion,
    HttpFact,
    HttpReply,
    ProxiedDelete,
    ProxiedPs,
    ProxiedTags,
    ProxiedVersion,
    ReachFromRunner,
)
from compliance.facts.net import (
    CtAddresses,
    CtInterfaces,
    HostAddresses,
    Listeners,
    ReachFromNetns,
)
from compliance.facts.nginx import NginxLoaded, NginxState, NginxTest, SiteConfig, SiteLink
from compliance.facts.proxmox import (
    CtStatus,
    HostInit,
    PctConfig,
    PveFirewall,
    PveFirewallService,
)
from compliance.facts.shell import Binary, LoginPath, LoginWhich, ProfileEffect, ProfileScript
from compliance.facts.stream import ProxiedStream
from compliance.facts.systemd import (
    UNIT_STARTED,
    Journal,
    MainProcessEnv,
    UnitEnabled,
    UnitEvent,
    UnitFiles,
    UnitHistory,
    UnitState,
)
from compliance.settings import Settings, Site
from compliance.syntax.live_try import Try
from remediation import fix_firewall, render
from selftests.unit import samples

F = TypeVar("F", bound=Fact)
Key = type[Fact] | tuple[type[Fact], tuple[str, ...]]

HOST = samples.HOST_ADDRESS  # the Proxmox host's address (the default server_name)
HOST_LABEL = "proxmox"  # the host's label in a CtDown reason (as the fleet names it)
CT_IP = "10.0.3.55"  # net0's static IP, live in the CT
BRIDGE_IP = "10.0.3.1"  # the host's address on vmbr0
MAIN_PID = 2231
NOW = 1762102500  # the CT's clock in samples.UNIT_SHOW (`Now=@...`)
STARTED = 1762102201  # ExecMainStartTimestamp in samples.UNIT_SHOW
INVOCATION = "4f5c0e7a2b9d4c1e8a3f6b7d9e0c1a2b"  # InvocationID in samples.UNIT_SHOW
TAGS_URL = f"http://{HOST}{plan.LOCATION}{plan.API_PATH.lstrip('/')}"
PROXY_BASE = f"http://{HOST}{plan.LOCATION}"


def default_settings(**changes: str) -> Settings:
    """The plan's defaults (as pyproject.toml ships them), some changed (no `ollama_` prefix)."""
    raw = {key: default for key, _flag, default, _help in settings.SETTINGS}
    for short, value in changes.items():
        assert f"ollama_{short}" in raw, short
        raw[f"ollama_{short}"] = value
    return settings.parse(raw)


SETTINGS = default_settings()
HARDENED_SETTINGS = default_settings(profile="hardened")
SITE = SETTINGS.site(plan.CTID)
CTID = SITE.ctid
OUR_PATHS = frozenset({SITE.site_file, SITE.site_link})
UNIT_PATH = plan.UNIT_PATH
PROFILE_SCRIPT = plan.PROFILE_SCRIPT


# -- builders of typed values -------------------------------------------------------------

PROFILE_TEXT = plan.PROFILE_TEXT
UNIT_TEXT = plan.UNIT_TEXT
SITE_TEXT = plan.site_text(HOST, CT_IP)
COMPLIANT_UNIT = UnitState.parse(0, samples.UNIT_SHOW)


def file_output(text: str, owner: str = "root:root", mode: int = 0o644, link: str = "") -> str:
    """What `files.file_command` prints for an existing file (a symlink's line first)."""
    head = f"link {link}\n" if link else ""
    return f"{head}{owner} {mode:o}\n{text}{END}"


def unit(**props: str) -> UnitState:
    """The compliant `systemctl show` with some properties replaced."""
    return UnitState({**COMPLIANT_UNIT.props, **props})


def exec_start(path: str, argv: str) -> str:
    """systemctl's ExecStart property for a command."""
    return f"{{ path={path} ; argv[]={argv} ; ignore_errors=no ; start_time=[n/a] ; pid=0 }}"


def profile(
    text: str = PROFILE_TEXT, owner: str = "root:root", mode: int = 0o644, link: str = ""
) -> ProfileScript:
    """The profile script as its fact parses it (`link`: reached through that symlink)."""
    return ProfileScript.parse(0, file_output(text, owner, mode, link))


MISSING_PROFILE = ProfileScript.parse(1, "missing\n")


def site_state(
    text: str = SITE_TEXT, owner: str = "root:root", mode: int = 0o644, link: str = ""
) -> SiteConfig:
    """Our site file as its fact types it (parsed with the real nginx parser)."""
    return SiteConfig.parse(0, file_output(text, owner, mode, link))


MISSING_SITE = SiteConfig.parse(1, "missing\n")


def site_text(old: str, new: str, base: str = SITE_TEXT) -> str:
    """The compliant site with one piece of text replaced (which must be there)."""
    assert old in base, old
    return base.replace(old, new)


def link_state(output: str) -> SiteLink:
    """The SiteLink fact of our link from the part of its command's output after `path`."""
    return SiteLink.parse(0, f"path {SITE.site_link}\n{output}")


LINK_OK = link_state(f"link {SITE.site_file}\n")
LINK_MISSING = link_state("missing\n")


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


NGINX_OK = NginxTest.parse(0, samples.NGINX_T_OK)

NGINX_CONF = """\
user www-data;
worker_processes auto;
pid /run/nginx.pid;
events {
    worker_connections 768;
}
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
}
"""
MIME_TYPES = "types {\n    text/html html htm;\n    application/json json;\n}\n"
DEFAULT_SITE = """\
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    root /var/www/html;
    index index.html index.htm index.nginx-debian.html;
    server_name _;
    location / {
        try_files $uri $uri/ =404;
    }
}
"""
DEFAULT_LINK = "/etc/nginx/sites-enabled/default"


def nginx_dump(*sites: tuple[str, str], main: str = NGINX_CONF, preamble: str = "") -> str:
    """`nginx -T 2>&1`: the test's lines (and `preamble`, nginx's warnings), then nginx.conf,
    mime.types and every (path, text) of `sites` in the order nginx reads them."""
    files = [("/etc/nginx/nginx.conf", main), ("/etc/nginx/mime.types", MIME_TYPES), *sites]
    body = "".join(f"# configuration file {path}:\n{text}\n" for path, text in files)
    return preamble + samples.NGINX_T_OK + body


def loaded(*sites: tuple[str, str], main: str = NGINX_CONF, preamble: str = "") -> NginxLoaded:
    """The NginxLoaded fact of a dump with these sites enabled (see `nginx_dump`)."""
    return NginxLoaded.parse(0, nginx_dump(*sites, main=main, preamble=preamble))


LOADED_OK = loaded((DEFAULT_LINK, DEFAULT_SITE), (SITE.site_link, SITE_TEXT))
BRIDGE_LINK_LOCAL = "fe80::216:3eff:fe00:0"  # the host's IPv6 link-local on vmbr0
CT_LINK_LOCAL = "fe80::216:3eff:fe59:7d60"  # the CT's on eth0 (the plan's bind answers it)
HOST_ADDRESSES = HostAddresses(
    (("vmbr0", IPv4Interface(f"{BRIDGE_IP}/24")), ("eth0", IPv4Interface(f"{HOST}/24"))),
    (("vmbr0", IPv6Interface(f"{BRIDGE_LINK_LOCAL}/64")),),
)
CT_INTERFACES = CtInterfaces(
    (("eth0", IPv4Interface(f"{CT_IP}/24")), ("eth0", IPv6Interface(f"{CT_LINK_LOCAL}/64")))
)
# A live try from the LAN that the guard refuses: the CT answers ARP/ND, the port resets.
REFUSED_TRY = Try.parse(
    "@@vantage lan0\n@@route ok\n@@connect 1 try: line 1: Connection refused\n"
    "@@neigh x lladdr 00:16:3e:59:7d:60 REACHABLE\n"
)
ANSWERED_TRY = Try.parse("@@vantage lan0\n@@route ok\n@@connect 0\n@@neigh x REACHABLE\n")
NETNS_TRIES = ((ReachFromNetns, ("lan", CT_IP)), (ReachFromNetns, ("lan", CT_LINK_LOCAL)))
RUNNER_TRIES = ((ReachFromRunner, (CT_IP,)), (ReachFromRunner, (CT_LINK_LOCAL, CT_IP)))
LOGIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"


def profile_effect(sh: str, bash: str | None = None) -> ProfileEffect:
    """The script's effect as its fact parses it: the PATH each clean shell printed ("" for
    none); bash's the same as sh's unless given."""
    lines = [
        f"{shell} 0 {'=' + path if path else ''}"
        for shell, path in (("sh", sh), ("bash", sh if bash is None else bash))
    ]
    return ProfileEffect.parse(0, "\n".join(lines) + "\n")


PROFILE_EFFECT = profile_effect("/usr/bin:/bin:/usr/local/bin")


def history_line(at: int, invocation: str, message_id: str, message: str, status: str = "") -> str:
    """One line of `journalctl -o json` about the unit (systemd's own message)."""
    entry = {
        "__REALTIME_TIMESTAMP": str(at * 1_000_000),
        "MESSAGE": message,
        "MESSAGE_ID": message_id,
        "INVOCATION_ID": invocation,
    }
    if status:
        entry["EXIT_STATUS"] = status
    return json.dumps(entry)


def history(*events: UnitEvent) -> UnitHistory:
    return UnitHistory(events)


HISTORY_OK = UnitHistory.parse(
    0, history_line(STARTED, INVOCATION, UNIT_STARTED, "Started ollama.service - Ollama Service.")
)


def unit_files(texts: Mapping[str, str | FileState]) -> UnitFiles:
    """The UnitFiles fact from {path: text} (root:root 0644) or {path: FileState}."""
    return UnitFiles(
        {
            path: text if isinstance(text, FileState) else FileState(True, "root:root", 0o644, text)
            for path, text in texts.items()
        }
    )


def compliant() -> dict[Key, Fact]:
    """Every fact of a compliant CT 955 and its host under the plan's profile, by class."""
    values: list[Fact] = [
        # on the Proxmox host, about CT 955
        CtStatus.parse(0, "status: running\n"),
        PctConfig.parse(0, samples.PCT_CONFIG),
        site_state(),
        LINK_OK,
        # on the Proxmox host
        NGINX_OK,
        nginx_state(),
        LOADED_OK,
        HostInit.parse(0, "sysv\n"),
        HOST_ADDRESSES,
        # inside the container
        profile(),
        LoginPath.parse(0, LOGIN_PATH),
        PROFILE_EFFECT,
        LoginWhich.parse(0, f"{plan.BINARY}\nexecutable\n"),
        Binary.parse(0, f"-rwxr-xr-x 1 root root 31337 Nov  2 16:40 {plan.BINARY}\n"),
        COMPLIANT_UNIT,
        unit_files({UNIT_PATH: UNIT_TEXT}),
        MainProcessEnv.parse(0, f"pid {MAIN_PID}\nOLLAMA_HOST=0.0.0.0:11434\n"),
        UnitEnabled.parse(0, "enabled\n"),
        Journal.parse(0, samples.JOURNAL_OK),
        HISTORY_OK,
        Listeners.parse(0, samples.SS_DUAL),
        DirectTags(tags(samples.LLAMA, samples.QWEN)),
        CtAddresses.parse(0, f"2: eth0    inet {CT_IP}/24 brd 10.0.3.255 scope global eth0\n"),
        # on the runner
        ProxiedTags(tags(samples.LLAMA, samples.QWEN)),
    ]
    return {type(value): value for value in values}


HARDENED_SITE_TEXT = render.site(HOST, CT_IP, (600, ()))
GUARD_RULES = fix_firewall.RULES.format(host=BRIDGE_IP)
VERSION_OK = HttpReply(200, "application/json", '{"version":"0.21.0"}')
STREAM_MODELS = (str(samples.LLAMA["name"]), str(samples.QWEN["name"]))  # as /api/tags lists


def sample_output(fact: type[Fact], case: str) -> str:
    """The raw output of one of a fact's sample cases (selftests/unit/facts/<fact>/<case>)."""
    path = Path(__file__).parent / "facts" / fact.name() / f"{case}.json"
    return str(json.loads(path.read_text())["output"])


# The plan's guard as the lab's CT loads it (host 10.0.3.1 = BRIDGE_IP), loaded at boot.
RULESET_OK = CtRuleset.parse(0, sample_output(CtRuleset, "guarded_at_boot"))


def hardened() -> dict[Key, Fact]:
    """Every fact of a compliant CT 955 under the hardened profile, by class (and args)."""
    values = compliant()
    values[SiteConfig] = site_state(HARDENED_SITE_TEXT)
    values[NginxLoaded] = loaded((DEFAULT_LINK, DEFAULT_SITE), (SITE.site_link, HARDENED_SITE_TEXT))
    values[DirectVersion] = DirectVersion(VERSION_OK)
    values[ProxiedVersion] = ProxiedVersion(VERSION_OK)
    values[ProxiedDelete] = ProxiedDelete(HttpReply(403, "text/html", "<center>nginx</center>"))
    values[ProxiedPs] = ProxiedPs(HttpReply(200, "application/json", '{"models":[]}'))
    values[(ProxiedStream, STREAM_MODELS)] = ProxiedStream.parse(
        0, "status 200 chunks 15 first 0.020 last 0.160 gap 0.011 model llama3.2:1b"
    )
    values[CtInterfaces] = CT_INTERFACES
    for key in NETNS_TRIES:  # refused from the LAN, over both families
        values[key] = ReachFromNetns(REFUSED_TRY)
    for key in RUNNER_TRIES:
        values[key] = ReachFromRunner(REFUSED_TRY)
    values[CtRuleset] = RULESET_OK
    values[PveFirewall] = PveFirewall()  # no firewall files: Proxmox's firewall off
    # the lab's stand-in status after a reset (pve-firewall not running; read only when the
    # files turn the firewall on for the CT)
    values[PveFirewallService] = PveFirewallService.parse(
        0, sample_output(PveFirewallService, "stopped")
    )
    values[Guard] = Guard(
        {fix_firewall.RULES_PATH: GUARD_RULES, fix_firewall.UNIT_PATH: ""}, nft=True, loaded=True
    )
    return values


def manual_setup() -> dict[Key, Fact]:
    """The plan's starting point (lab/states.py `reset`): CT 955 runs with the binary in
    /usr/local/bin, but has no profile script, no ollama.service (nothing listens) and onboot
    0; the host's nginx runs Debian's default site only (no site file, no link).

    Debian's own /etc/profile already puts /usr/local/bin on root's login PATH, so the login
    shell finds the binary without the plan's script.
    """
    values = compliant()
    values.update(
        {
            PctConfig: PctConfig.parse(0, samples.PCT_CONFIG.replace("onboot: 1", "onboot: 0")),
            SiteConfig: MISSING_SITE,
            SiteLink: LINK_MISSING,
            NginxLoaded: loaded((DEFAULT_LINK, DEFAULT_SITE)),
            NginxState: NginxState(4242, 1000.0, {"/etc/nginx/nginx.conf": 500.0}),
            ProfileScript: MISSING_PROFILE,
            UnitState: UnitState.parse(0, samples.UNIT_SHOW_MISSING),
            UnitFiles: UnitFiles({}),
            MainProcessEnv: MainProcessEnv.parse(1, ""),
            UnitEnabled: UnitEnabled.parse(
                1,
                "Failed to get unit file state for ollama.service: No such file or directory\n",
            ),
            Journal: Journal.parse(1, "no invocation of the unit\n"),
            UnitHistory: UnitHistory.parse(0, ""),
            Listeners: Listeners.parse(1, ""),
            DirectTags: DirectTags.parse(7, "curl: (7) Failed to connect to 127.0.0.1 port 11434"),
            ProxiedTags: ProxiedTags.parse(0, "HTTP 404 text/html\n<center>nginx</center>\n"),
        }
    )
    return values


# -- how a value of a row becomes a fact ---------------------------------------------------


def _coerce(fact: type[Fact], value: Any) -> Fact:
    """A row's value as the fact: the fact itself, or the plain value it wraps (an HttpReply
    or None for an HTTP fact, {path: text} for UnitFiles, the status string, ...)."""
    if isinstance(value, fact):
        return value
    if issubclass(fact, HttpFact):
        assert value is None or isinstance(value, HttpReply), (fact, value)
        return fact(value)
    if fact is UnitFiles:
        return unit_files(value)
    if fact is MainProcessEnv:
        return MainProcessEnv(False) if value is None else MainProcessEnv(True, dict(value))
    if fact is PctConfig:
        return PctConfig(dict(value))
    if fact is Listeners:
        return Listeners(tuple(value))
    if fact in (CtAddresses, HostAddresses, CtInterfaces):
        return fact(tuple(value))
    if fact in (CtStatus, UnitEnabled, Binary, ReachFromNetns, HostInit):
        return fact(value)
    raise TypeError(f"{fact.__name__}: give a {fact.__name__}, not {value!r}")


FACTS_BY_NAME = {fact.__name__: fact for fact in facts.load()}


def _key(key: Any) -> Key:
    if isinstance(key, str):
        assert key in FACTS_BY_NAME, f"{key} is no fact class"
        return FACTS_BY_NAME[key]
    return cast(Key, key)


def _fact_of(key: Key) -> type[Fact]:
    return key[0] if isinstance(key, tuple) else key


def changed(
    base: dict[Key, Fact], changes: Mapping[Any, Any], named: Mapping[str, Any]
) -> dict[Key, Fact]:
    """`base` with `changes` ({class or (class, args): value}) and `named` (ClassName=value)
    applied; every key must already be a fact of the set."""
    values = dict(base)
    for raw, value in [*changes.items(), *named.items()]:
        key = _key(raw)
        assert key in values, f"{key} is no fact of the fact set"
        values[key] = _coerce(_fact_of(key), value)
    return values


@dataclass
class StaticFacts:
    """Facts from a table: `get` returns values[class] (an on-demand fact's values[(class,
    args)]); an unexpected fact is a KeyError. As the fleet's LiveFacts, a fact of the
    container (or of the runner, through it) raises CtDown when CtStatus says it does not run,
    and a per-CT host fact of another container is unknown.

    `asked` records every (class, ctid, args) read, in order, so a test can see which were.
    """

    values: dict[Key, Fact]
    ctid: str = CTID
    asked: list[tuple[type[Fact], str, tuple[str, ...]]] = field(default_factory=list)

    def get(self, fact: type[F], ctid: str, args: tuple[str, ...]) -> F:
        self.asked.append((fact, ctid, args))
        if fact.per_ct and ctid != self.ctid:
            raise KeyError(f"no fact {fact.name()} of CT {ctid!r} in this table")
        if fact.where in ("ct", "runner") and CtStatus in self.values:
            status = cast(CtStatus, self.values[CtStatus]).status
            if status != "running":
                raise CtDown(
                    f"CT {self.ctid} on {HOST_LABEL} is {status or 'missing'}: see ct_running"
                )
        key: Key = (fact, args) if args else fact
        if key not in self.values:
            raise KeyError(f"no fact {fact.name()}{list(args) if args else ''} in this table")
        return cast(F, self.values[key])

    def keys_asked(self) -> set[Key]:
        return {(fact, args) if args else fact for fact, _ctid, args in self.asked}


def with_(changes: Mapping[Any, Any] | None = None, /, **named: Any) -> StaticFacts:
    """The compliant facts with some replaced: `with_(UnitState=unit(...))` or
    `with_({UnitState: ...})` (keys must be facts of the set)."""
    return StaticFacts(changed(compliant(), changes or {}, named))


def with_hardened(changes: Mapping[Any, Any] | None = None, /, **named: Any) -> StaticFacts:
    """The hardened profile's compliant facts with some replaced."""
    return StaticFacts(changed(hardened(), changes or {}, named))


def subject(
    table: StaticFacts | Mapping[Key, Fact] | None = None,
    /,
    *,
    site: Site = SITE,
    host_address: str = HOST,
    settings: Settings = SETTINGS,
    **changes: Any,
) -> Subject:
    """A container's Subject (the way Fleet.subject builds it) over static facts: a table (a
    StaticFacts or a fact dict), or the compliant facts with `changes` (ClassName=value)."""
    assert table is None or not changes, "give a table or changes, not both"
    if table is None:
        table = with_(**changes)
    elif not isinstance(table, StaticFacts):
        table = StaticFacts(dict(table))
    return Subject(table, settings, host_address, site, OUR_PATHS)


def host_facts(values: Mapping[Key, Fact]) -> dict[Key, Fact]:
    """Only the host-wide facts (a host-wide check has no container)."""
    return {
        key: value
        for key, value in values.items()
        if _fact_of(key).where == "host" and not _fact_of(key).per_ct
    }


def host_subject(
    table: StaticFacts | Mapping[Key, Fact] | None = None,
    /,
    *,
    host_address: str = HOST,
    settings: Settings = SETTINGS,
    **changes: Any,
) -> Subject:
    """A host-wide Subject (as Fleet.subject builds it for a host): no container, and only the
    host's facts (reading a container's fact is a KeyError, as it is an error live). A
    StaticFacts table goes on recording what is read."""
    assert table is None or not changes, "give a table or changes, not both"
    if table is None:
        table = with_(**changes)
    if isinstance(table, StaticFacts):  # its kind kept, and its records (`asked`) shared
        host = dataclasses.replace(table, values=host_facts(table.values))
    else:
        host = StaticFacts(host_facts(table))
    return Subject(host, settings, host_address, None, OUR_PATHS)


# -- the whole catalogue on a fact set ------------------------------------------------------


def judge(check: catalogue.Check, s: Subject) -> Verdict:
    """A check's verdict as the fleet gives it: a stopped container's check skips."""
    try:
        return check.judge(s)
    except CtDown as down:
        return Verdict(True, skipped=str(down))


def verdicts(values: Mapping[Key, Fact], profile: str = "plan") -> dict[str, Verdict]:
    """Every check of `profile` judged on one fact set: the container checks on CT 955, the
    host-wide ones once on the host (settings: the defaults, with that profile)."""
    run = dataclasses.replace(SETTINGS, profile=profile)
    found = {}
    for check in catalogue.in_profile(profile):
        if check.scope == "host":
            s = host_subject(values, settings=run)
        else:
            s = subject(values, settings=run)
        found[check.id] = judge(check, s)
    return found


def failing(values: Mapping[Key, Fact], profile: str = "plan") -> set[str]:
    """The ids of the checks of `profile` that fail on this fact set."""
    return {name for name, verdict in verdicts(values, profile).items() if not verdict.ok}

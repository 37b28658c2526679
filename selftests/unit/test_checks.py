"""The check catalogue as a table: compliant facts with one thing changed -> the Verdict.

Every row starts from `factsets.compliant()` (a compliant CT 955 and its host; the hardened
rows from `factsets.hardened()`) and changes one fact (or a setting); the check's Verdict must
be the one in the row. No host, no lab.
"""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Interface
from typing import Any

import pytest

from compliance import catalogue, plan
from compliance.catalogue import served, upstream
from compliance.catalogue.verdict import CtDown, Verdict, not_requested, passed, skipped
from compliance.facts import Fact, Scope
from compliance.facts.files import FileState
from compliance.facts.firewall import CtRuleset, Guard
from compliance.facts.http import HttpReply, ProxiedTags, ReachFromRunner
from compliance.facts.net import CtAddresses, HostAddresses, Listener, Listeners, ReachFromNetns
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
    PROCESS_EXITED,
    RESTART_SCHEDULED,
    UNIT_STARTED,
    Journal,
    MainProcessEnv,
    UnitEvent,
    UnitHistory,
    UnitState,
)
from compliance.syntax.live_try import Try
from remediation import render
from remediation.registry import FIXES
from selftests.unit import factsets, samples
from selftests.unit.factsets import (
    ANSWERED_TRY,
    BRIDGE_IP,
    CT_IP,
    CT_LINK_LOCAL,
    DEFAULT_LINK,
    DEFAULT_SITE,
    HARDENED_SETTINGS,
    HOST,
    INVOCATION,
    MAIN_PID,
    MISSING_PROFILE,
    MISSING_SITE,
    NETNS_TRIES,
    NGINX_CONF,
    NOW,
    RULESET_OK,
    RUNNER_TRIES,
    SITE,
    SITE_TEXT,
    STARTED,
    STREAM_MODELS,
    TAGS_URL,
    exec_start,
    host_subject,
    link_state,
    loaded,
    nginx_state,
    profile,
    site_state,
    site_text,
    subject,
    tags,
    unit,
    with_,
    with_hardened,
)

BINARY = plan.BINARY
SITE_FILE, SITE_LINK = SITE.site_file, SITE.site_link
MODULES = ("test_container", "test_path", "test_service", "test_proxy", "test_hardened")


class _Checks:
    """The catalogue's check functions by id (`checks.listener`), wherever tests/ defines them."""

    def __getattr__(self, check_id: str) -> Any:
        return catalogue.load()[check_id].judge


checks = _Checks()


@dataclasses.dataclass(frozen=True)
class Want:
    """What a row expects: a pass (exact notes), a skip (exact reason), or a failure whose
    expected/found contain the given text (and whose notes, if given, are exactly these)."""

    ok: bool
    expected: str = ""
    found: str = ""
    notes: tuple[str, ...] | None = ()
    skipped: str = ""
    asked: bool = True  # False: a skip the person's flags chose ("not requested")
    says: tuple[str, ...] = ()  # a pass's notes, or a skip's reason, contain each of these

    def check(self, verdict: Verdict) -> None:
        if self.says:
            said = verdict.skipped if self.skipped else "; ".join(verdict.notes)
            assert verdict.ok == self.ok, verdict
            assert bool(verdict.skipped) == bool(self.skipped), verdict
            for words in self.says:
                assert words in said, (words, said)
            return
        if self.ok and self.skipped:
            want = skipped(self.skipped) if self.asked else not_requested(self.skipped)
            assert verdict == want
            return
        if self.ok:
            assert verdict == passed(*self.notes or ())
            return
        assert not verdict.ok, verdict
        assert not verdict.skipped
        assert self.expected in verdict.expected, verdict
        assert self.found in verdict.found, verdict
        if self.notes is not None:
            assert verdict.notes == self.notes, verdict


def passes(*notes: str) -> Want:
    return Want(True, notes=notes)


def skips(reason: str) -> Want:
    return Want(True, skipped=reason)


def passes_saying(*words: str) -> Want:
    """A pass whose notes (its proof) say each of these."""
    return Want(True, says=words)


def not_judged(*words: str) -> Want:
    """Skipped as not judged, the reason saying each of these."""
    return Want(True, skipped="not judged", says=("not judged: ", *words))


def fails(found: str, expected: str = "", notes: tuple[str, ...] | None = None) -> Want:
    return Want(False, expected, found, notes)


SUBJECT_KEYS = ("site", "host_address", "settings")


def case(check: Any, name: str, want: Want, **changes: Any) -> Any:
    """One row: `check` on the compliant facts with `changes` (FactClass=value; `facts=` a
    {class or (class, args): value} dict; or the subject's `site` / `host_address` /
    `settings`) gives `want`."""
    return pytest.param(check, changes, want, id=f"{check.__name__}:{name}")


def judged(check: Any, changes: dict[str, Any], base: str = "plan") -> Verdict:
    changes = dict(changes)
    keyed = changes.pop("facts", {})
    kwargs = {key: changes.pop(key) for key in SUBJECT_KEYS if key in changes}
    if base == "hardened":
        kwargs.setdefault("settings", HARDENED_SETTINGS)
        table = with_hardened(keyed, **changes)
    else:
        table = with_(keyed, **changes)
    verdict: Verdict = check(subject(table, **kwargs))
    return verdict


SITE_WITH_IP = dataclasses.replace(SITE, ct_ip="10.0.3.99")
SITE_NAMED = dataclasses.replace(SITE, server_name="ollama.lan")
LOOPBACK = Listener("127.0.0.1", 11434, (MAIN_PID,))
CRASH_NOTE = "no crash loop (a process Restart= brought back stays up 30 s)"
DROPIN = "/etc/systemd/system/ollama.service.d/override.conf"
UNIT_PATH = plan.UNIT_PATH
UNIT_TEXT = plan.UNIT_TEXT
IP_NOTE = f"container IP {CT_IP}: pct config net0 ip= (live in the CT)"


LOADED = "Environment= as systemd loaded it (systemctl show)"
NO_HOST = "OLLAMA_HOST unset (no Environment=, EnvironmentFile= or manager value)"
RESTART_PLAN = f"a restart would start it with OLLAMA_HOST=0.0.0.0:11434 from {UNIT_PATH}:11"
ENV_FILE_DROPIN = "[Service]\nEnvironmentFile=-/etc/default/ollama\n"
ENV_FILE_TEXT = "# the operator's\nOLLAMA_HOST='127.0.0.1:11434'\n"
ALL_SERVICES_DROPIN = "/etc/systemd/system/service.d/10-env.conf"
LOOPBACK_DROPIN_TEXT = '[Service]\nEnvironment="OLLAMA_HOST=127.0.0.1:11434"\n'


def env_fact(
    env: dict[str, str],
    env_file: str | None = None,
    manager: dict[str, str] | None = None,
    pid1: dict[str, str] | None = None,
    conf: tuple[tuple[str, int, str], ...] = (),
    version: int | None = 252,
    **show: str,
) -> MainProcessEnv:
    """The running process's environment and the sources beyond Environment= (one
    EnvironmentFile, /etc/default/ollama, when `env_file` is given), under systemd `version`."""
    files = {"/etc/default/ollama": env_file} if env_file is not None else {}
    if files:
        show["EnvironmentFiles"] = "/etc/default/ollama (ignore_errors=yes)"
    return MainProcessEnv(True, env, show, manager or {}, pid1 or {}, conf, files, version)


def env_file_loaded(
    running: str, text: str = ENV_FILE_TEXT, version: int | None = 252
) -> dict[str, Any]:
    """The drop-in loads /etc/default/ollama (`text`: OLLAMA_HOST=127.0.0.1:11434); the process
    has `running`."""
    return {
        "UnitState": unit(DropInPaths=DROPIN),
        "UnitFiles": {UNIT_PATH: UNIT_TEXT, DROPIN: ENV_FILE_DROPIN},
        "MainProcessEnv": env_fact({"OLLAMA_HOST": running}, env_file=text, version=version),
    }


# An environment file's lines systemd reads differently from a shell (checked against systemd
# 252 in the lab's CT): what the next start takes from them.
COMMENT_THEN_HOST = "# the old one was \\\nOLLAMA_HOST=127.0.0.1:11434\n"


def ollama_host(value: str) -> dict[str, Any]:
    """A unit whose Environment sets OLLAMA_HOST=value, its process started with it."""
    return {
        "UnitState": unit(Environment=f"OLLAMA_HOST={value}"),
        "MainProcessEnv": {"OLLAMA_HOST": value},
    }


def started(restarts: int, seconds_ago: int | None, **props: str) -> UnitState:
    stamp = "" if seconds_ago is None else f"@{NOW - seconds_ago}"
    return unit(NRestarts=str(restarts), ExecMainStartTimestamp=stamp, **props)


PREVIOUS = "9a1f0c3e5b7d4e2f8c6a0b1d3e5f7a9c"  # the invocation before the current one
EXITED = "ollama.service: Main process exited, code=exited, status=1/FAILURE"
SCHEDULED = "ollama.service: Scheduled restart job, restart counter is at 1."
START = "Started ollama.service - Ollama Service."
# systemd's Restart= brought the current invocation back after the previous one crashed
BY_RESTART = UnitHistory(
    (
        UnitEvent(STARTED - 20.0, PREVIOUS, UNIT_STARTED, START),
        UnitEvent(STARTED - 3.5, PREVIOUS, PROCESS_EXITED, EXITED, "1"),
        UnitEvent(STARTED - 3.4, PREVIOUS, RESTART_SCHEDULED, SCHEDULED),
        UnitEvent(float(STARTED), INVOCATION, UNIT_STARTED, START),
    )
)
# the previous invocation crashed, then a job (a person, a fix) started the current one
BY_JOB = UnitHistory(
    (
        UnitEvent(STARTED - 20.0, PREVIOUS, UNIT_STARTED, START),
        UnitEvent(STARTED - 3.5, PREVIOUS, PROCESS_EXITED, EXITED, "1"),
        UnitEvent(float(STARTED), INVOCATION, UNIT_STARTED, START),
    )
)


def model(**changes: Any) -> dict[str, Any]:
    """samples.LLAMA with keys replaced (None removes the key)."""
    found = {**samples.LLAMA, **changes}
    return {k: v for k, v in found.items() if v is not None}


PARTIAL_DETAILS = {k: v for k, v in samples.LLAMA["details"].items() if k != "quantization_level"}
NGINX_EMERG_OURS = NginxTest.parse(1, samples.NGINX_T_SERVER_IN_SITE)
NGINX_EMERG_OTHER = NginxTest.parse(1, samples.NGINX_T_BOGUS)
NGINX_DANGLING = NginxTest.parse(
    1,
    f'nginx: [emerg] open() "{SITE_LINK}" failed (2: No such file or directory) '
    "in /etc/nginx/nginx.conf:60\n"
    "nginx: configuration file /etc/nginx/nginx.conf test failed\n",
)
NGINX_WARN = NginxTest.parse(0, samples.NGINX_T_WARN)
WARNING = (
    'nginx warns: nginx: [warn] conflicting server name "pve.example.com" on 0.0.0.0:80, ignored'
)

# -- site texts for proxy_headers: the plan's headers moved between server and location -----

HEADER_LINES = (
    "        proxy_set_header Host $host;\n"
    "        proxy_set_header X-Real-IP $remote_addr;\n"
    "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
    "        proxy_set_header X-Forwarded-Proto $scheme;\n"
)
WS_LINES = (
    "        proxy_set_header Upgrade $http_upgrade;\n"
    '        proxy_set_header Connection "upgrade";\n'
)
PROTO_LINE = "        proxy_set_header X-Forwarded-Proto $scheme;\n"
SERVER_LINE = f"    server_name {HOST}; # Replace with actual host IP or domain\n"


def server_sets(*groups: str) -> str:
    """The plan's site with these groups of lines (location-indented) moved up into the
    server block."""
    text = SITE_TEXT
    for lines in groups:
        text = site_text(lines, "", text)
    moved = "".join(lines.replace("        ", "    ") for lines in groups)
    return text.replace(SERVER_LINE, SERVER_LINE + moved)


ALL_ON_SERVER = server_sets(HEADER_LINES, WS_LINES)
ALL_ON_SERVER_BUT_PROTO = site_text(
    "    proxy_set_header X-Forwarded-Proto $scheme;\n", "", ALL_ON_SERVER
)

# -- nginx -T dumps for site_served ----------------------------------------------------------

OURS = (SITE_LINK, SITE_TEXT)
DEFAULT = (DEFAULT_LINK, DEFAULT_SITE)
COPY_LINK = "/etc/nginx/sites-enabled/00-ollama-copy"
LATE_COPY_LINK = "/etc/nginx/sites-enabled/zz-ollama-copy"
SNIPPET = "/etc/nginx/snippets/ollama-extra.conf"


def copy_site(name: str = HOST) -> str:
    return (
        f"server {{\n    listen 80;\n    server_name {name};\n"
        "    location / {\n        return 404;\n    }\n}\n"
    )


NO_SITES_CONF = NGINX_CONF.replace("    include /etc/nginx/sites-enabled/*;\n", "")
CONF_ONLY_CONF = NGINX_CONF.replace("sites-enabled/*;", "sites-enabled/*.conf;")
BARE_CONF = "events {\n}\nhttp {\n    default_type application/octet-stream;\n}\n"
WITH_SNIPPET = site_text(SERVER_LINE, SERVER_LINE + f"    include {SNIPPET};\n")
API_LOCATION = "    location /ollama/api/ {\n        return 404;\n    }\n"


# -- the container's checks -----------------------------------------------------------------

ROWS = [
    # -- ct_running ---------------------------------------------------------------------
    case(checks.ct_running, "running", passes()),
    case(
        checks.ct_running,
        "stopped",
        fails("CT 955 stopped", "CT 955 running"),
        CtStatus="stopped",
    ),
    case(checks.ct_running, "missing", fails("CT 955 missing"), CtStatus=""),
    # -- profile_script -------------------------------------------------------------------
    case(checks.profile_script, "plan's script", passes()),
    case(
        checks.profile_script,
        "prepends the dir",
        passes(),
        ProfileScript=profile('export PATH="/usr/local/bin:$PATH"\n'),
    ),
    case(
        checks.profile_script, "group not root", passes(), ProfileScript=profile(owner="root:staff")
    ),
    case(
        checks.profile_script,
        "a symlink to the plan's script (profile_is_file says so)",
        passes(),
        ProfileScript=profile(link="/opt/ollama/ollama.sh"),
    ),
    case(
        checks.profile_script,
        "missing",
        fails("it does not exist", "/etc/profile.d/ollama.sh exists"),
        ProfileScript=MISSING_PROFILE,
    ),
    case(
        checks.profile_script,
        "owner not root",
        fails("owner ollama:ollama (want root)", "owned by root, not group/world-writable"),
        ProfileScript=profile(owner="ollama:ollama"),
    ),
    case(
        checks.profile_script,
        "group-writable",
        fails("mode 664 is group/world-writable"),
        ProfileScript=profile(mode=0o664),
    ),
    case(
        checks.profile_script,
        "world-writable",
        fails("mode 646 is group/world-writable"),
        ProfileScript=profile(mode=0o646),
    ),
    case(
        checks.profile_script,
        "owner and mode",
        fails("owner nobody:root (want root); mode 666 is group/world-writable"),
        ProfileScript=profile(owner="nobody:root", mode=0o666),
    ),
    # the script's effect in a clean sh and bash (PATH=/usr/bin:/bin), whatever its text says
    case(
        checks.profile_script,
        "assigns PATH without `export` (PATH is already exported: it works)",
        passes(),
        ProfileScript=profile('#!/bin/sh\nPATH="$PATH:/usr/local/bin"\n'),
    ),
    case(
        checks.profile_script,
        "the dir first",
        passes(),
        ProfileEffect=factsets.profile_effect("/usr/local/bin:/usr/bin:/bin"),
    ),
    case(
        checks.profile_script,
        "adds nothing (an export that runs only in interactive shells)",
        fails(
            "in sh: PATH=/usr/bin:/bin (/usr/local/bin not added); in bash: PATH=/usr/bin:/bin"
            " (/usr/local/bin not added)",
            "sourced in a clean sh and bash (PATH=/usr/bin:/bin), exactly /usr/local/bin added",
        ),
        ProfileEffect=factsets.profile_effect("/usr/bin:/bin"),
    ),
    case(
        checks.profile_script,
        'bash only (`[ -n "$BASH_VERSION" ]`): sh gets nothing',
        fails("in sh: PATH=/usr/bin:/bin (/usr/local/bin not added)"),
        ProfileEffect=factsets.profile_effect("/usr/bin:/bin", "/usr/bin:/bin:/usr/local/bin"),
    ),
    case(
        checks.profile_script,
        "appends the current directory too",
        fails("in sh: PATH=/usr/bin:/bin:/usr/local/bin:. (also added '.')"),
        ProfileEffect=factsets.profile_effect("/usr/bin:/bin:/usr/local/bin:."),
    ),
    case(
        checks.profile_script,
        "a lookalike dir",
        fails("PATH=/usr/bin:/bin:/usr/local/bin2 (/usr/local/bin not added; also added"),
        ProfileEffect=factsets.profile_effect("/usr/bin:/bin:/usr/local/bin2"),
    ),
    case(
        checks.profile_script,
        "clobbers PATH",
        fails("PATH=/usr/local/bin (removed /usr/bin, /bin)"),
        ProfileEffect=factsets.profile_effect("/usr/local/bin"),
    ),
    case(
        checks.profile_script,
        "adds the dir twice",
        fails("(/usr/local/bin added 2 times)"),
        ProfileEffect=factsets.profile_effect("/usr/local/bin:/usr/bin:/bin:/usr/local/bin"),
    ),
    case(
        checks.profile_script,
        "reorders",
        fails("PATH=/bin:/usr/bin:/usr/local/bin (reordered)"),
        ProfileEffect=factsets.profile_effect("/bin:/usr/bin:/usr/local/bin"),
    ),
    case(
        checks.profile_script,
        "the shell ends while sourcing it (`exit`)",
        fails("in sh: the shell ended while sourcing it (no PATH printed)"),
        ProfileEffect=factsets.profile_effect(""),
    ),
    case(
        checks.profile_script,
        "bash missing in the CT",
        fails("in bash: not run"),
        ProfileEffect=ProfileEffect.parse(0, "sh 0 =/usr/bin:/bin:/usr/local/bin\n"),
    ),
    # -- profile_is_file ------------------------------------------------------------------
    case(checks.profile_is_file, "the plan's script, a regular file", passes()),
    case(
        checks.profile_is_file,
        "group not root (profile_script judges ownership)",
        passes(),
        ProfileScript=profile(owner="root:staff", mode=0o666),
    ),
    case(
        checks.profile_is_file,
        "a symlink to the script kept elsewhere",
        fails(
            "a symlink to /opt/ollama/ollama.sh",
            "/etc/profile.d/ollama.sh a regular file",
            notes=(),
        ),
        ProfileScript=profile(link="/opt/ollama/ollama.sh"),
    ),
    case(
        checks.profile_is_file,
        "a dangling symlink",
        fails("a symlink to /opt/ollama/ollama.sh, which does not exist"),
        ProfileScript=ProfileScript.parse(1, "link /opt/ollama/ollama.sh\nmissing\n"),
    ),
    case(
        checks.profile_is_file,
        "missing",
        fails("it does not exist", "/etc/profile.d/ollama.sh a regular file"),
        ProfileScript=MISSING_PROFILE,
    ),
    # -- login_path -----------------------------------------------------------------------
    case(checks.login_path, "dir on PATH", passes()),
    case(
        checks.login_path,
        "shell fails",
        fails(
            "it failed: bash: /etc/profile.d/ollama.sh: line 2: syntax error",
            "a login shell starts",
        ),
        LoginPath=LoginPath.parse(2, "bash: /etc/profile.d/ollama.sh: line 2: syntax error\n"),
    ),
    case(
        checks.login_path,
        "shell fails silently",
        fails("it failed: (no output)"),
        LoginPath=LoginPath(False, (), ""),
    ),
    case(
        checks.login_path,
        "PATH lacks the dir",
        fails("/usr/bin:/bin", "/usr/local/bin on the login PATH"),
        LoginPath=LoginPath.parse(0, "/usr/bin:/bin\n"),
    ),
    case(
        checks.login_path,
        "PATH has a lookalike dir only",
        fails("/usr/local/bin2:/usr/bin"),
        LoginPath=LoginPath.parse(0, "/usr/local/bin2:/usr/bin\n"),
    ),
    # -- which_ollama ---------------------------------------------------------------------
    case(checks.which_ollama, "the plan's binary", passes()),
    case(
        checks.which_ollama,
        "found elsewhere",
        fails("/usr/bin/ollama", "/usr/local/bin/ollama, executable"),
        LoginWhich=LoginWhich("/usr/bin/ollama", True),
    ),
    case(
        checks.which_ollama,
        "not executable",
        fails(BINARY, f"{BINARY}, executable"),
        LoginWhich=LoginWhich.parse(0, f"{BINARY}\n"),
    ),
    case(
        checks.which_ollama,
        "not found",
        fails("ollama not found on the login PATH"),
        LoginWhich=LoginWhich.parse(1, "\n"),
    ),
    case(
        checks.which_ollama,
        "not found, binary missing",
        fails(f"ollama not found on the login PATH; {BINARY} is missing"),
        LoginWhich=LoginWhich("", False),
        Binary=Binary.parse(2, f"ls: cannot access '{BINARY}': No such file or directory\n"),
    ),
    # -- unit_settings --------------------------------------------------------------------
    case(checks.unit_settings, "the plan's unit", passes()),
    case(
        checks.unit_settings,
        "unit file world-writable",
        fails(f"{UNIT_PATH}: mode 666 is group/world-writable"),
        UnitFiles={UNIT_PATH: FileState(True, "root:root", 0o666, "[Service]\n")},
    ),
    case(
        checks.unit_settings,
        "drop-in owned by another user",
        fails(f"{DROPIN}: owner ollama:ollama (want root)"),
        UnitFiles={
            UNIT_PATH: "[Service]\n",
            DROPIN: FileState(True, "ollama:ollama", 0o644, "[Service]\n"),
        },
    ),
    case(
        checks.unit_settings,
        "not loaded",
        fails("LoadState=not-found", "ollama.service is installed (LoadState=loaded)"),
        UnitState=UnitState.parse(0, samples.UNIT_SHOW_MISSING),
    ),
    case(checks.unit_settings, "no answer", fails("LoadState=?"), UnitState=UnitState({})),
    case(
        checks.unit_settings,
        "ExecStart of a unit not started yet",
        passes(),
        UnitState=unit(ExecStart=samples.EXEC_START_IDLE),
    ),
    case(
        checks.unit_settings,
        "ExecStart path wrong",
        fails(
            f"ExecStart=/usr/bin/other as {BINARY} serve (want {BINARY} serve)",
            "the plan's [Service] settings in effect",
        ),
        UnitState=unit(ExecStart=exec_start("/usr/bin/other", f"{BINARY} serve")),
    ),
    case(
        checks.unit_settings,
        "argv wrong",
        fails(f"ExecStart={BINARY} run llama3 (want {BINARY} serve)"),
        UnitState=unit(ExecStart=exec_start(BINARY, f"{BINARY} run llama3")),
    ),
    case(
        checks.unit_settings,
        "no ExecStart",
        fails(f"ExecStart=(none) (want {BINARY} serve)"),
        UnitState=unit(ExecStart=""),
    ),
    case(
        checks.unit_settings,
        "OLLAMA_HOST loopback",
        fails(f"OLLAMA_HOST=127.0.0.1:11434 from {LOADED} (want 0.0.0.0:11434)"),
        **ollama_host("127.0.0.1:11434"),
    ),
    case(
        checks.unit_settings,
        "OLLAMA_HOST unset",
        fails(f"{NO_HOST} (want 0.0.0.0:11434)"),
        UnitState=unit(Environment=""),
        MainProcessEnv=None,
    ),
    case(
        checks.unit_settings,
        "OLLAMA_HOST wrong port",
        fails(f"OLLAMA_HOST=0.0.0.0:8080 from {LOADED} (want 0.0.0.0:11434)"),
        **ollama_host("0.0.0.0:8080"),
    ),
    case(checks.unit_settings, "OLLAMA_HOST 0.0.0.0 bare", passes(), **ollama_host("0.0.0.0")),
    case(checks.unit_settings, "OLLAMA_HOST :11434", passes(), **ollama_host(":11434")),
    case(checks.unit_settings, "OLLAMA_HOST [::]:11434", passes(), **ollama_host("[::]:11434")),
    case(
        checks.unit_settings,
        "OLLAMA_HOST http://0.0.0.0:11434",
        passes(),
        **ollama_host("http://0.0.0.0:11434"),
    ),
    case(
        checks.unit_settings,
        "Restart",
        fails("Restart=on-failure (want always)"),
        UnitState=unit(Restart="on-failure"),
    ),
    case(
        checks.unit_settings,
        "RestartSec",
        fails("RestartSec=100ms (want 3s)"),
        UnitState=unit(RestartUSec="100ms"),
    ),
    case(
        checks.unit_settings,
        "User",
        fails("User=ollama (want root)"),
        UnitState=unit(User="ollama"),
    ),
    case(
        checks.unit_settings,
        "User unset",
        fails("User=(unset) (want root)"),
        UnitState=unit(User=""),
    ),
    case(
        checks.unit_settings,
        "Group",
        fails("Group=ollama (want root)"),
        UnitState=unit(Group="ollama"),
    ),
    case(
        checks.unit_settings,
        "NeedDaemonReload",
        fails("NeedDaemonReload=yes: the unit changed on disk, systemd runs the old one"),
        UnitState=unit(NeedDaemonReload="yes"),
    ),
    case(
        checks.unit_settings,
        "running process env differs",
        fails("the running process has OLLAMA_HOST=127.0.0.1:11434"),
        MainProcessEnv={"OLLAMA_HOST": "127.0.0.1:11434"},
    ),
    case(checks.unit_settings, "no process", passes(), MainProcessEnv=None),
    case(
        checks.unit_settings,
        "running process lacks OLLAMA_HOST",
        fails(f"the running process has OLLAMA_HOST=(unset), {RESTART_PLAN}"),
        MainProcessEnv={},
    ),
    case(
        checks.unit_settings,
        "running process binds the same socket",
        passes(),
        MainProcessEnv={"OLLAMA_HOST": "http://[::]:11434"},
    ),
    # Where a value in force comes from, beyond the unit's own Environment= (issue 26).
    case(
        checks.unit_settings,
        "EnvironmentFile wins over Environment=",
        fails(
            "OLLAMA_HOST=127.0.0.1:11434 from /etc/default/ollama:2 (EnvironmentFile= of "
            f"{DROPIN}:2) (want 0.0.0.0:11434)"
        ),
        **env_file_loaded(running="127.0.0.1:11434"),
    ),
    case(
        checks.unit_settings,
        "EnvironmentFile changed since the start",
        fails(
            "the running process has OLLAMA_HOST=0.0.0.0:11434, a restart would start it with "
            "OLLAMA_HOST=127.0.0.1:11434 from /etc/default/ollama:2"
        ),
        **env_file_loaded(running="0.0.0.0:11434"),
    ),
    case(
        checks.unit_settings,
        "an `export` line in an EnvironmentFile is no assignment systemd reads",
        passes(f"drop-ins in effect: {DROPIN}"),
        **env_file_loaded("0.0.0.0:11434", "export OLLAMA_HOST=127.0.0.1:11434\n"),
    ),
    case(
        checks.unit_settings,
        "a line after a comment ending in a backslash is comment before systemd 254",
        passes(f"drop-ins in effect: {DROPIN}"),
        **env_file_loaded("0.0.0.0:11434", COMMENT_THEN_HOST, version=252),
    ),
    case(
        checks.unit_settings,
        "a line after a comment ending in a backslash is read from systemd 254 on",
        fails(
            "the running process has OLLAMA_HOST=0.0.0.0:11434, a restart would start it with "
            "OLLAMA_HOST=127.0.0.1:11434 from /etc/default/ollama:2"
        ),
        **env_file_loaded("0.0.0.0:11434", COMMENT_THEN_HOST, version=255),
    ),
    case(
        checks.unit_settings,
        "a value continued over lines in an EnvironmentFile",
        fails(
            "OLLAMA_HOST=127.0.0.1:11434 from /etc/default/ollama:2 (EnvironmentFile= of "
            f"{DROPIN}:2) (want 0.0.0.0:11434)"
        ),
        **env_file_loaded("127.0.0.1:11434", "# x\nOLLAMA_HOST=127.0.0.1\\\n:11434\n"),
    ),
    case(
        checks.unit_settings,
        "UnsetEnvironment= in a drop-in",
        fails(
            f"OLLAMA_HOST=(unset) from UnsetEnvironment=OLLAMA_HOST in {DROPIN}:2 "
            "(want 0.0.0.0:11434)"
        ),
        UnitState=unit(DropInPaths=DROPIN),
        UnitFiles={UNIT_PATH: UNIT_TEXT, DROPIN: "[Service]\nUnsetEnvironment=OLLAMA_HOST\n"},
        MainProcessEnv=env_fact({}, UnsetEnvironment="OLLAMA_HOST"),
    ),
    case(
        checks.unit_settings,
        "UnsetEnvironment= of another value",
        passes(f"drop-ins in effect: {DROPIN}"),
        UnitState=unit(DropInPaths=DROPIN),
        UnitFiles={UNIT_PATH: UNIT_TEXT, DROPIN: "[Service]\nUnsetEnvironment=OLLAMA_HOST=x\n"},
        MainProcessEnv=env_fact({"OLLAMA_HOST": "0.0.0.0:11434"}, UnsetEnvironment="OLLAMA_HOST=x"),
    ),
    case(
        checks.unit_settings,
        "the manager's DefaultEnvironment= with the unit silent",
        fails(
            "OLLAMA_HOST=127.0.0.1:11434 from DefaultEnvironment= in /etc/systemd/system.conf:60"
        ),
        UnitState=unit(Environment=""),
        MainProcessEnv=env_fact(
            {"OLLAMA_HOST": "127.0.0.1:11434"},
            manager={"OLLAMA_HOST": "127.0.0.1:11434"},
            conf=(
                ("/etc/systemd/system.conf", 60, "DefaultEnvironment=OLLAMA_HOST=127.0.0.1:11434"),
            ),
        ),
    ),
    case(
        checks.unit_settings,
        "set-environment loses to the unit's Environment=",
        passes(),
        MainProcessEnv=env_fact(
            {"OLLAMA_HOST": "0.0.0.0:11434"}, manager={"OLLAMA_HOST": "127.0.0.1:11434"}
        ),
    ),
    case(
        checks.unit_settings,
        "PassEnvironment= with the unit silent",
        fails(f"OLLAMA_HOST=127.0.0.1 from PID 1's environment, passed by {DROPIN}:2"),
        UnitState=unit(Environment="", DropInPaths=DROPIN),
        UnitFiles={UNIT_PATH: UNIT_TEXT, DROPIN: "[Service]\nPassEnvironment=OLLAMA_HOST\n"},
        MainProcessEnv=env_fact(
            {"OLLAMA_HOST": "127.0.0.1"},
            PassEnvironment="OLLAMA_HOST",
            pid1={"OLLAMA_HOST": "127.0.0.1"},
        ),
    ),
    case(
        checks.unit_settings,
        "a service.d drop-in for every service",
        fails(f"OLLAMA_HOST=127.0.0.1:11434 from {ALL_SERVICES_DROPIN}:2"),
        UnitState=unit(Environment="OLLAMA_HOST=127.0.0.1:11434", DropInPaths=ALL_SERVICES_DROPIN),
        UnitFiles={UNIT_PATH: UNIT_TEXT, ALL_SERVICES_DROPIN: LOOPBACK_DROPIN_TEXT},
        MainProcessEnv={"OLLAMA_HOST": "127.0.0.1:11434"},
    ),
    case(
        checks.unit_settings,
        "drop-ins noted",
        passes(f"drop-ins in effect: {DROPIN}"),
        UnitState=unit(DropInPaths=DROPIN),
    ),
    case(
        checks.unit_settings,
        "drop-ins noted on a failure",
        fails(
            "User=ollama (want root); Group=ollama (want root)",
            notes=(f"drop-ins in effect: {DROPIN} /run/x.conf",),
        ),
        UnitState=unit(DropInPaths=f"{DROPIN} /run/x.conf", User="ollama", Group="ollama"),
    ),
    # -- unit_enabled ---------------------------------------------------------------------
    case(checks.unit_ordering, "the plan's unit", passes()),
    case(
        checks.unit_ordering,
        "no After= line",
        fails("After=(none)", "After=network-online.target"),
        UnitFiles={UNIT_PATH: UNIT_TEXT.replace("After=network-online.target\n", "")},
    ),
    case(
        checks.unit_ordering,
        "a drop-in clears it",
        fails("After=(none)"),
        UnitFiles={UNIT_PATH: UNIT_TEXT, DROPIN: "[Unit]\nAfter=\n"},
    ),
    case(
        checks.unit_ordering,
        "cleared, then set again by a later drop-in",
        passes(),
        UnitFiles={
            UNIT_PATH: UNIT_TEXT.replace("After=network-online.target\n", "After=\n"),
            DROPIN: "[Unit]\nAfter=network.target network-online.target\n",
        },
    ),
    case(checks.unit_ordering, "no unit file", fails("no unit file"), UnitFiles={}),
    case(checks.unit_enabled, "enabled", passes()),
    case(checks.unit_enabled, "disabled", fails("disabled", "enabled"), UnitEnabled="disabled"),
    case(checks.unit_enabled, "masked", fails("masked"), UnitEnabled="masked"),
    case(checks.unit_enabled, "no answer", fails("(no answer)"), UnitEnabled=""),
    # -- unit_active ----------------------------------------------------------------------
    case(checks.unit_active, "running", passes()),
    case(
        checks.unit_active,
        "not loaded",
        fails("LoadState=not-found", "ollama.service is installed (LoadState=loaded)"),
        UnitState=unit(LoadState="not-found"),
    ),
    case(
        checks.unit_active,
        "inactive, systemd silent",
        fails(
            "inactive (dead), restarted 0 times by Restart=; "
            "systemd says: no messages from systemd",
            "active (running)",
        ),
        UnitState=unit(ActiveState="inactive", SubState="dead", MainPID="0"),
        UnitHistory=UnitHistory(()),
    ),
    case(
        checks.unit_active,
        "activating (auto-restart)",
        fails("activating (auto-restart)", "active (running)"),
        UnitState=unit(ActiveState="activating", SubState="auto-restart", MainPID="0"),
    ),
    case(
        checks.unit_active,
        "failed: its last exit and systemd's last messages",
        fails(
            f"failed (failed), last exit: exited, status 1, restarted 5 times by Restart=; "
            f"systemd says: {EXITED}; {SCHEDULED}; {START}"
        ),
        UnitState=unit(
            ActiveState="failed",
            SubState="failed",
            NRestarts="5",
            ExecMainCode="1",
            ExecMainStatus="1",
        ),
        UnitHistory=BY_RESTART,
    ),
    case(
        checks.unit_active,
        "crash loop: NRestarts, journal silent, started 5s ago",
        fails("restarted with NRestarts=2, journal silent 5s ago (2 restarts)", CRASH_NOTE),
        UnitState=started(2, 5),
    ),
    case(
        checks.unit_active,
        "crash loop: started 29s ago",
        fails("29s ago"),
        UnitState=started(1, 29),
    ),
    case(
        checks.unit_active,
        "crash loop: Restart= brought it back, counter not counted yet",
        fails(f"restarted by Restart= 5s ago (0 restarts); systemd says: {EXITED}", CRASH_NOTE),
        UnitState=started(0, 5),
        UnitHistory=BY_RESTART,
    ),
    case(
        checks.unit_active,
        "crash loop: the last exit shown",
        fails("restarted by Restart= 5s ago, last exit: killed, status 9 (3 restarts)"),
        UnitState=started(3, 5, ExecMainCode="2", ExecMainStatus="9"),
        UnitHistory=BY_RESTART,
    ),
    case(
        checks.unit_active,
        "restarted by a job 5s ago after crashes",
        passes(),
        UnitState=started(3, 5),
        UnitHistory=BY_JOB,
    ),
    case(
        checks.unit_active,
        "brought back by Restart= 40s ago: healed",
        passes("restarted by Restart= after a crash, up for 40s since"),
        UnitState=started(1, 40),
        UnitHistory=BY_RESTART,
    ),
    case(checks.unit_active, "restarted, started 30s ago", passes(), UnitState=started(1, 30)),
    case(checks.unit_active, "restarted, started 40s ago", passes(), UnitState=started(3, 40)),
    case(checks.unit_active, "no restarts, started 5s ago", passes(), UnitState=started(0, 5)),
    case(checks.unit_active, "restarted, start unknown", passes(), UnitState=started(3, None)),
    # -- journal_clean --------------------------------------------------------------------
    case(checks.journal_clean, "listening, no errors", passes()),
    case(
        checks.journal_clean,
        "no invocation",
        fails("no invocation of the unit", "a recorded start"),
        Journal=Journal.parse(1, "no invocation of the unit"),
    ),
    case(
        checks.journal_clean,
        "error lines",
        fails(
            "2 error lines, first: Error: listen tcp 0.0.0.0:11434: bind: address already in use",
            "no bind/panic/permission errors",
        ),
        Journal=Journal.parse(0, samples.JOURNAL_BIND + samples.JOURNAL_PANIC),
    ),
    case(
        checks.journal_clean,
        "permission denied, though listening",
        fails("1 error lines, first: time="),
        Journal=Journal.parse(0, samples.JOURNAL_OK + samples.JOURNAL_PERMISSION),
    ),
    case(
        checks.journal_clean,
        "no Listening line",
        fails("no such line since the last start", "a `Listening on ...` line"),
        Journal=Journal(True, False, ()),
    ),
    # -- listener -------------------------------------------------------------------------
    case(checks.listener, "*", passes("listener *:11434: dual stack")),
    case(
        checks.listener,
        "0.0.0.0",
        passes("listener 0.0.0.0:11434: ipv4 stack"),
        Listeners=Listeners.parse(0, samples.SS_V4),
    ),
    case(
        checks.listener,
        "[::]",
        passes("listener [::]:11434: ipv6 stack"),
        Listeners=Listeners.parse(0, samples.SS_V6),
    ),
    case(
        checks.listener,
        "nothing",
        fails("nothing listens on 11434", "a listener on port 11434"),
        Listeners=(),
    ),
    case(
        checks.listener,
        "loopback only",
        fails("127.0.0.1:11434, [::1]:11434", "11434 on all interfaces (0.0.0.0, * or [::])"),
        Listeners=Listeners.parse(0, f"{samples.SS_LO4}\n{samples.SS_LO6_SCOPED}"),
    ),
    case(
        checks.listener,
        "wide but another pid",
        fails("pids [999]", f"owned by the unit's MainPID {MAIN_PID}"),
        Listeners=(Listener("*", 11434, (999,)),),
    ),
    case(
        checks.listener,
        "wide, no process shown",
        fails("pids []"),
        Listeners=Listeners.parse(0, samples.SS_NO_PROCESS),
    ),
    case(
        checks.listener,
        "loopback and wide of the unit",
        passes("listener 127.0.0.1:11434, 0.0.0.0:11434: ipv4 stack"),
        Listeners=(LOOPBACK, Listener("0.0.0.0", 11434, (MAIN_PID,))),
    ),
    # -- direct_api -----------------------------------------------------------------------
    case(checks.direct_api, "two models", passes("2 models: llama3.2:1b, qwen2.5:0.5b")),
    case(checks.direct_api, "no models", passes("0 models: none"), DirectTags=tags()),
    case(
        checks.direct_api,
        "no reply",
        fails("no HTTP reply", "200 JSON {models: [...]}"),
        DirectTags=None,
    ),
    case(
        checks.direct_api,
        "500",
        fails("status 500, expected 200"),
        DirectTags=HttpReply(500, "application/json", '{"error": "boom"}'),
    ),
    case(
        checks.direct_api,
        "non-JSON",
        fails("content type 'text/html', expected JSON; body is not JSON"),
        DirectTags=HttpReply(200, "text/html", samples.NGINX_502),
    ),
    case(
        checks.direct_api,
        "JSON type, body not JSON",
        fails("body is not JSON"),
        DirectTags=HttpReply(200, "application/json", "Ollama is running"),
    ),
    case(
        checks.direct_api,
        "no models list",
        fails('no "models" list in the body'),
        DirectTags=HttpReply(200, "application/json", '{"error": "x"}'),
    ),
    case(
        checks.direct_api,
        "model lacks keys",
        fails("models[0] lacks digest, details.quantization_level"),
        DirectTags=tags(model(digest=None, details=PARTIAL_DETAILS)),
    ),
    case(
        checks.direct_api,
        "model not an object",
        fails("models[1] is not an object"),
        DirectTags=HttpReply(200, "application/json", '{"models": [{}, "llama3"]}'),
    ),
    # -- site_file ------------------------------------------------------------------------
    case(checks.site_file, "the plan's site", passes(IP_NOTE)),
    case(
        checks.site_file,
        "missing",
        fails("it does not exist", f"{SITE_FILE} exists"),
        SiteConfig=MISSING_SITE,
    ),
    case(
        checks.site_file,
        "world-writable",
        fails("mode 666 is group/world-writable", "the plan's site, placeholders filled in"),
        SiteConfig=site_state(mode=0o666),
    ),
    case(
        checks.site_file,
        "owner not root",
        fails("owner www-data:www-data (want root)"),
        SiteConfig=site_state(owner="www-data:www-data"),
    ),
    case(
        checks.site_file,
        "unbalanced brace",
        fails("unreadable: line 22: unexpected `}`"),
        SiteConfig=site_state(SITE_TEXT + "}\n"),
    ),
    case(
        checks.site_file,
        "placeholder",
        fails("placeholders left: <LXC_955_IP>"),
        SiteConfig=site_state(site_text(f"{CT_IP}:11434", "<LXC_955_IP>:11434")),
    ),
    case(
        checks.site_file,
        "server_name",
        fails(f"server_name pve.example.com (want {HOST})"),
        SiteConfig=site_state(site_text(f"server_name {HOST};", "server_name pve.example.com;")),
    ),
    case(
        checks.site_file,
        "no server_name",
        fails(f"server_name (none) (want {HOST})"),
        SiteConfig=site_state(site_text(f"server_name {HOST};", "")),
    ),
    case(
        checks.site_file,
        "server_name setting",
        fails(f"server_name {HOST} (want ollama.lan)"),
        site=SITE_NAMED,
    ),
    case(
        checks.site_file,
        "listen 8080",
        fails("listen 8080 (want 80)"),
        SiteConfig=site_state(site_text("listen 80;", "listen 8080;")),
    ),
    case(
        checks.site_file,
        "no listen (nginx's default 80)",
        passes(IP_NOTE),
        SiteConfig=site_state(site_text("listen 80;", "")),
    ),
    case(
        checks.site_file,
        "listen only on a unix socket",
        fails("listen unix:/run/ollama.sock (want 80)"),
        SiteConfig=site_state(site_text("listen 80;", "listen unix:/run/ollama.sock;")),
    ),
    case(
        checks.site_file,
        "no location",
        fails("no `location /ollama/` block"),
        SiteConfig=site_state(site_text("location /ollama/ {", "location /llm/ {")),
    ),
    case(
        checks.site_file,
        "no rewrite",
        fails("no `rewrite ^/ollama/(.*)$ /$1 break;` in it"),
        SiteConfig=site_state(site_text("rewrite ^/ollama/(.*)$ /$1 break;", "")),
    ),
    case(
        checks.site_file,
        "proxy_pass wrong IP",
        fails(
            "proxy_pass http://10.0.3.99:11434",
            f"proxy_pass http://{CT_IP}:11434",
            notes=(IP_NOTE,),
        ),
        SiteConfig=site_state(site_text(f"http://{CT_IP}:11434", "http://10.0.3.99:11434")),
    ),
    case(
        checks.site_file,
        "proxy_pass wrong port",
        fails(f"proxy_pass http://{CT_IP}:8080"),
        SiteConfig=site_state(site_text(f"http://{CT_IP}:11434", f"http://{CT_IP}:8080")),
    ),
    case(
        checks.site_file,
        "no proxy_pass",
        fails("proxy_pass -"),
        SiteConfig=site_state(site_text(f"proxy_pass http://{CT_IP}:11434;", "")),
    ),
    case(
        checks.site_file,
        "ct_ip setting differs from the site",
        fails(
            f"proxy_pass http://{CT_IP}:11434",
            "proxy_pass http://10.0.3.99:11434",
            notes=("container IP 10.0.3.99: setting ollama_ct_ip",),
        ),
        site=SITE_WITH_IP,
    ),
    case(
        checks.site_file,
        "CT not running: skipped",
        skips("CT 955 not running: its IP cannot be compared"),
        CtStatus="stopped",
    ),
    case(
        checks.site_file,
        "CT not running, ct_ip setting: judged",
        passes("container IP 10.0.3.99: setting ollama_ct_ip"),
        site=SITE_WITH_IP,
        CtStatus="stopped",
        SiteConfig=site_state(site_text(f"http://{CT_IP}:11434", "http://10.0.3.99:11434")),
    ),
    case(
        checks.site_file,
        "CT not running, content wrong: fails",
        fails("listen 8080 (want 80)"),
        CtStatus="stopped",
        SiteConfig=site_state(site_text("listen 80;", "listen 8080;")),
    ),
    case(
        checks.site_file,
        "CT IP unknown",
        fails("no IPv4 address found in the CT", "the CT's IPv4, to compare with proxy_pass"),
        CtAddresses=(),
    ),
    # -- proxy_headers --------------------------------------------------------------------
    case(checks.proxy_headers, "the plan's headers and HTTP/1.1", passes()),
    case(
        checks.proxy_headers,
        "header names in lower case",
        passes(),
        SiteConfig=site_state(site_text("proxy_set_header Host", "proxy_set_header host")),
    ),
    case(
        checks.proxy_headers,
        "no site",
        fails("none in the site", "a `location /ollama/` block"),
        SiteConfig=MISSING_SITE,
    ),
    case(
        checks.proxy_headers,
        "no location /ollama/",
        fails("none in the site"),
        SiteConfig=site_state(site_text("location /ollama/ {", "location /llm/ {")),
    ),
    case(
        checks.proxy_headers,
        "a header missing",
        fails(
            "proxy_set_header X-Forwarded-Proto missing (want '$scheme')",
            "the plan's proxy headers and HTTP version",
            notes=(),
        ),
        SiteConfig=site_state(site_text(PROTO_LINE, "")),
    ),
    case(
        checks.proxy_headers,
        "a header's value wrong",
        fails("proxy_set_header Host '$proxy_host' (want '$host')"),
        SiteConfig=site_state(site_text("Host $host;", "Host $proxy_host;")),
    ),
    case(
        checks.proxy_headers,
        "a missing header and a wrong one",
        fails(
            "proxy_set_header X-Real-IP '$http_x_real_ip' (want '$remote_addr'); "
            "proxy_set_header X-Forwarded-Proto missing (want '$scheme')"
        ),
        SiteConfig=site_state(
            site_text(PROTO_LINE, "", site_text("$remote_addr;", "$http_x_real_ip;"))
        ),
    ),
    case(
        checks.proxy_headers,
        "all set on the server, none in the location: inherited",
        passes(),
        SiteConfig=site_state(ALL_ON_SERVER),
    ),
    case(
        checks.proxy_headers,
        "the server's set lacks one, the location sets none",
        fails(
            "proxy_set_header X-Forwarded-Proto missing (want '$scheme'); "
            "the location sets none: it inherits the server's"
        ),
        SiteConfig=site_state(ALL_ON_SERVER_BUT_PROTO),
    ),
    case(
        checks.proxy_headers,
        "one header on the server, the others in the location: not inherited",
        fails(
            "proxy_set_header X-Forwarded-Proto missing (want '$scheme'); "
            "the location sets its own, so it inherits none of the server's"
        ),
        SiteConfig=site_state(server_sets(PROTO_LINE)),
    ),
    case(
        checks.proxy_headers,
        "no proxy_set_header anywhere",
        fails("proxy_set_header Host missing (want '$host'); proxy_set_header X-Real-IP missing"),
        SiteConfig=site_state(site_text(WS_LINES, "", site_text(HEADER_LINES, ""))),
    ),
    case(
        checks.proxy_headers,
        "no proxy_http_version: nginx speaks 1.0",
        fails("proxy_http_version 1.0 (nginx's default) (want 1.1)"),
        SiteConfig=site_state(site_text("        proxy_http_version 1.1;\n", "")),
    ),
    case(
        checks.proxy_headers,
        "proxy_http_version 1.0",
        fails("proxy_http_version 1.0 (want 1.1)"),
        SiteConfig=site_state(site_text("proxy_http_version 1.1;", "proxy_http_version 1.0;")),
    ),
    case(
        checks.proxy_headers,
        "proxy_http_version from the server",
        passes(),
        SiteConfig=site_state(server_sets("        proxy_http_version 1.1;\n")),
    ),
    case(
        checks.proxy_headers,
        "headers and version both wrong",
        fails(
            "proxy_set_header Connection missing (want 'upgrade'); "
            "proxy_http_version 1.0 (nginx's default) (want 1.1)"
        ),
        SiteConfig=site_state(
            site_text(
                "        proxy_http_version 1.1;\n",
                "",
                site_text('        proxy_set_header Connection "upgrade";\n', ""),
            )
        ),
    ),
    # -- site_enabled ---------------------------------------------------------------------
    case(checks.site_enabled, "link to the site", passes()),
    case(
        checks.site_enabled,
        "relative link to the site",
        passes(),
        SiteLink=link_state(
            "link ../../../usr/local/phoenix_hypervisor/etc/nginx/sites-available/ollama_proxy\n"
        ),
    ),
    case(
        checks.site_enabled,
        "missing",
        fails("missing", f"{SITE_LINK} is a symlink"),
        SiteLink=SiteLink("missing"),
    ),
    case(
        checks.site_enabled,
        "not a link",
        fails("not-a-link"),
        SiteLink=link_state("not-a-link\n"),
    ),
    case(
        checks.site_enabled,
        "wrong target",
        fails("link to /etc/nginx/sites-available/ollama_proxy", f"link to {SITE_FILE}"),
        SiteLink=SiteLink("link", "/etc/nginx/sites-available/ollama_proxy"),
    ),
    case(
        checks.site_enabled,
        "dangling",
        fails("a dangling link", f"link to {SITE_FILE}, which exists"),
        SiteLink=link_state(f"link {SITE_FILE}\ndangling\n"),
    ),
    # -- site_served ----------------------------------------------------------------------
    case(checks.site_served, "our site, next to Debian's default", passes()),
    case(
        checks.site_served,
        "nginx -T fails",
        fails("unreadable: see nginx_valid", "the configuration nginx loads (`nginx -T`)"),
        NginxLoaded=NginxLoaded.parse(1, samples.NGINX_T_BOGUS),
    ),
    case(
        checks.site_served,
        "nginx.conf includes no sites-enabled file",
        fails(
            "nginx.conf includes no file of /etc/nginx/sites-enabled/ "
            "(its includes: /etc/nginx/mime.types, /etc/nginx/conf.d/*.conf)",
            "our site's server block and `location /ollama/` serving the API",
        ),
        NginxLoaded=loaded(main=NO_SITES_CONF),
    ),
    case(
        checks.site_served,
        "nginx.conf includes only *.conf of sites-enabled",
        fails(
            "`include /etc/nginx/sites-enabled/*.conf;` (/etc/nginx/nginx.conf:11) reads "
            f"/etc/nginx/sites-enabled/ but not our link {SITE_LINK}: its glob `*.conf` does "
            "not match the name `ollama_proxy`, so nginx never reads our site",
            "our site's server block and `location /ollama/` serving the API",
        ),
        NginxLoaded=loaded(main=CONF_ONLY_CONF),
    ),
    case(
        checks.site_served,
        "nginx.conf includes one other file of sites-enabled",
        fails("(/etc/nginx/nginx.conf:11) reads /etc/nginx/sites-enabled/ but not our link"),
        NginxLoaded=loaded(main=CONF_ONLY_CONF.replace("*.conf", "default")),
    ),
    case(
        checks.site_served,
        "nginx.conf includes nothing",
        fails("(its includes: none)"),
        NginxLoaded=loaded(main=BARE_CONF),
    ),
    case(
        checks.site_served,
        "the link is not there (site_enabled's to fix)",
        fails("nginx does not read it", f"{SITE_LINK} among the files nginx loads"),
        NginxLoaded=loaded(DEFAULT),
    ),
    case(
        checks.site_served,
        "another file claims our server_name first",
        fails(
            f"{COPY_LINK}:1 claims server_name {HOST} on port 80 before our site: nginx "
            "ignores ours (conflicting server name)"
        ),
        NginxLoaded=loaded((COPY_LINK, copy_site()), DEFAULT, OURS),
    ),
    case(
        checks.site_served,
        "a later file claims our server_name too: noted",
        passes(f"also loaded, ignored by nginx: {LATE_COPY_LINK}:1"),
        NginxLoaded=loaded(DEFAULT, OURS, (LATE_COPY_LINK, copy_site())),
    ),
    case(
        checks.site_served,
        "our site names another host: the default server answers",
        fails(f"no server of ours names {HOST} on port 80; {DEFAULT_LINK}:1 answers"),
        NginxLoaded=loaded(
            DEFAULT, (SITE_LINK, site_text(f"server_name {HOST};", "server_name pve.lan;"))
        ),
    ),
    case(
        checks.site_served,
        "nothing listens on port 80",
        fails(f"no server of ours names {HOST} on port 80; nothing answers"),
        NginxLoaded=loaded((SITE_LINK, site_text("listen 80;", "listen 8080;"))),
    ),
    case(
        checks.site_served,
        "another file's location in our server answers the API",
        fails(f"`location /ollama/api/` of {SNIPPET}:1 answers /ollama/api/tags in our server"),
        NginxLoaded=loaded(DEFAULT, (SITE_LINK, WITH_SNIPPET), (SNIPPET, API_LOCATION)),
    ),
    case(
        checks.site_served,
        "another file's regex location in our server answers the API",
        fails(f"`location ~ ^/ollama/api/` of {SNIPPET}:1 answers /ollama/api/tags"),
        NginxLoaded=loaded(
            DEFAULT,
            (SITE_LINK, WITH_SNIPPET),
            (SNIPPET, API_LOCATION.replace("location /ollama/api/", "location ~ ^/ollama/api/")),
        ),
    ),
    case(
        checks.site_served,
        "a location of our own other than /ollama/ answers the API",
        fails(f"`location /ollama/api/` of {SITE_LINK}:"),
        NginxLoaded=loaded(
            DEFAULT, (SITE_LINK, site_text(SERVER_LINE, SERVER_LINE + API_LOCATION))
        ),
    ),
    case(
        checks.site_served,
        "no location of our server answers the API",
        fails(f"no location of {SITE_LINK}:1 answers /ollama/api/tags"),
        NginxLoaded=loaded(
            DEFAULT, (SITE_LINK, site_text("location /ollama/ {", "location /llm/ {"))
        ),
    ),
    # -- proxy_parity ---------------------------------------------------------------------
    case(checks.proxy_parity, "identical", passes()),
    case(
        checks.proxy_parity,
        "same models, other order and charset",
        passes(),
        ProxiedTags=tags(samples.QWEN, samples.LLAMA, ctype="application/json; charset=utf-8"),
    ),
    case(
        checks.proxy_parity,
        "differing models",
        fails(
            "models only in the direct reply: qwen2.5:0.5b",
            f"{TAGS_URL} identical to the direct call",
        ),
        ProxiedTags=tags(samples.LLAMA),
    ),
    case(
        checks.proxy_parity,
        "a model only proxied",
        fails("models only in the proxied reply: qwen2.5:0.5b"),
        DirectTags=tags(samples.LLAMA),
    ),
    case(
        checks.proxy_parity,
        "proxied unreachable",
        fails("proxied reply unusable: no HTTP reply"),
        ProxiedTags=None,
    ),
    case(
        checks.proxy_parity,
        "proxied 502",
        fails("proxied reply unusable: status 502, expected 200"),
        ProxiedTags=HttpReply(502, "text/html", samples.NGINX_502),
    ),
    case(
        checks.proxy_parity,
        "direct unusable",
        fails("direct reply unusable: no HTTP reply"),
        DirectTags=None,
    ),
]

HOST_ROWS = [
    # -- nginx_valid (host-wide) ----------------------------------------------------------
    case(checks.nginx_valid, "ok", passes()),
    case(checks.nginx_valid, "ok with warnings noted", passes(WARNING), NginxTest=NGINX_WARN),
    case(
        checks.nginx_valid,
        "error in our site",
        fails(
            f"{NGINX_EMERG_OURS.error} (in {SITE_LINK}, our site)",
            "syntax is ok, test is successful",
        ),
        NginxTest=NGINX_EMERG_OURS,
    ),
    case(
        checks.nginx_valid,
        "our link dangles",
        fails(f"(in {SITE_LINK}, our site)"),
        NginxTest=NGINX_DANGLING,
    ),
    case(
        checks.nginx_valid,
        "error in another file",
        fails("(in /etc/nginx/sites-enabled/zz, not our site)"),
        NginxTest=NGINX_EMERG_OTHER,
    ),
    case(
        checks.nginx_valid,
        "error naming no file",
        fails("nginx: [emerg] no file named"),
        NginxTest=NginxTest(False, "nginx: [emerg] no file named", "", ()),
    ),
    case(
        checks.nginx_valid,
        "no 'test is successful'",
        fails("no 'test is successful'"),
        NginxTest=NginxTest.parse(0, "nginx: the configuration file syntax is ok\n"),
    ),
    case(
        checks.nginx_valid,
        "failure keeps the warnings",
        fails("(in /etc/nginx/sites-enabled/zz, not our site)", notes=(WARNING,)),
        NginxTest=dataclasses.replace(NGINX_EMERG_OTHER, warnings=NGINX_WARN.warnings),
    ),
    # -- nginx_running (host-wide) --------------------------------------------------------
    case(checks.nginx_running, "running, config older", passes()),
    case(
        checks.nginx_running,
        "not running",
        fails("nginx is not running", "nginx master and workers running"),
        NginxState=nginx_state(running=False),
    ),
    case(
        checks.nginx_running,
        "master without workers",
        fails("nginx is not running"),
        NginxState=NginxState(4242, None, {}),
    ),
    case(
        checks.nginx_running,
        "stale files",
        fails(f"changed: {SITE_LINK}, {SITE_FILE}", "no config change since the workers started"),
        NginxState=nginx_state(changed={SITE_FILE: 1200.0, SITE_LINK: 1100.0}),
    ),
    case(
        checks.nginx_running,
        "changed within the clock's resolution",
        passes(),
        NginxState=nginx_state(changed={SITE_FILE: 1000.04}),
    ),
    case(
        checks.nginx_running,
        "from the state script's output",
        passes(),
        NginxState=NginxState.parse(0, samples.NGINX_STATE_RUNNING),
    ),
]


@pytest.mark.parametrize(("check", "changes", "want"), ROWS)
def test_container_check(check, changes, want):
    want.check(judged(check, changes))


@pytest.mark.parametrize(("check", "changes", "want"), HOST_ROWS)
def test_host_wide_check(check, changes, want):
    """Host-wide checks judged as the fleet judges a host: no container, host facts only."""
    want.check(check(host_subject(**changes)))


@pytest.mark.parametrize(("check", "changes", "want"), HOST_ROWS)
def test_host_wide_check_on_a_container_subject(check, changes, want):
    """The same verdict when a host-wide check is judged on a container's subject."""
    want.check(judged(check, changes))


# -- the hardened profile: rows over the hardened compliant facts ---------------------------

ALLOWED = ("10.0.0.0/8",)
MANAGE_ALLOWED = dataclasses.replace(HARDENED_SETTINGS, manage_from=ALLOWED)
LAN = dataclasses.replace(HARDENED_SETTINGS, exposure_from="netns:lan")
STREAMING = dataclasses.replace(HARDENED_SETTINGS, probe_streaming=True)
OUTDATED = HttpReply(200, "application/json", '{"version":"0.17.0"}')
STREAM = (ProxiedStream, STREAM_MODELS)


def plan_only_site() -> SiteConfig:
    return site_state(SITE_TEXT)


def hardened_site(old: str, new: str) -> SiteConfig:
    """The hardened site with one piece of text replaced."""
    return site_state(site_text(old, new, factsets.HARDENED_SITE_TEXT))


NIC_FIREWALL = PctConfig.parse(0, samples.PCT_CONFIG.replace(",type=veth", ",firewall=1,type=veth"))
PVE_RULES = f"IN ACCEPT -source {BRIDGE_IP} -p tcp -dport 11434\nIN DROP -p tcp -dport 11434\n"


RUNNING = PveFirewallService("enabled/running")
STOPPED = PveFirewallService("enabled/stopped")
NFT_STOPPED = PveFirewallService("enabled/running", "[OPTIONS]\nnftables: 1\n", True, "inactive")
PVE_APPLIED = "applied by pve-firewall (Status: enabled/running)"


def pve(rules: str = PVE_RULES, options: str = "") -> PveFirewall:
    """Proxmox's firewall on for the cluster and CT 955, with these [RULES]."""
    guest = f"[OPTIONS]\nenable: 1\n{options}\n[RULES]\n{rules}"
    return PveFirewall({"cluster.fw": "[OPTIONS]\nenable: 1\n", "955.fw": guest})


def ruleset(
    rules: list[dict[str, Any]], policy: str = "accept", enabled: tuple[str, ...] = ()
) -> CtRuleset:
    """A CT whose only filter is table inet t, chain input (`policy`) with these rules."""
    chain = {"family": "inet", "table": "t", "name": "input", "hook": "input", "prio": 0}
    items: list[dict[str, Any]] = [{"chain": {**chain, "policy": policy}}]
    items += [{"rule": {"family": "inet", "table": "t", "chain": "input", **r}} for r in rules]
    boot = (("/etc/ollama-guard.nft", tuple(items)),) if enabled else ()  # the same at boot
    files = ("/etc/ollama-guard.nft",) if enabled else ()
    return CtRuleset(tuple(items), nft=True, enabled=enabled, boot_files=files, boot=boot)


def version(text: str) -> HttpReply:
    return HttpReply(200, "application/json", text)


OUR_SERVER = f"server {HOST} ({SITE_LINK}:1) on port 80"
ROUTES_NOTE = "Ollama's routes read 2026-12-06: those of 0.21.0: 12 write endpoints"
MANAGE_NOTE = f"{ROUTES_NOTE} refused on {OUR_SERVER}"
SECOND_LINK = "/etc/nginx/sites-enabled/zz-ollama-8081"
SECOND_SERVER = f"""\
server {{
    listen 8081;
    server_name _;
    location / {{
        proxy_pass http://{CT_IP}:11434;
    }}
}}
"""
UPSTREAM_SERVER = """\
upstream ollama_ct {{ server {server}; }}
server {{
    listen 80;
    server_name ollama.lan;
    location /ollama/ {{
        rewrite ^/ollama/(.*)$ /$1 break;
        proxy_pass http://ollama_ct;
    }}
}}
"""
EXACT_PULL = f"""\
    location = /ollama/api/pull {{
        rewrite ^/ollama/(.*)$ /$1 break;
        proxy_pass http://{CT_IP}:11434;
    }}
"""


def loaded_site(text: str) -> NginxLoaded:
    """nginx loading the default site and ours with this text."""
    return loaded((DEFAULT_LINK, DEFAULT_SITE), (SITE_LINK, text))


def loaded_hardened(old: str, new: str, tail: str = "") -> NginxLoaded:
    """The hardened site with one piece of text replaced (and `tail` for its last `}`)."""
    text = site_text(old, new, factsets.HARDENED_SITE_TEXT)
    if tail:
        text = text.rstrip()[:-1] + tail
    return loaded_site(text)


def loaded_with(*sites: tuple[str, str]) -> NginxLoaded:
    """nginx loading the default site, our hardened site, and these."""
    return loaded((DEFAULT_LINK, DEFAULT_SITE), (SITE_LINK, factsets.HARDENED_SITE_TEXT), *sites)


HARDENED_ROWS = [
    # -- version_floor ----------------------------------------------------------------------
    case(checks.version_floor, "current version", passes("Ollama 0.21.0")),
    case(
        checks.version_floor,
        "outdated: every advisory named",
        fails("Ollama 0.17.0: CVE-2026-7020 (affects up to 0.20.2", "no known advisory"),
        DirectVersion=OUTDATED,
        ProxiedVersion=OUTDATED,
    ),
    case(
        checks.version_floor,
        "between the two advisories",
        fails("Ollama 0.18.0: CVE-2026-7020"),
        DirectVersion=version('{"version":"0.18.0"}'),
        ProxiedVersion=version('{"version":"0.18.0"}'),
    ),
    case(
        checks.version_floor,
        "no direct reply",
        fails("no version", "127.0.0.1:11434/api/version answers {version}"),
        DirectVersion=None,
    ),
    case(
        checks.version_floor,
        "proxied differs",
        fails("0.17.0", f"http://{HOST}/ollama/api/version says 0.21.0 too"),
        ProxiedVersion=OUTDATED,
    ),
    case(
        checks.version_floor,
        "proxied no reply",
        fails("no version", "says 0.21.0 too"),
        ProxiedVersion=None,
    ),
    case(
        checks.version_floor,
        "direct 500",
        fails("no version"),
        DirectVersion=HttpReply(500, "application/json", '{"version":"0.21.0"}'),
    ),
    case(
        checks.version_floor,
        "not JSON",
        fails("no version"),
        DirectVersion=HttpReply(200, "text/plain", "nope"),
    ),
    case(
        checks.version_floor,
        "JSON, not an object",
        fails("no version"),
        DirectVersion=version('["0.21.0"]'),
    ),
    case(
        checks.version_floor,
        "version not a string",
        fails("no version"),
        DirectVersion=version('{"version": 21}'),
    ),
    case(
        checks.version_floor,
        "nested too deep",
        fails("no version"),
        DirectVersion=version("[" * 100000),
    ),
    # -- ct_onboot ----------------------------------------------------------------------------
    case(checks.ct_onboot, "onboot 1", passes()),
    case(
        checks.ct_onboot,
        "onboot missing",
        fails("onboot: 0", "CT 955 onboot: 1"),
        PctConfig=PctConfig.parse(0, samples.PCT_CONFIG.replace("onboot: 1\n", "")),
    ),
    case(checks.ct_onboot, "onboot 0", fails("onboot: 0"), PctConfig={"onboot": "0"}),
    # -- proxy_llm_ready ------------------------------------------------------------------
    case(checks.proxy_llm_ready, "hardened site", passes()),
    case(
        checks.proxy_llm_ready,
        "the plan's site: nginx defaults",
        fails(
            "proxy_read_timeout 60s (default) (want >= 600s); "
            "proxy_send_timeout 60s (default) (want >= 600s); proxy_buffering on (default)",
            "the location's LLM settings",
        ),
        SiteConfig=plan_only_site(),
    ),
    case(
        checks.proxy_llm_ready,
        "short read timeout",
        fails("proxy_read_timeout 1m (want >= 600s)"),
        SiteConfig=hardened_site("proxy_read_timeout 600s", "proxy_read_timeout 1m"),
    ),
    case(
        checks.proxy_llm_ready,
        "unreadable send timeout",
        fails("proxy_send_timeout soon (want >= 600s)"),
        SiteConfig=hardened_site("proxy_send_timeout 600s", "proxy_send_timeout soon"),
    ),
    case(
        checks.proxy_llm_ready,
        "timeout in minutes, long enough",
        passes(),
        SiteConfig=hardened_site("proxy_read_timeout 600s", "proxy_read_timeout 15m"),
    ),
    case(
        checks.proxy_llm_ready,
        "buffering on",
        fails("proxy_buffering on"),
        SiteConfig=hardened_site("proxy_buffering off", "proxy_buffering on"),
    ),
    case(
        checks.proxy_llm_ready,
        "uploads allowed need an unlimited body",
        fails("client_max_body_size 10m (want 0: model uploads are allowed)"),
        settings=MANAGE_ALLOWED,
        SiteConfig=hardened_site("client_max_body_size 0", "client_max_body_size 10m"),
    ),
    case(
        checks.proxy_llm_ready,
        "uploads allowed, nginx's default body size",
        fails("client_max_body_size 1m (default) (want 0"),
        settings=MANAGE_ALLOWED,
        SiteConfig=hardened_site("        client_max_body_size 0;\n", ""),
    ),
    case(
        checks.proxy_llm_ready,
        "uploads allowed, unlimited body",
        passes(),
        settings=MANAGE_ALLOWED,
    ),
    case(
        checks.proxy_llm_ready,
        "no uploads allowed: the body size does not matter",
        passes(),
        SiteConfig=hardened_site("client_max_body_size 0", "client_max_body_size 10m"),
    ),
    # -- manage_closed --------------------------------------------------------------------
    case(checks.manage_closed, "every write refused, reads served", passes(MANAGE_NOTE)),
    case(
        checks.manage_closed,
        "the plan's site: every write endpoint reaches the CT",
        fails(
            "POST /ollama/api/pull, POST /ollama/api/push, POST /ollama/api/create, "
            "POST /ollama/api/blobs/:digest, HEAD /ollama/api/blobs/:digest, POST /ollama/api/copy,"
            " DELETE /ollama/api/delete, POST /ollama/api/me, POST /ollama/api/signout, "
            "DELETE /ollama/api/user/keys/:encodedKey, POST /ollama/api/experimental/web_search,"
            " POST /ollama/api/experimental/web_fetch reach the CT through location /ollama/ "
            f"({SITE_LINK}:5) of {OUR_SERVER} from any address",
            "Ollama's write endpoints refused by nginx except from nobody",
            notes=(ROUTES_NOTE,),
        ),
        NginxLoaded=loaded_site(SITE_TEXT),
    ),
    case(
        checks.manage_closed,
        "the networks allowed to manage are refused too",
        fails("POST /ollama/api/pull, ", "the networks allowed to manage (10.0.0.0/8) reach"),
        settings=MANAGE_ALLOWED,
    ),
    case(
        checks.manage_closed,
        "the site allows networks the setting does not",
        fails(f"of {OUR_SERVER} from 10.0.0.0/8", "refused by nginx except from nobody"),
        NginxLoaded=loaded_site(render.site(HOST, CT_IP, (600, ALLOWED))),
    ),
    case(
        checks.manage_closed,
        "a write endpoint slipped into the read allow-list",
        fails("POST /ollama/api/copy reaches the CT through location ~ ^/ollama/(|api/copy|"),
        NginxLoaded=loaded_hardened("^/ollama/(|", "^/ollama/(|api/copy|"),
    ),
    case(
        checks.manage_closed,
        "an exact-match write location beside the guard (nginx picks it before any regex)",
        fails(
            f"POST /ollama/api/pull reaches the CT through location = /ollama/api/pull "
            f"({SITE_LINK}:5) of {OUR_SERVER} from any address"
        ),
        NginxLoaded=loaded_hardened(
            "    location /ollama/ {", EXACT_PULL + "    location /ollama/ {"
        ),
    ),
    case(
        checks.manage_closed,
        "limit_except GET as the only guard lets HEAD through (GET names HEAD too)",
        fails("HEAD /ollama/api/blobs/:digest reaches the CT through location /ollama/ "),
        NginxLoaded=loaded_site(
            site_text(
                "        proxy_http_version 1.1;\n",
                "        proxy_http_version 1.1;\n        limit_except GET { deny all; }\n",
            )
        ),
    ),
    case(
        checks.manage_closed,
        "a refusal handed by error_page to a named location that proxies to the CT",
        fails("POST /ollama/api/pull, ", "except from nobody"),
        NginxLoaded=loaded_hardened(
            "        deny all;\n        location ~",
            "        deny all;\n        error_page 403 = @ct;\n        location ~",
            f"    location @ct {{\n        proxy_pass http://{CT_IP}:11434;\n    }}\n}}\n",
        ),
    ),
    case(
        checks.manage_closed,
        "a second server on another port proxies the raw paths",
        fails(
            "POST /api/experimental/web_search, POST /api/experimental/web_fetch reach the CT "
            f"through location / ({SECOND_LINK}:4) of server _ ({SECOND_LINK}:1) on port 8081 "
            "from any address"
        ),
        NginxLoaded=loaded_with((SECOND_LINK, SECOND_SERVER)),
    ),
    case(
        checks.manage_closed,
        "a second server on port 80 under another name, through an upstream",
        fails(
            f"reach the CT through location /ollama/ ({SECOND_LINK}:5) of server ollama.lan "
            f"({SECOND_LINK}:2) on port 80 from any address"
        ),
        NginxLoaded=loaded_with((SECOND_LINK, UPSTREAM_SERVER.format(server=f"{CT_IP}:11434"))),
    ),
    case(
        checks.manage_closed,
        "a copy of our server nginx ignores (its name claimed first, not the default): judged"
        " only where nginx chooses it",
        passes(MANAGE_NOTE),
        NginxLoaded=loaded_with(("/etc/nginx/sites-enabled/zz-copy", SITE_TEXT)),
    ),
    case(
        checks.manage_closed,
        "a stream server proxying to the CT passes every request",
        fails(
            f"every request reaches the CT through proxy_pass {CT_IP}:11434 "
            "(/etc/nginx/nginx.conf:16) of the stream server /etc/nginx/nginx.conf:14 on port "
            "9000 from any address"
        ),
        NginxLoaded=loaded(
            (DEFAULT_LINK, DEFAULT_SITE),
            (SITE_LINK, factsets.HARDENED_SITE_TEXT),
            main=NGINX_CONF
            + f"stream {{\n    server {{\n        listen 9000;\n        proxy_pass {CT_IP}:11434;"
            "\n    }\n}\n",
        ),
    ),
    case(
        checks.manage_closed,
        "an `if` in our server block: not judged",
        skips(
            f"not judged: POST /ollama/api/pull on {OUR_SERVER}: an `if ($request_method = POST)` "
            f"({SITE_LINK}:5) in the server block"
        ),
        NginxLoaded=loaded_hardened(
            "    location /ollama/ {",
            "    if ($request_method = POST) { return 403; }\n    location /ollama/ {",
        ),
    ),
    case(
        checks.manage_closed,
        "an upstream of host names: not judged",
        skips(
            "not judged: POST /ollama/api/pull on server ollama.lan "
            f"({SECOND_LINK}:2) on port 80: proxied by `location /ollama/` ({SECOND_LINK}:5) to "
            "http://ollama_ct, which may be the CT"
        ),
        NginxLoaded=loaded_with((SECOND_LINK, UPSTREAM_SERVER.format(server="ollama.lan:11434"))),
    ),
    case(
        checks.manage_closed,
        "a proxy_pass with a variable: not judged",
        skips(
            f"not judged: POST /ollama/api/pull on server _ ({SECOND_LINK}:1) on port 8081: "
            f"`location /` ({SECOND_LINK}:4): proxy_pass http://$ct (a variable: the upstream URI"
            " is not known)"
        ),
        NginxLoaded=loaded_with(
            (SECOND_LINK, SECOND_SERVER.replace(f"http://{CT_IP}:11434", "http://$ct"))
        ),
    ),
    case(
        checks.manage_closed,
        "nginx -T unreadable: not judged",
        skips("not judged: nginx -T shows no configuration (see nginx_valid)"),
        NginxLoaded=NginxLoaded.parse(1, "nginx: [emerg] unknown directive\n"),
    ),
    case(
        checks.manage_closed,
        "a version newer than the table: judged with main's routes, saying so",
        passes(
            "Ollama's routes read 2026-12-06: 0.40.0 is newer than the newest release read "
            "(v0.32.15), so main's (main (fb3076099, 2026-08-21)): 12 write endpoints refused on "
            f"{OUR_SERVER}"
        ),
        DirectVersion=version('{"version":"0.40.0"}'),
    ),
    case(
        checks.manage_closed,
        "allowed networks as set: no refusal to prove from here",
        passes(MANAGE_NOTE),
        settings=MANAGE_ALLOWED,
        NginxLoaded=loaded_site(render.site(HOST, CT_IP, (600, ALLOWED))),
        ProxiedDelete=None,
    ),
    case(
        checks.manage_closed,
        "the write reaches Ollama",
        fails("status 400", f"DELETE http://{HOST}/ollama/api/delete refused by nginx (403)"),
        ProxiedDelete=HttpReply(400, "application/json", '{"error":"model is required"}'),
    ),
    case(
        checks.manage_closed,
        "the write gets no reply",
        fails("status no reply", "refused by nginx (403)"),
        ProxiedDelete=None,
    ),
    case(
        checks.manage_closed,
        "reads broken",
        fails("status 502", "api/ps still answers"),
        ProxiedPs=HttpReply(502, "text/html", "bad gateway"),
    ),
    case(
        checks.manage_closed,
        "reads get no reply",
        fails("status -", "api/ps still answers"),
        ProxiedPs=None,
    ),
    case(
        checks.manage_closed,
        "no server proxies to the CT",
        fails("no server proxies to it"),
        NginxLoaded=loaded((DEFAULT_LINK, DEFAULT_SITE)),
    ),
    # -- exposure ---------------------------------------------------------------------------
    # From the host itself (no live try: the host may connect): judged from the filters.
    case(
        checks.exposure,
        "the guard closes both families now and at boot",
        passes_saying(
            f"IPv4 to {CT_IP}:11434: every client dropped (inet ollama_guard/input rule 4"
            " `tcp dport 11434 reject with tcp reset`)",
            f"IPv6 to [{CT_LINK_LOCAL}]:11434: every client dropped (inet ollama_guard/input"
            " rule 4",
            "the same at boot: nftables.service load /etc/nftables.conf",
            "no live try: the runner is the Proxmox host, which may connect",
        ),
        host_address="127.0.0.1",
    ),
    case(
        checks.exposure,
        "no nftables in the CT",
        fails(
            f"IPv4: a client such as 10.0.3.2 reaches {CT_IP}:11434 by the rules loaded now"
            " (every IPv4 client (accept: no nftables in the CT: no filter))"
        ),
        host_address="127.0.0.1",
        CtRuleset=CtRuleset(),
    ),
    case(
        checks.exposure,
        "a chain that accepts everything",
        fails("IPv6: a client such as fe80::1 reaches"),
        host_address="127.0.0.1",
        CtRuleset=ruleset([], enabled=("ollama-guard.service",)),
    ),
    case(
        checks.exposure,
        "an IPv4-only guard: IPv6 stays open",
        fails(
            f"IPv6: a client such as fe80::1 reaches [{CT_LINK_LOCAL}]:11434 by the rules loaded"
            " now (every IPv6 client (accept: inet ollama_guard/input: policy accept))"
        ),
        host_address="127.0.0.1",
        CtRuleset=CtRuleset.parse(0, factsets.sample_output(CtRuleset, "ipv4_only_guard")),
    ),
    case(
        checks.exposure,
        "policy drop without the host's accept",
        fails(
            f"the Proxmox host ({BRIDGE_IP}) is dropped on its way to {CT_IP}:11434 by the rules"
            " loaded now (inet t/input: policy drop): the proxy cannot reach the CT"
        ),
        host_address="127.0.0.1",
        CtRuleset=ruleset([], policy="drop", enabled=("ollama-guard.service",)),
    ),
    case(
        checks.exposure,
        "a rule the suite cannot read",
        not_judged("rule 7", "osf"),
        host_address="127.0.0.1",
        CtRuleset=ruleset(
            [{"handle": 7, "expr": [{"osf": {}}, {"drop": None}]}],
            policy="drop",
            enabled=("ollama-guard.service",),
        ),
    ),
    case(
        checks.exposure,
        "loaded now, nothing loads it at boot",
        fails(
            "no unit loads the CT's rules at boot (ollama-guard.service, nftables.service: none"
            " enabled): after the CT restarts, the port is open"
        ),
        host_address="127.0.0.1",
        CtRuleset=CtRuleset.parse(0, factsets.sample_output(CtRuleset, "guarded")),
    ),
    case(
        checks.exposure,
        "loaded now, but the boot file no longer includes it",
        fails(f"IPv4: a client such as 10.0.3.2 reaches {CT_IP}:11434 by the rules loaded at boot"),
        host_address="127.0.0.1",
        CtRuleset=CtRuleset.parse(0, factsets.sample_output(CtRuleset, "guard_loaded_not_at_boot")),
    ),
    case(
        checks.exposure,
        "the boot file fails nft -f: nothing of it loads at boot",
        fails("by the rules loaded at boot (/etc/nftables.conf)"),
        host_address="127.0.0.1",
        CtRuleset=CtRuleset.parse(0, factsets.sample_output(CtRuleset, "boot_file_broken")),
    ),
    case(
        checks.exposure,
        "a guard unit beside nftables.service: both orders judged (nftables.conf includes it)",
        passes_saying(
            "the same at boot: ollama-guard.service, nftables.service load /etc/nftables.conf,"
            " /etc/ollama-guard.nft"
        ),
        host_address="127.0.0.1",
        CtRuleset=CtRuleset.parse(
            0, factsets.sample_output(CtRuleset, "guard_unit_beside_nftables")
        ),
    ),
    case(
        checks.exposure,
        "the boot rules cannot be loaded to be judged",
        not_judged("what loads at boot: cannot load the boot rules in a scratch network"),
        host_address="127.0.0.1",
        CtRuleset=dataclasses.replace(
            RULESET_OK,
            boot=(),
            boot_error="cannot load the boot rules in a scratch network namespace: denied",
        ),
    ),
    case(
        checks.exposure,
        "no address on the CT's interfaces",
        not_judged("no address found on the CT's interfaces"),
        host_address="127.0.0.1",
        CtInterfaces=(),
    ),
    case(
        checks.exposure,
        "the host has no address on the CT's network: its address is a client like any other",
        fails(f"IPv4: a client such as {BRIDGE_IP} reaches {CT_IP}:11434"),
        host_address="127.0.0.1",
        HostAddresses=HostAddresses((("eth0", IPv4Interface(f"{HOST}/24")),)),
    ),
    # Proxmox's firewall, while its service applies it.
    case(
        checks.exposure,
        "Proxmox's firewall closes the port itself: no filter in the CT needed",
        passes_saying(
            f"IPv4 to {CT_IP}:11434: every client dropped (955.fw line 6 `IN DROP -p tcp"
            " -dport 11434`)",
            f"IPv6 to [{CT_LINK_LOCAL}]:11434: every client dropped (955.fw line 6",
            "at boot: the Proxmox firewall alone closes it (its service)",
        ),
        host_address="127.0.0.1",
        PveFirewall=pve(),
        PveFirewallService=RUNNING,
        PctConfig=NIC_FIREWALL,
        CtRuleset=CtRuleset(),
    ),
    case(
        checks.exposure,
        "Proxmox's firewall in nftables mode with proxmox-firewall stopped: not in force",
        fails("IPv4: a client such as 10.0.3.2 reaches"),
        host_address="127.0.0.1",
        PveFirewall=pve(),
        PveFirewallService=NFT_STOPPED,
        PctConfig=NIC_FIREWALL,
        CtRuleset=CtRuleset(),
    ),
    case(
        checks.exposure,
        "pve-firewall is stopped, but the CT's own filter closes the port",
        passes_saying(
            "every client dropped (inet ollama_guard/input rule 4",
            "the Proxmox firewall is configured for CT 955 but pve-firewall is not running"
            " (Status: enabled/stopped): its rules are not applied",
        ),
        host_address="127.0.0.1",
        PveFirewall=pve(),
        PveFirewallService=STOPPED,
        PctConfig=NIC_FIREWALL,
    ),
    case(
        checks.exposure,
        "the CT file's `enable: 1 # on` is not read by pve-firewall: the CT's filter is judged",
        fails("IPv4: a client such as 10.0.3.2 reaches"),
        host_address="127.0.0.1",
        PveFirewall=PveFirewall(
            {
                "cluster.fw": "[OPTIONS]\nenable: 1\n",
                "955.fw": f"[OPTIONS]\nenable: 1 # on\n[RULES]\n{PVE_RULES}",
            }
        ),
        PveFirewallService=RUNNING,
        PctConfig=NIC_FIREWALL,
        CtRuleset=CtRuleset(),
    ),
    case(
        checks.exposure,
        "Proxmox's firewall drops the host too",
        fails(
            f"the Proxmox host ({BRIDGE_IP}) is dropped on its way to {CT_IP}:11434 by the rules"
            " loaded now (955.fw: policy_in DROP (no rule matched)): the proxy cannot reach the CT"
        ),
        host_address="127.0.0.1",
        PveFirewall=pve(""),
        PveFirewallService=RUNNING,
        PctConfig=NIC_FIREWALL,
    ),
    case(
        checks.exposure,
        "Proxmox's firewall admits everyone; the CT's own filter closes the port",
        passes_saying("every client dropped (inet ollama_guard/input rule 4"),
        host_address="127.0.0.1",
        PveFirewall=pve("", "policy_in: ACCEPT\n"),
        PveFirewallService=RUNNING,
        PctConfig=NIC_FIREWALL,
    ),
    case(
        checks.exposure,
        "Proxmox's firewall drops one small range only: every other client gets in",
        fails(
            f"IPv4: a client such as 10.0.3.4 reaches {CT_IP}:11434 by the rules loaded now"
            " (every IPv4 client but 10.0.3.0/32, 10.0.3.2/31 (accept: 955.fw: policy_in ACCEPT"
            " (no rule matched); then no nftables in the CT: no filter))"
        ),
        host_address="127.0.0.1",
        PveFirewall=pve("IN DROP -source 10.0.3.0/30 -p tcp -dport 11434\n", "policy_in: ACCEPT\n"),
        PveFirewallService=RUNNING,
        PctConfig=NIC_FIREWALL,
        CtRuleset=CtRuleset(),
    ),
    case(
        checks.exposure,
        "Proxmox's firewall admits one small range: named as it is",
        fails(
            f"IPv4: a client such as 10.0.3.8 reaches {CT_IP}:11434 by the rules loaded now"
            " (10.0.3.8/29 (accept: 955.fw line 6"
        ),
        host_address="127.0.0.1",
        PveFirewall=pve(
            f"{PVE_RULES.splitlines()[0]}\nIN ACCEPT -source 10.0.3.8/29 -p tcp -dport 11434\n"
        ),
        PveFirewallService=RUNNING,
        PctConfig=NIC_FIREWALL,
        CtRuleset=CtRuleset(),
    ),
    case(
        checks.exposure,
        "Proxmox's firewall files on, but net0 has no firewall=1: the CT's filter judged",
        fails("IPv4: a client such as 10.0.3.2 reaches"),
        host_address="127.0.0.1",
        PveFirewall=pve(),
        CtRuleset=CtRuleset(),
    ),
    # Live tries from a vantage the person named: they count only when they happened.
    case(
        checks.exposure,
        "the LAN namespace is refused over both families: judged by filters and kernel",
        passes_saying(
            f"live try from netns:lan to {CT_IP}:11434: the connection was refused",
            f"live try from netns:lan to [{CT_LINK_LOCAL}]:11434: the connection was refused",
        ),
        settings=LAN,
    ),
    case(
        checks.exposure,
        "the LAN namespace gets an answer over IPv6 the filters say is dropped",
        fails(
            f"it answers netns:lan over IPv6: from netns:lan to [{CT_LINK_LOCAL}]:11434: it"
            " accepted a TCP connection"
        ),
        settings=LAN,
        facts={NETNS_TRIES[1]: ReachFromNetns(ANSWERED_TRY)},
    ),
    case(
        checks.exposure,
        "a namespace that does not exist: not judged, named",
        not_judged(
            "the live try from netns:lan to 10.0.3.55:11434: the vantage cannot be used: network"
            " namespace lan does not exist on the host"
        ),
        settings=LAN,
        facts={
            key: ReachFromNetns(
                Try.parse("@@no-vantage network namespace lan does not exist on the host\n")
            )
            for key in NETNS_TRIES
        },
    ),
    case(
        checks.exposure,
        "a try that never reached the CT's link: not judged",
        not_judged("the CT never answered ARP/ND from the vantage (INCOMPLETE)"),
        settings=LAN,
        facts={
            NETNS_TRIES[0]: ReachFromNetns(
                Try.parse("@@vantage lan0\n@@route ok\n@@connect 124\n@@neigh x INCOMPLETE\n")
            )
        },
    ),
    case(
        checks.exposure,
        "an open port is a failure whatever the vantage says",
        fails("IPv4: a client such as 10.0.3.2 reaches"),
        settings=LAN,
        CtRuleset=CtRuleset(),
        facts={
            key: ReachFromNetns(Try.parse("@@no-vantage network namespace lan does not exist\n"))
            for key in NETNS_TRIES
        },
    ),
    case(
        checks.exposure,
        "the runner on another machine is refused: its tries count",
        passes_saying(f"live try from runner to {CT_IP}:11434: the connection was refused"),
        host_address="192.0.2.10",
    ),
    case(
        checks.exposure,
        "the runner on another machine gets in",
        fails(f"it answers runner over IPv4: from runner to {CT_IP}:11434: it accepted"),
        host_address="192.0.2.10",
        facts={RUNNER_TRIES[0]: ReachFromRunner(ANSWERED_TRY)},
    ),
    # -- proxy_streams ----------------------------------------------------------------------
    case(
        checks.proxy_streams,
        "not asked for",
        Want(
            True,
            skipped="the live streaming probe runs only with --probe-streaming=on",
            asked=False,
        ),
    ),
    case(
        checks.proxy_streams,
        "tokens passed on",
        passes(
            "llama3.2:1b loaded first, then 15 chunks: first after 0.02s, last after 0.16s,"
            " longest gap 0.01s"
        ),
        settings=STREAMING,
    ),
    case(
        checks.proxy_streams,
        "held back by a buffer",
        fails("15 chunks: first after 0.15s, last after 0.16s", "well before the last"),
        settings=STREAMING,
        facts={STREAM: ProxiedStream(True, 200, 15, 0.15, 0.16)},
    ),
    case(
        checks.proxy_streams,
        "too few chunks to tell",
        fails("2 chunks"),
        settings=STREAMING,
        facts={STREAM: ProxiedStream(True, 200, 2, 0.01, 0.16)},
    ),
    case(
        checks.proxy_streams,
        "refused",
        fails("status 502", f"POST http://{HOST}/ollama/api/generate streams"),
        settings=STREAMING,
        facts={STREAM: ProxiedStream.parse(0, "status 502 chunks 0 first 0.0 last 0.0")},
    ),
    case(
        checks.proxy_streams,
        "only embedding-only and cloud models",
        fails(
            "nomic-embed-text cannot generate (capabilities: embedding); gpt-oss:120b-cloud is a"
            " cloud model (proxied to ollama.com)",
            "a model that can generate (not embedding-only, not cloud)",
        ),
        settings=STREAMING,
        facts={
            STREAM: ProxiedStream.parse(
                0,
                "skipped: nomic-embed-text cannot generate (capabilities: embedding);"
                " gpt-oss:120b-cloud is a cloud model (proxied to ollama.com)",
            )
        },
    ),
    case(
        checks.proxy_streams,
        "no reply",
        fails("status -"),
        settings=STREAMING,
        facts={STREAM: ProxiedStream.parse(1, "ConnectionError: refused")},
    ),
    case(
        checks.proxy_streams,
        "no model to stream from",
        fails("no model installed", "a model to stream from"),
        settings=STREAMING,
        DirectTags=tags(),
    ),
    case(
        checks.proxy_streams,
        "the direct API unusable",
        fails("no HTTP reply", "a model to stream from"),
        settings=STREAMING,
        DirectTags=None,
    ),
]


@pytest.mark.parametrize(("check", "changes", "want"), HARDENED_ROWS)
def test_hardened_check(check, changes, want):
    want.check(judged(check, changes, base="hardened"))


ALL_ROWS = ROWS + HOST_ROWS + HARDENED_ROWS


def test_every_check_has_a_passing_row_and_a_failing_row():
    rows = [(p.values[0], p.values[2]) for p in ALL_ROWS]
    for check in catalogue.load().values():
        wants = [want for judge, want in rows if judge is check.judge]
        assert any(w.ok and not w.skipped for w in wants), f"{check.id}: no passing row"
        assert any(not w.ok for w in wants), f"{check.id}: no failing row"


def test_rows_are_named_after_their_check():
    ids = [p.id for p in ALL_ROWS]
    assert len(ids) == len(set(ids)), "two rows share a name"
    for p in ALL_ROWS:
        assert p.id.split(":", 1)[0] in catalogue.load(), p.id


def test_the_compliant_facts_pass_every_check_of_both_profiles():
    assert factsets.failing(factsets.compliant()) == set()
    assert factsets.failing(factsets.hardened(), "hardened") == set()
    found = factsets.verdicts(factsets.hardened(), "hardened")
    assert found["proxy_streams"].skipped  # off unless asked for
    assert set(found) == {c.id for c in catalogue.in_profile("hardened")}


def test_every_compliant_fact_is_read_by_some_check():
    table = with_()
    for check in catalogue.in_profile("plan"):
        check.judge(subject(table))
    unread = set(table.values) - table.keys_asked()
    # HostInit is the planner's fact (how to reload nginx); which_ollama reads Binary only
    # when the login shell does not find the binary.
    assert unread == {HostInit, Binary}


def test_every_hardened_fact_is_read_by_some_check():
    table = with_hardened()
    for check in catalogue.in_profile("hardened"):
        check.judge(subject(table, settings=STREAMING))
    unread = set(table.values) - table.keys_asked()
    # Guard is the firewall fix's fact; the LAN namespace is tried only with netns:NAME, the
    # runner only when it is another machine (the fact sets' host is the runner's own address);
    # Proxmox's firewall service's status only when its files turn it on for the CT.
    facts = {HostInit, Binary, Guard, PveFirewallService, *NETNS_TRIES, *RUNNER_TRIES}
    assert unread == facts
    lan = with_hardened()
    checks.exposure(subject(lan, settings=LAN))
    assert set(NETNS_TRIES) <= lan.keys_asked()
    remote = with_hardened()
    checks.exposure(subject(remote, settings=HARDENED_SETTINGS, host_address="192.0.2.10"))
    assert set(RUNNER_TRIES) <= remote.keys_asked()


def test_proxy_parity_asks_for_the_sites_proxied_url():
    table = with_()
    checks.proxy_parity(subject(table))
    assert ProxiedTags in table.keys_asked()
    scope = Scope(factsets.SETTINGS, SITE, HOST)
    assert ProxiedTags.command(scope) == f"GET {TAGS_URL}"

    site = dataclasses.replace(SITE, proxy_url="https://gw.example.com/llm/")
    verdict = checks.proxy_parity(subject(site=site, ProxiedTags=None))
    assert "https://gw.example.com/llm/api/tags identical" in verdict.expected
    scope = Scope(factsets.SETTINGS, site, HOST)
    assert ProxiedTags.command(scope) == "GET https://gw.example.com/llm/api/tags"


def test_container_checks_refuse_a_host_wide_subject():
    with pytest.raises(LookupError, match="host-wide subject"):
        checks.site_enabled(host_subject())


def test_a_host_wide_subject_has_no_container_facts():
    with pytest.raises(KeyError, match="profile_script"):
        host_subject()[ProfileScript]
    with pytest.raises(KeyError, match="site_config"):
        host_subject().facts.get(SiteConfig, "955", ())


def test_a_fact_of_another_container_is_unknown():
    with pytest.raises(KeyError, match="of CT '956'"):
        subject().facts.get(SiteConfig, "956", ())


def test_the_fact_set_refuses_unknown_facts_and_values():
    with pytest.raises(AssertionError, match="Guard"):
        with_(Guard=factsets.hardened()[Guard])  # a hardened fact: not in the plan's set
    with pytest.raises(AssertionError, match="NoSuchFact"):
        with_(NoSuchFact=1)
    with pytest.raises(TypeError, match="UnitState"):
        with_(UnitState="active")


# -- a stopped container: its checks skip, pointing at ct_running ------------------------


def test_stopped_container_is_one_failure_and_skips():
    values = factsets.compliant()
    values[CtStatus] = CtStatus("stopped")
    found = factsets.verdicts(values)
    assert {name for name, v in found.items() if not v.ok} == {"ct_running"}
    assert "CT 955 stopped" in found["ct_running"].found
    needs_ct = {c.id for c in catalogue.in_profile("plan") if c.needs_ct}
    assert {name for name, v in found.items() if v.skipped} == needs_ct | {"site_file"}
    for name in needs_ct:
        assert found[name].skipped == "CT 955 on proxmox is stopped: see ct_running", name
    assert found["site_file"].skipped == "CT 955 not running: its IP cannot be compared"


def test_a_stopped_containers_fact_raises_ct_down():
    with pytest.raises(CtDown, match="CT 955 on proxmox is missing"):
        subject(CtStatus="")[UnitState]


# -- the manual-setup state: what the lab's reset leaves, judged whole ----------------------

# lab/states.py `reset`: the binary is there (Debian's /etc/profile already puts
# /usr/local/bin on root's PATH, so the login shell finds it), nothing of plan sections 3-5. Which
# checks fail there is computed (the lab's audit is held to it), not listed: the state must
# fail only checks of the plan's three steps, some of each, and pass what exists before them.
PLAN_STEPS = {"profile_d", "systemd_unit", "nginx_site"}  # the fixes that write the plan's files


def test_manual_setup_fails_only_the_missing_steps():
    found = factsets.verdicts(factsets.manual_setup())
    failing = factsets.failing(factsets.manual_setup())
    assert not any(v.skipped for v in found.values())
    fixes = {catalogue.load()[check].fix for check in failing}
    assert fixes == PLAN_STEPS, sorted(failing)
    for check in ("ct_running", "nginx_valid", "nginx_running"):  # there before the plan
        assert found[check].ok, (check, found[check].line())
    assert found["profile_script"].found == "it does not exist"
    assert found["profile_is_file"].found == "it does not exist"
    assert found["unit_settings"].found == "LoadState=not-found"
    assert found["proxy_headers"].found == "none in the site"
    assert found["site_served"].found == "nginx does not read it"
    assert "direct reply unusable" in found["proxy_parity"].found


def test_manual_setup_under_the_hardened_profile_fails_the_plan_and_onboot():
    values = {**factsets.hardened(), **factsets.manual_setup()}  # hardened-only facts kept
    plan_fails = factsets.failing(factsets.manual_setup())
    assert plan_fails | {"ct_onboot"} <= factsets.failing(values, "hardened")


# -- container_ip: which address the proxy must target ------------------------------------


def pct(net0: str) -> PctConfig:
    return PctConfig({"net0": net0})


@pytest.mark.parametrize(
    ("changes", "found"),
    [
        pytest.param({}, (CT_IP, "pct config net0 ip= (live in the CT)"), id="static net0 live"),
        pytest.param(
            {"site": SITE_WITH_IP, "CtAddresses": ()},
            ("10.0.3.99", "setting ollama_ct_ip"),
            id="setting",
        ),
        pytest.param(
            {"site": dataclasses.replace(SITE, ct_ip="127.0.0.1")},
            (None, "127.0.0.1 (setting ollama_ct_ip) refused: a loopback"),
            id="setting loopback refused",
        ),
        pytest.param(
            {"CtAddresses": (("eth0", "10.0.3.77"),)},
            ("10.0.3.77", "ip -4 addr in the CT (eth0)"),
            id="static net0 not live",
        ),
        pytest.param(
            {"PctConfig": pct(samples.NET0_DHCP), "CtAddresses": (("eth0", "10.0.3.77"),)},
            ("10.0.3.77", "ip -4 addr in the CT (eth0)"),
            id="eth0 dhcp",
        ),
        pytest.param(
            {
                "PctConfig": pct("name=eth1,bridge=vmbr0,ip=dhcp"),
                "CtAddresses": (("eth0", "192.168.50.7"), ("eth1", "10.0.3.78")),
            },
            ("10.0.3.78", "ip -4 addr in the CT (eth1)"),
            id="net0 on eth1",
        ),
        pytest.param(
            {
                "PctConfig": pct(samples.NET0_DHCP),
                "CtAddresses": (("ens18", "10.0.3.80"), ("ens19", "10.0.3.81")),
            },
            ("10.0.3.80", "ip -4 addr in the CT (ens18)"),
            id="other iface",
        ),
        pytest.param(
            {"PctConfig": {}, "CtAddresses": (("eth0", "10.0.3.77"),)},
            ("10.0.3.77", "ip -4 addr in the CT (eth0)"),
            id="no net0 (lxc-attach)",
        ),
        pytest.param(
            {
                "PctConfig": pct("name=eth0,bridge=vmbr9,ip=dhcp"),
                "CtAddresses": (("eth0", "10.9.9.9"),),
            },
            ("10.9.9.9", "ip -4 addr in the CT (eth0)"),
            id="a bridge the host has no address on: not judged",
        ),
        pytest.param({"CtAddresses": ()}, (None, "no IPv4 address found in the CT"), id="none"),
        pytest.param(
            {"PctConfig": pct(samples.NET0_DHCP), "CtAddresses": (("eth0", "127.0.0.1"),)},
            (None, "127.0.0.1 (ip -4 addr in the CT (eth0)) refused: a loopback, link-local"),
            id="loopback refused",
        ),
        pytest.param(
            {"PctConfig": pct(samples.NET0_DHCP), "CtAddresses": (("eth0", "10.0.3.1"),)},
            (None, "10.0.3.1 (ip -4 addr in the CT (eth0)) refused: one of the Proxmox host's"),
            id="the host itself refused",
        ),
        pytest.param(
            {"PctConfig": pct(samples.NET0_DHCP), "CtAddresses": (("eth0", "169.254.1.9"),)},
            (None, "169.254.1.9 (ip -4 addr in the CT (eth0)) refused: a loopback, link-local"),
            id="link-local refused",
        ),
        pytest.param(
            {"PctConfig": pct(samples.NET0_DHCP), "CtAddresses": (("eth0", "10.9.9.9"),)},
            (None, "10.9.9.9 (ip -4 addr in the CT (eth0)) refused: not on net0's bridge vmbr0"),
            id="off the bridge refused",
        ),
    ],
)
def test_container_ip(changes, found):
    address, how = upstream.container_ip(judged_subject(changes))
    assert address == found[0]
    assert how.startswith(found[1])


def judged_subject(changes: dict[str, Any]) -> Any:
    changes = dict(changes)
    kwargs = {key: changes.pop(key) for key in SUBJECT_KEYS if key in changes}
    return subject(with_(**changes), **kwargs)


def test_container_ip_from_the_parsed_fact_outputs():
    config = PctConfig.parse(0, samples.PCT_CONFIG)
    addresses = CtAddresses.parse(0, samples.IP_ADDR)
    assert addresses.items[0] == ("eth0", CT_IP)
    s = subject(PctConfig=config, CtAddresses=addresses)
    assert upstream.container_ip(s) == (CT_IP, "pct config net0 ip= (live in the CT)")


def test_host_bridge_address_is_the_hosts_address_on_the_cts_network():
    s = subject()
    assert upstream.host_bridge_address(s, CT_IP) == factsets.BRIDGE_IP
    assert upstream.host_bridge_address(s, "192.168.77.5") is None


def test_shadowed_by_needs_what_nginx_loads():
    """The site's fix asks shadowed_by before it writes: nothing to say without `nginx -T`."""
    assert served.shadowed_by(subject(NginxLoaded=NginxLoaded.parse(1, ""))) is None
    assert served.shadowed_by(subject()) is None
    copy = loaded((COPY_LINK, copy_site()), DEFAULT, OURS)
    assert "claims server_name" in (served.shadowed_by(subject(NginxLoaded=copy)) or "")


# -- the catalogue itself -----------------------------------------------------------------


def test_the_catalogue_is_the_checks_of_its_modules_in_plan_order():
    found = catalogue.load()
    modules = [c.module.rsplit(".", 1)[1] for c in found.values()]
    assert modules == sorted(modules, key=MODULES.index)
    assert next(iter(found)) == "ct_running"
    assert {"profile_is_file", "proxy_headers", "site_served"} <= set(found)


@pytest.mark.parametrize("check", list(catalogue.load().values()), ids=lambda c: c.id)
def test_every_check_states_its_control_fix_and_place(check):
    assert check.control, f"{check.id} has no docstring (its control)"
    assert check.fix in FIXES, check.fix
    assert check.section
    assert check.where in catalogue.WHERE
    assert check.scope in catalogue.SCOPES
    assert check.runs_in("hardened")
    assert check.runs_in("plan") == (check.profile == "plan")
    assert check in catalogue.answered_by(check.fix, check.profile)
    assert (check.section == "hardened") == (check.profile == "hardened")


def test_host_wide_checks_judge_only_host_facts():
    for check in catalogue.load().values():
        if check.scope == "host":
            assert check.where == "host"
            check.judge(host_subject())  # reading a container's fact would be a KeyError


# -- facts the checks lean on ---------------------------------------------------------------


HOST_ENV = "0.0.0.0:11434"


@pytest.mark.parametrize(
    ("rc", "output", "want"),
    [
        (
            0,
            "pid 812\nOLLAMA_HOST=0.0.0.0:11434",
            MainProcessEnv(True, {"OLLAMA_HOST": "0.0.0.0:11434"}),
        ),
        (0, "pid 812", MainProcessEnv(True, {})),
        (1, "", MainProcessEnv(False)),
    ],
    ids=["host set", "no OLLAMA_ variable", "no process"],
)
def test_main_env_tells_no_process_from_no_variable(rc, output, want):
    assert MainProcessEnv.parse(rc, output) == want


@pytest.mark.parametrize(
    ("rc", "output", "timing"),
    [
        (
            0,
            "status 200 chunks 15 first 0.020 last 0.160",
            ProxiedStream(True, 200, 15, 0.02, 0.16),
        ),
        (
            0,
            "status 200 chunks 15 first 0.020 last 0.160 gap 0.012 model qwen2.5:0.5b",
            ProxiedStream(True, 200, 15, 0.02, 0.16, 0.012, "qwen2.5:0.5b"),
        ),
        (0, "skipped: x cannot generate", ProxiedStream(False, skipped="x cannot generate")),
        (1, "ConnectionError: refused", ProxiedStream(False)),
    ],
)
def test_stream_timing_parser(rc, output, timing):
    assert ProxiedStream.parse(rc, output) == timing


def test_facts_of_the_sets_are_facts():
    for values in (factsets.compliant(), factsets.hardened(), factsets.manual_setup()):
        for key, value in values.items():
            fact = key[0] if isinstance(key, tuple) else key
            assert isinstance(value, Fact), key
            assert isinstance(value, fact), key


def test_a_host_named_by_a_dns_name_is_resolved_on_the_runner(monkeypatch):
    """The host given by name: a name for this very machine means no live try (the host may
    connect); a name the runner cannot resolve is said, and the filters still decide."""
    import socket

    def resolve(name, *args, **kwargs):
        if name == "pve.lab":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.1.1", 0))]
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    local = checks.exposure(
        subject(with_hardened(), settings=HARDENED_SETTINGS, host_address="pve.lab")
    )
    assert "no live try: the runner is the Proxmox host, which may connect" in local.notes
    unknown = checks.exposure(
        subject(with_hardened(), settings=HARDENED_SETTINGS, host_address="gone.lab")
    )
    assert unknown.ok, unknown
    assert "no live try: gone.lab does not resolve on the runner" in unknown.notes

"""Each lab fault (lab/faults.py) described host-free: the facts it leaves, as changes to the
compliant fact set (`factsets.compliant()`, or `hardened()` for a hardened fault).

Judging the whole catalogue on a fault's facts gives the checks it fails (`failing(name)`):
no one keeps that list by hand. The lab's audit tests compare the live run with this
computation, so a fault whose facts are described wrong fails there. A fault whose commands
never run (a frozen CT) is described by the container's batch failing, as the fleet sees it.

A description also names the parts of the deployment the fault touches (`Described.touches`,
compliance.facts.PARTS). Every fact of a touched part that the catalogue reads on the fault's
facts is stated: changed, or listed in `same` (left as it was, on purpose). A new fact is so
never silently left compliant by the faults that break its part (`unstated`, held empty by
test_fault_facts.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from compliance import plan
from compliance.catalogue import Check, in_profile
from compliance.catalogue.verdict import Verdict
from compliance.facts import Fact
from compliance.facts.files import FileState
from compliance.facts.firewall import CtRuleset, Guard
from compliance.facts.http import (
    DirectTags,
    DirectVersion,
    HttpReply,
    ProxiedDelete,
    ProxiedPs,
    ProxiedTags,
    ProxiedVersion,
)
from compliance.facts.net import CtAddresses, CtInterfaces, Listeners, ReachFromNetns
from compliance.facts.nginx import NginxLoaded, NginxState, NginxTest, SiteConfig, SiteLink
from compliance.facts.proxmox import CtStatus, PctConfig, PveFirewall, PveFirewallService
from compliance.facts.shell import Binary, LoginPath, LoginWhich, ProfileEffect, ProfileScript
from compliance.facts.store import GatherError
from compliance.facts.stream import ProxiedStream
from compliance.facts.systemd import (
    PROCESS_EXITED,
    RESTART_SCHEDULED,
    UNIT_STARTED,
    UNIT_STOP_MESSAGES,
    Journal,
    MainProcessEnv,
    UnitEnabled,
    UnitFiles,
    UnitHistory,
    UnitState,
)
from compliance.syntax.live_try import Try
from lab import faults
from selftests.unit import factsets, samples
from selftests.unit.factsets import (
    DEFAULT_LINK,
    DEFAULT_SITE,
    HARDENED_SITE_TEXT,
    HISTORY_OK,
    INVOCATION,
    MISSING_PROFILE,
    MISSING_SITE,
    SITE,
    SITE_TEXT,
    STREAM_MODELS,
    UNIT_PATH,
    UNIT_TEXT,
    F,
    Key,
    StaticFacts,
    exec_start,
    history_line,
    link_state,
    loaded,
    nginx_state,
    profile,
    site_state,
    site_text,
    unit,
    unit_files,
)

Changes = Mapping[Any, Any]


@dataclass(frozen=True)
class Described:
    """A fault's facts: the parts of the deployment it touches (compliance.facts.PARTS), what
    it changes there (over the profile's compliant facts), and the facts of those parts it
    leaves as they were (`same`: stated, not forgotten)."""

    touches: frozenset[str]
    changes: Changes
    same: tuple[type[Fact], ...] = ()


def touches(parts: str, changes: Changes, same: tuple[type[Fact], ...] = ()) -> Described:
    """`touches("unit service", {UnitState: ...}, same=(Journal,))`: a fault's description."""
    return Described(frozenset(parts.split()), changes, same)


# site_text(old, new, base) replaces text that must be there: every description below changes
# what it says it changes.
DROPIN = f"{UNIT_PATH}.d/override.conf"
ENV_PATH = '"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"'
LAB_NETNS = "lan"  # the lab's namespace is ollama-lan; the fact sets name it `lan`
AUDIT = dataclasses.replace(
    factsets.HARDENED_SETTINGS, exposure_from=f"netns:{LAB_NETNS}", probe_streaming=True
)  # the settings the lab's hardened faults are audited with

REFUSED = DirectTags.parse(7, "curl: (7) Failed to connect to 127.0.0.1 port 11434")
BAD_GATEWAY = HttpReply(502, "text/html", "<center>nginx</center>")
NOT_FOUND = HttpReply(404, "text/html", "<center>nginx</center>")
STOPPED_SERVICE: Changes = {
    Listeners: Listeners(()),
    DirectTags: REFUSED,
    ProxiedTags: BAD_GATEWAY,
    MainProcessEnv: MainProcessEnv(False),
}
BROKEN_CONF = "nginx: configuration file /etc/nginx/nginx.conf test failed\n"

# A reloaded nginx runs workers newer than every config file, as in the compliant state; its
# `nginx -t` still passes.
RELOADED = (NginxTest, NginxState)

# systemd's messages about the unit after the compliant start (factsets.HISTORY_OK).
SERVICE = "ollama.service - Ollama Service"  # as HISTORY_OK names the unit
STOPPING, STOPPED = UNIT_STOP_MESSAGES
UNIT_FAILED = "be02cf6855d2428ba40df7e9d022f03d"  # SD_MESSAGE_UNIT_FAILED
RESTART_S = 3  # the plan's RestartSec
JOB_AT = factsets.NOW - 5  # when the fault's own systemctl job ran: seconds before the audit


def _invocation(n: int) -> str:
    """The n-th invocation of the unit after the compliant one (factsets.INVOCATION)."""
    return f"{n:032x}"


def _history(*lines: str) -> UnitHistory:
    """The compliant history, then these messages of systemd's (factsets.history_line)."""
    return UnitHistory(HISTORY_OK.events + UnitHistory.parse(0, "\n".join(lines)).events)


def _stop(at: int) -> list[str]:
    """A job stops the compliant invocation."""
    return [
        history_line(at, INVOCATION, STOPPING, f"Stopping {SERVICE}..."),
        history_line(at, INVOCATION, STOPPED, f"Stopped {SERVICE}."),
    ]


def _start(at: int, invocation: str) -> str:
    return history_line(at, invocation, UNIT_STARTED, f"Started {SERVICE}.")


def _restarted(**props: str) -> Changes:
    """The unit restarted by a job seconds before the audit, with these properties: a new
    invocation (its process keeps the compliant pid, so the listener stays the unit's), and
    systemd's stop and start messages."""
    new = _invocation(1)
    return {
        UnitState: unit(InvocationID=new, ExecMainStartTimestamp=f"@{JOB_AT}", **props),
        UnitHistory: _history(*_stop(JOB_AT), _start(JOB_AT, new)),
    }


def _crashes(restarts: int, step: int, gave_up: bool) -> UnitHistory:
    """A job restarts the unit into a command that exits 1 at once; Restart= starts it again
    `restarts` times, `step` seconds apart; then the next restart is pending, or (`gave_up`)
    the start limit refused it."""
    first = factsets.NOW - 2 - step * restarts
    lines = _stop(first)
    for n in range(restarts + 1):
        at, invocation = first + step * n, _invocation(n + 1)
        if n:
            counter = f"ollama.service: Scheduled restart job, restart counter is at {n}."
            lines.append(history_line(at, _invocation(n), RESTART_SCHEDULED, counter))
        lines += [
            _start(at, invocation),
            history_line(
                at,
                invocation,
                PROCESS_EXITED,
                "ollama.service: Main process exited, code=exited, status=1/FAILURE",
                "1",
            ),
            history_line(at, invocation, "", "ollama.service: Failed with result 'exit-code'."),
        ]
    if gave_up:  # the restarts came too fast: the start limit refused the next one
        at, last = first + step * restarts, _invocation(restarts + 1)
        lines += [
            history_line(at, last, "", "ollama.service: Start request repeated too quickly."),
            history_line(at, last, "", "ollama.service: Failed with result 'start-limit-hit'."),
            history_line(at, last, UNIT_FAILED, f"Failed to start {SERVICE}."),
        ]
    return _history(*lines)


def _nginx_fails(error: str) -> Changes:
    """`nginx -t` and `nginx -T` fail with this [emerg] line."""
    output = f"nginx: [emerg] {error}\n{BROKEN_CONF}"
    return {NginxTest: NginxTest.parse(1, output), NginxLoaded: NginxLoaded.parse(1, output)}


def _site(text: str, **state: Any) -> Changes:
    """Our site with this text, loaded by nginx after a reload."""
    return {
        SiteConfig: site_state(text, **state),
        NginxLoaded: loaded((DEFAULT_LINK, DEFAULT_SITE), (SITE.site_link, text)),
    }


def _hardened_site(old: str, new: str) -> Changes:
    return _site(site_text(old, new, HARDENED_SITE_TEXT))


def _unit_file(
    text: str = UNIT_TEXT, mode: int = 0o644, dropins: Mapping[str, str] | None = None
) -> UnitFiles:
    """The unit file, and these drop-ins ({name: text}) beside it."""
    files: dict[str, str | FileState] = {UNIT_PATH: FileState(True, "root:root", mode, text)}
    files.update({f"{UNIT_PATH}.d/{name}": body for name, body in (dropins or {}).items()})
    return unit_files(files)


def _crash_loop(
    command: str, argv: str, restarts: int = 4, gave_up: bool = False, **props: str
) -> Changes:
    """The unit's ExecStart replaced by a command that exits at once (Restart=always) and the
    unit restarted: it crashed, restarted `restarts` times; nothing answers."""
    text = site_text(f"ExecStart={plan.UNIT.exec_start}", f"ExecStart={argv}", UNIT_TEXT)
    return {
        UnitState: unit(
            **{
                "ExecStart": exec_start(command, argv),
                "ActiveState": "activating",
                "SubState": "auto-restart",
                "MainPID": "0",
                "NRestarts": str(restarts),
                "InvocationID": _invocation(restarts + 1),
                **props,
            }
        ),
        UnitFiles: _unit_file(text),
        UnitHistory: _crashes(restarts, 0 if gave_up else RESTART_S, gave_up),
        Journal: Journal.parse(1, ""),  # no `Listening on` in this invocation
        **STOPPED_SERVICE,
    }


def _tries(v4: str, v6: str) -> Changes:
    """The live tries from the lab's LAN namespace, over IPv4 and IPv6 (as the lab saw them)."""
    return {
        factsets.NETNS_TRIES[0]: ReachFromNetns(Try.parse(v4)),
        factsets.NETNS_TRIES[1]: ReachFromNetns(Try.parse(v6)),
    }


LINK = "@@vantage lan0\n@@route ok\n"
ANSWERED = LINK + "@@connect 0\n@@neigh x lladdr 00:16:3e:59:7d:60 DELAY\n"
DROPPED = LINK + "@@connect 124\n@@neigh x lladdr 00:16:3e:59:7d:60 REACHABLE\n"
REFUSED = (
    LINK + "@@connect 1 try: line 1: Connection refused\n@@neigh x lladdr 00:16:3e:59:7d:60 "
    "REACHABLE\n"
)


def _ruleset(sample: str) -> CtRuleset:
    """The CT's ruleset fact as the lab printed it in that state (a ct_ruleset sample)."""
    return CtRuleset.parse(0, factsets.sample_output(CtRuleset, sample))


def _ct_port_open() -> Changes:
    """The guard's table and file removed; nftables.conf still includes the file, so at boot
    it fails and loads nothing."""
    return {
        CtRuleset: _ruleset("guard_removed_file_still_included"),
        Guard: Guard({}, nft=True, loaded=False),
        **_tries(ANSWERED, ANSWERED),
    }


SITE_STALE_IP = site_text(
    f"proxy_pass http://{factsets.CT_IP}:11434;", "proxy_pass http://127.0.0.55:11434;"
)
HEADER_LINE = "        proxy_set_header X-Forwarded-Proto $scheme;\n"
# An operator's lines around a stale upstream (lab/faults.py writes the same ones).
STALE_PORT = site_text(f"{factsets.CT_IP}:11434;", f"{factsets.CT_IP}:{faults.STALE_PORT};")
LOCATION_LINE = "    location /ollama/ {\n"
OPERATOR_ACL_SITE = site_text(LOCATION_LINE, LOCATION_LINE + faults.OPERATOR_ACL, STALE_PORT)
OPERATOR_TLS_SITE = site_text(
    "proxy_http_version 1.1;\n",
    "proxy_http_version 1.1;\n" + faults.OPERATOR_TIMEOUTS,
    site_text("    listen 80;\n", "    listen 80;\n" + faults.OPERATOR_TLS, STALE_PORT),
)
CONF_ONLY_CONF = site_text(
    "include /etc/nginx/sites-enabled/*;",
    "include /etc/nginx/sites-enabled/*.conf;",
    factsets.NGINX_CONF,
)
# The rendered guard's line that refuses the rest of /ollama/ (the lab's hand-written one
# differs in other lines, not in this).
HARDENED_GUARD = "client_max_body_size 0;\n        deny all;\n"
EXACT_PULL = f"""\
    location = /ollama/api/pull {{
        rewrite ^/ollama/(.*)$ /$1 break;
        proxy_pass http://{factsets.CT_IP}:11434;
    }}
"""
SECOND_LINK = "/etc/nginx/sites-enabled/zz-ollama-8081"
SECOND_SERVER = f"""\
server {{
    listen 8081;
    server_name _;
    location / {{
        proxy_pass http://{factsets.CT_IP}:11434;
    }}
}}
"""
# lab.faults.pve_firewall_on's files (its comment lines aside)
CLUSTER_FW = "[OPTIONS]\nenable: 1\n"
OPEN_RULE = "[OPTIONS]\nenable: 1\n\n[RULES]\nIN ACCEPT -p tcp -dport 11434\n"
CLOSING_RULES = (
    "[OPTIONS]\nenable: 1\n\n[RULES]\nIN ACCEPT -source 10.0.3.1 -p tcp -dport 11434\n"
    "IN DROP -p tcp -dport 11434\n"
)
NIC_FIREWALL = PctConfig.parse(
    0, site_text(",type=veth", ",firewall=1,type=veth", samples.PCT_CONFIG)
)
LOOPBACK_ENV = f"OLLAMA_HOST=127.0.0.1:11434 {ENV_PATH}"
LOOPBACK_DROPIN = '[Service]\nEnvironment="OLLAMA_HOST=127.0.0.1:11434"\n'


def _loopback(**props: str) -> Changes:
    """The drop-in that sets OLLAMA_HOST=127.0.0.1:11434, the unit restarted with it."""
    return {
        **_restarted(**{"Environment": LOOPBACK_ENV, "DropInPaths": DROPIN, **props}),
        UnitFiles: _unit_file(dropins={"override.conf": LOOPBACK_DROPIN}),
        MainProcessEnv: MainProcessEnv(True, {"OLLAMA_HOST": "127.0.0.1:11434"}),
        Listeners: Listeners.parse(0, samples.SS_LO4),
        ProxiedTags: BAD_GATEWAY,
    }


ENV_FILE_DROPIN = f"{UNIT_PATH}.d/10-env-file.conf"
UNSET_DROPIN = f"{UNIT_PATH}.d/20-unset.conf"
ALL_SERVICES_DROPIN = "/etc/systemd/system/service.d/50-lab-env.conf"
NO_EXTRA = {"PassEnvironment": "", "UnsetEnvironment": ""}  # systemctl show, nothing set


def _bound_loopback(changes: Changes, env: MainProcessEnv) -> Changes:
    """A fault that restarts the unit into 127.0.0.1:11434 by `changes`: the process's
    environment `env`, the listener on loopback, the proxy's upstream refusing."""
    return {
        **changes,
        MainProcessEnv: env,
        Listeners: Listeners.parse(0, samples.SS_LO4),
        ProxiedTags: BAD_GATEWAY,
    }


ENV_FILE_LOOPBACK = _bound_loopback(
    {
        **_restarted(DropInPaths=ENV_FILE_DROPIN),
        UnitFiles: _unit_file(
            dropins={"10-env-file.conf": "[Service]\nEnvironmentFile=-/etc/default/ollama\n"}
        ),
    },
    MainProcessEnv(
        True,
        {"OLLAMA_HOST": "127.0.0.1:11434"},
        {**NO_EXTRA, "EnvironmentFiles": "/etc/default/ollama (ignore_errors=yes)"},
        env_texts={"/etc/default/ollama": faults.ENV_FILE_TEXT},
        systemd_version=252,
    ),
)
UNSET_HOST = _bound_loopback(
    {
        **_restarted(DropInPaths=UNSET_DROPIN),
        UnitFiles: _unit_file(
            dropins={"20-unset.conf": "[Service]\nUnsetEnvironment=OLLAMA_HOST\n"}
        ),
    },
    MainProcessEnv(True, {}, {**NO_EXTRA, "UnsetEnvironment": "OLLAMA_HOST"}),
)
ALL_SERVICES_LOOPBACK = _bound_loopback(
    {
        **_restarted(Environment="OLLAMA_HOST=127.0.0.1:11434", DropInPaths=ALL_SERVICES_DROPIN),
        UnitFiles: unit_files(
            {
                UNIT_PATH: FileState(True, "root:root", 0o644, UNIT_TEXT),
                ALL_SERVICES_DROPIN: "[Service]\nEnvironment=OLLAMA_HOST=127.0.0.1:11434\n",
            }
        ),
    },
    MainProcessEnv(True, {"OLLAMA_HOST": "127.0.0.1:11434"}, NO_EXTRA),
)
MANAGER_LOOPBACK = _bound_loopback(
    {
        **_restarted(Environment=""),
        UnitFiles: _unit_file(
            site_text('Environment="OLLAMA_HOST=0.0.0.0:11434"\n', "", UNIT_TEXT)
        ),
    },
    MainProcessEnv(
        True, {"OLLAMA_HOST": "127.0.0.1:11434"}, NO_EXTRA, {"OLLAMA_HOST": "127.0.0.1:11434"}
    ),
)

OPERATOR_DROPIN = (
    "[Service]\nEnvironment=OLLAMA_HOST=0.0.0.0:11434\nEnvironment=OLLAMA_MODELS=/srv/models\n"
)
OUTDATED = "0.17.0"  # the version the lab's stand-in reports with its drop-in
OUTDATED_VERSION = HttpReply(200, "application/json", f'{{"version":"{OUTDATED}"}}')
SLOW_START_DROPIN = "[Service]\nEnvironment=OLLAMA_STANDIN_STARTUP_DELAY=15\n"
OUTDATED_DROPIN = f"[Service]\nEnvironment=OLLAMA_STANDIN_VERSION={OUTDATED}\n"
NO_SCRIPT_EFFECT = ProfileEffect.parse(0, "sh 2 \nbash 0 =/usr/bin:/bin\n")  # dash exits on `.`
INTERACTIVE_ONLY_PROFILE = site_text(
    'export PATH="$PATH:/usr/local/bin"\n',
    'case $- in\n*i*)\n    export PATH="$PATH:/usr/local/bin"\n    ;;\nesac\n',
    plan.PROFILE_TEXT,
)
EXTRA_ENTRY_PROFILE = site_text('/usr/local/bin"', '/usr/local/bin:."', plan.PROFILE_TEXT)
CLOBBERING_PROFILE = site_text('"$PATH:/usr/local/bin"', "/usr/bin:/bin", plan.PROFILE_TEXT)
COPY_LINK = "/etc/nginx/sites-enabled/00-ollama-copy"
NO_SITES_CONF = site_text("    include /etc/nginx/sites-enabled/*;\n", "", factsets.NGINX_CONF)
INSTALLER_UNIT = site_text(
    "Group=root\n", "Group=ollama\n", site_text("User=root\n", "User=ollama\n", UNIT_TEXT)
)
# The rendered guard's line that refuses the rest of /ollama/ (the lab's hand-written one
# differs in other lines, not in this).
HARDENED_GUARD = "client_max_body_size 0;\n        deny all;\n"
EXACT_PULL = f"""\
    location = /ollama/api/pull {{
        rewrite ^/ollama/(.*)$ /$1 break;
        proxy_pass http://{factsets.CT_IP}:11434;
    }}
"""
SECOND_LINK = "/etc/nginx/sites-enabled/zz-ollama-8081"
SECOND_SERVER = f"""\
server {{
    listen 8081;
    server_name _;
    location / {{
        proxy_pass http://{factsets.CT_IP}:11434;
    }}
}}
"""
NOT_ENABLED: Changes = {
    SiteLink: factsets.LINK_MISSING,
    NginxLoaded: loaded((DEFAULT_LINK, DEFAULT_SITE)),
    ProxiedTags: NOT_FOUND,
}
# The proxied reads of the hardened profile a fault leaves answering as before.
PROXY_AS_IT_WAS = (ProxiedTags, ProxiedVersion, ProxiedPs, ProxiedDelete, ProxiedStream)

# Each fault's facts, by name (plan faults over compliant(), hardened ones over hardened()).
PLAN: dict[str, Described] = {
    # Debian's /etc/profile puts /usr/local/bin on root's login PATH without our script.
    "no_profile_script": touches(
        "profile",
        {ProfileScript: MISSING_PROFILE, ProfileEffect: NO_SCRIPT_EFFECT},
        same=(LoginPath, LoginWhich, Binary),
    ),
    "profile_clobbers_path": touches(
        "profile",
        {
            ProfileScript: profile(CLOBBERING_PROFILE),
            ProfileEffect: factsets.profile_effect("/usr/bin:/bin"),
            LoginPath: LoginPath.parse(0, "/usr/bin:/bin\n"),
            LoginWhich: LoginWhich.parse(1, ""),
        },
        same=(Binary,),
    ),
    "profile_writable": touches(
        "profile",
        {ProfileScript: profile(mode=0o666)},
        same=(ProfileEffect, LoginPath, LoginWhich, Binary),
    ),
    # Debian's /etc/profile still puts /usr/local/bin on the login PATH: only the script's own
    # effect in a clean shell shows it adds nothing (interactive shells only) or more.
    "profile_interactive_only": touches(
        "profile",
        {
            ProfileScript: profile(INTERACTIVE_ONLY_PROFILE),
            ProfileEffect: factsets.profile_effect("/usr/bin:/bin"),
        },
        same=(LoginPath, LoginWhich, Binary),
    ),
    "profile_extra_entry": touches(
        "profile",
        {
            ProfileScript: profile(EXTRA_ENTRY_PROFILE),
            ProfileEffect: factsets.profile_effect("/usr/bin:/bin:/usr/local/bin:."),
            LoginPath: LoginPath.parse(0, factsets.LOGIN_PATH.strip() + ":/usr/local/bin:.\n"),
        },
        same=(LoginWhich, Binary),
    ),
    "binary_missing": touches(  # the running service keeps its (moved) executable
        "profile",
        {LoginWhich: LoginWhich.parse(1, ""), Binary: Binary(False)},
        same=(ProfileScript, ProfileEffect, LoginPath),
    ),
    "unit_dropin_loopback": touches(
        "unit service proxy", _loopback(), same=(UnitEnabled, Journal, DirectTags)
    ),
    "unit_env_file_loopback": touches(
        "unit service proxy", ENV_FILE_LOOPBACK, same=(UnitEnabled, Journal, DirectTags)
    ),
    "unit_unset_host": touches(
        "unit service proxy", UNSET_HOST, same=(UnitEnabled, Journal, DirectTags)
    ),
    "all_services_dropin_loopback": touches(
        "unit service proxy", ALL_SERVICES_LOOPBACK, same=(UnitEnabled, Journal, DirectTags)
    ),
    "manager_env_loopback": touches(
        "unit service proxy", MANAGER_LOOPBACK, same=(UnitEnabled, Journal, DirectTags)
    ),
    # The same, the stand-in answering HTTP 15 s after `Listening on` (a lab drop-in's knob):
    # the audit runs once it answers.
    "unit_slow_start_loopback": touches(
        "unit service proxy",
        {
            **_loopback(
                Environment=f"{LOOPBACK_ENV} OLLAMA_STANDIN_STARTUP_DELAY=15",
                DropInPaths=f"{UNIT_PATH}.d/lab-startup.conf {DROPIN}",
            ),
            UnitFiles: _unit_file(
                dropins={"lab-startup.conf": SLOW_START_DROPIN, "override.conf": LOOPBACK_DROPIN}
            ),
            MainProcessEnv: MainProcessEnv(
                True, {"OLLAMA_HOST": "127.0.0.1:11434", "OLLAMA_STANDIN_STARTUP_DELAY": "15"}
            ),
        },
        same=(UnitEnabled, Journal, DirectTags),
    ),
    "unit_not_reloaded": touches(
        "unit",
        {
            UnitState: unit(NeedDaemonReload="yes"),
            UnitFiles: _unit_file(site_text("RestartSec=3\n", "RestartSec=10\n", UNIT_TEXT)),
        },
        same=(UnitEnabled, MainProcessEnv, Journal, UnitHistory),
    ),
    "unit_no_network_order": touches(  # daemon-reloaded; the running service is untouched
        "unit",
        {UnitFiles: _unit_file(site_text("After=network-online.target\n", "", UNIT_TEXT))},
        same=(UnitState, UnitEnabled, MainProcessEnv, Journal, UnitHistory),
    ),
    "unit_disabled": touches(  # still running
        "unit",
        {UnitEnabled: UnitEnabled("disabled"), UnitState: unit(UnitFileState="disabled")},
        same=(UnitFiles, MainProcessEnv, Journal, UnitHistory),
    ),
    # gin's request lines never reach the Journal fact (the probe drops them before its
    # tail; test_fact_systemd holds the parser to ignoring them too): the journal reads as
    # before, and only the unit's enablement changed.
    "request_log_panic_unit_disabled": touches(
        "unit",
        {UnitEnabled: UnitEnabled("disabled"), UnitState: unit(UnitFileState="disabled")},
        same=(UnitFiles, MainProcessEnv, Journal, UnitHistory),
    ),
    "unit_stopped": touches(  # its last invocation's journal stays recorded
        "unit service proxy",
        {
            UnitState: unit(ActiveState="inactive", SubState="dead", MainPID="0"),
            UnitHistory: _history(*_stop(JOB_AT)),
            **STOPPED_SERVICE,
        },
        same=(UnitFiles, UnitEnabled, Journal),
    ),
    "journal_panic": touches(  # the server answers the bad request 500 and runs on
        "unit",
        {
            Journal: Journal.parse(
                0, samples.JOURNAL_OK + "[Recovery] 2026/11/02 - 16:51:00 panic recovered:\n"
            )
        },
        same=(UnitState, UnitFiles, UnitEnabled, MainProcessEnv, UnitHistory),
    ),
    "service_hung": touches(  # systemd and ss see the stopped process as before
        "service proxy",
        {
            DirectTags: DirectTags.parse(28, "curl: (28) Operation timed out after 5001 ms"),
            ProxiedTags: HttpReply(504, "text/html", "<center>nginx</center>"),
        },
        same=(Listeners,),
    ),
    "site_stale_ip": touches(
        "site nginx proxy",
        {**_site(SITE_STALE_IP), ProxiedTags: BAD_GATEWAY},
        same=(SiteLink, *RELOADED),
    ),
    "site_operator_acl": touches(
        "site nginx proxy",
        {**_site(OPERATOR_ACL_SITE), ProxiedTags: BAD_GATEWAY},
        same=(SiteLink, *RELOADED),
    ),
    "site_operator_tls": touches(
        "site nginx proxy",
        {**_site(OPERATOR_TLS_SITE), ProxiedTags: BAD_GATEWAY},
        same=(SiteLink, *RELOADED),
    ),
    "site_fs_full": touches(  # the full filesystem shows only when the fix writes
        "site nginx proxy",
        {**_site(STALE_PORT), ProxiedTags: BAD_GATEWAY},
        same=(SiteLink, *RELOADED),
    ),
    "site_wrong_port": touches(
        "site nginx proxy",
        {**_site(site_text("    listen 80;\n", "    listen 8080;\n")), ProxiedTags: NOT_FOUND},
        same=(SiteLink, *RELOADED),
    ),
    "site_not_enabled": touches("site nginx proxy", NOT_ENABLED, same=(SiteConfig, *RELOADED)),
    "site_syntax_error": touches(
        "site nginx",
        {
            SiteConfig: site_state(
                site_text("    listen 80;\n", "    listen 80;\n    bogus on;\n")
            ),
            NginxState: nginx_state(changed={SITE.site_file: 1100.0}),
            **_nginx_fails(f'unknown directive "bogus" in {SITE.site_link}:3'),
        },
        same=(SiteLink,),
    ),
    "site_block_error": touches(
        "site nginx",
        {
            SiteConfig: site_state(
                site_text(
                    "    listen 80;\n",
                    "    listen 80;\n    lab_invalid_block\n        on {\n        lab_inner on;\n"
                    "    }\n",
                )
            ),
            NginxState: nginx_state(changed={SITE.site_file: 1100.0}),
            **_nginx_fails(f'unknown directive "lab_invalid_block" in {SITE.site_link}:4'),
        },
        same=(SiteLink,),
    ),
    "other_site_broken": touches(
        "nginx",
        {
            NginxState: nginx_state(changed={"/etc/nginx/sites-enabled/zz-lab-broken": 1100.0}),
            **_nginx_fails('unknown directive "bogus" in /etc/nginx/sites-enabled/zz-lab-broken:1'),
        },
    ),
    "nginx_stopped": touches(  # `nginx -t` and `nginx -T` read the files, no process
        "nginx proxy",
        {NginxState: nginx_state(running=False), ProxiedTags: None},
        same=(NginxTest, NginxLoaded),
    ),
    "nginx_not_reloaded": touches(  # the site file rewritten, its text the compliant one
        "site nginx proxy",
        {NginxState: nginx_state(changed={SITE.site_file: 1100.0}), ProxiedTags: BAD_GATEWAY},
        same=(SiteConfig, SiteLink, NginxTest, NginxLoaded),
    ),
    # A stopped CT: no fact inside it is read, nor the runner's through it (CtDown), so only
    # Proxmox's view of it is stated.
    "ct_stopped": touches(
        "container profile unit service proxy",
        {CtStatus: CtStatus("stopped")},
        same=(PctConfig,),
    ),
    "all_convergeable": touches(
        "profile unit service proxy site nginx",
        {
            ProfileScript: MISSING_PROFILE,
            ProfileEffect: NO_SCRIPT_EFFECT,
            **_loopback(UnitFileState="disabled"),
            UnitEnabled: UnitEnabled("disabled"),
            SiteConfig: site_state(SITE_STALE_IP),
            **NOT_ENABLED,
        },
        same=(LoginPath, LoginWhich, Binary, Journal, DirectTags, *RELOADED),
    ),
    "unit_crash_loop": touches(
        "unit service proxy", _crash_loop("/bin/false", "/bin/false"), same=(UnitEnabled,)
    ),
    "unit_crash_loop_restarted": touches(  # restarted a second before the run
        "unit service proxy",
        _crash_loop("/bin/sh", '/bin/sh -c "exit 1"', restarts=0),
        same=(UnitEnabled,),
    ),
    "unit_gave_up": touches(
        "unit service proxy",
        _crash_loop(
            "/bin/false",
            "/bin/false",
            gave_up=True,
            ActiveState="failed",
            SubState="failed",
            RestartUSec="100ms",
        ),
        same=(UnitEnabled,),
    ),
    "unit_writable": touches(
        "unit",
        {UnitFiles: _unit_file(mode=0o666)},
        same=(UnitState, UnitEnabled, MainProcessEnv, Journal, UnitHistory),
    ),
    "site_link_dangling": touches(
        "site nginx",
        {
            SiteLink: link_state("link /usr/local/phoenix_hypervisor/etc/nginx/gone\ndangling\n"),
            NginxState: nginx_state(changed={SITE.site_link: 1100.0}),
            **_nginx_fails(f'open() "{SITE.site_link}" failed (2: No such file or directory)'),
        },
        same=(SiteConfig,),
    ),
    "site_file_missing": touches(
        "site nginx",
        {
            SiteConfig: MISSING_SITE,
            SiteLink: link_state(f"link {SITE.site_file}\ndangling\n"),
            NginxState: NginxState(4242, 1000.0, {"/etc/nginx/nginx.conf": 500.0}),
            **_nginx_fails(f'open() "{SITE.site_link}" failed (2: No such file or directory)'),
        },
    ),
    "site_link_wrong": touches(
        "site nginx",
        {
            SiteLink: link_state("link /etc/nginx/sites-available/default\n"),
            NginxState: nginx_state(changed={SITE.site_link: 1100.0}),
            **_nginx_fails(f"a duplicate default server for 0.0.0.0:80 in {SITE.site_link}:2"),
        },
        same=(SiteConfig,),
    ),
    "profile_symlink": touches(
        "profile",
        {ProfileScript: profile(link="/usr/local/lib/ollama-profile.sh")},
        same=(ProfileEffect, LoginPath, LoginWhich, Binary),
    ),
    "site_header_missing": touches(  # the header is for the server: the replies stay
        "site nginx proxy",
        _site(site_text(HEADER_LINE, "")),
        same=(SiteLink, *RELOADED, ProxiedTags),
    ),
    "site_shadowed": touches(  # another site, not ours
        "nginx proxy",
        {
            NginxTest: NginxTest.parse(0, samples.NGINX_T_WARN),
            NginxLoaded: loaded(
                (DEFAULT_LINK, DEFAULT_SITE),
                (COPY_LINK, site_text("location /ollama/", "location /other/")),
                (SITE.site_link, SITE_TEXT),
            ),
            ProxiedTags: NOT_FOUND,
        },
        same=(NginxState,),
    ),
    "nginx_conf_no_sites": touches(
        "nginx proxy",
        {NginxLoaded: loaded(main=NO_SITES_CONF), ProxiedTags: None},
        same=RELOADED,
    ),
    "nginx_conf_conf_only": touches(
        "nginx proxy",
        {NginxLoaded: loaded(main=CONF_ONLY_CONF), ProxiedTags: None},
        same=RELOADED,
    ),
    "unit_immutable": touches(  # daemon-reloaded, not restarted: RestartSec applies next time
        "unit",
        {
            UnitState: unit(RestartUSec="10s"),
            UnitFiles: _unit_file(site_text("RestartSec=3\n", "RestartSec=10\n", UNIT_TEXT)),
        },
        same=(UnitEnabled, MainProcessEnv, Journal, UnitHistory),
    ),
    "site_writable": touches("site", {SiteConfig: site_state(mode=0o666)}, same=(SiteLink,)),
    "unit_masked": touches(
        "unit service proxy",
        {
            UnitState: UnitState.parse(
                0, site_text("LoadState=not-found", "LoadState=masked", samples.UNIT_SHOW_MISSING)
            ),
            UnitFiles: UnitFiles({}),
            UnitEnabled: UnitEnabled("masked"),
            Journal: Journal.parse(1, "no invocation of the unit\n"),
            UnitHistory: _history(*_stop(JOB_AT)),
            **STOPPED_SERVICE,
        },
    ),
    # `systemctl edit` as Ollama's docs configure the service, restarted and disabled; the
    # models moved to the operator's OLLAMA_MODELS: the same server answers.
    "operator_dropin_unit_disabled": touches(
        "unit service",
        {
            **_restarted(
                Environment=f"OLLAMA_HOST=0.0.0.0:11434 OLLAMA_MODELS=/srv/models {ENV_PATH}",
                DropInPaths=DROPIN,
                UnitFileState="disabled",
            ),
            UnitFiles: _unit_file(dropins={"override.conf": OPERATOR_DROPIN}),
            UnitEnabled: UnitEnabled("disabled"),
            MainProcessEnv: MainProcessEnv(
                True, {"OLLAMA_HOST": "0.0.0.0:11434", "OLLAMA_MODELS": "/srv/models"}
            ),
        },
        same=(Journal, Listeners, DirectTags),
    ),
    # Ollama's installer layout, restarted: its user finds the models in its home.
    "installer_layout": touches(
        "unit service",
        {**_restarted(User="ollama", Group="ollama"), UnitFiles: _unit_file(INSTALLER_UNIT)},
        same=(UnitEnabled, MainProcessEnv, Journal, Listeners, DirectTags),
    ),
}
HARDENED: dict[str, Described] = {
    # The lab's stand-in reports the version a drop-in gives it: the unit restarted with it.
    "ollama_outdated": touches(
        "unit service proxy",
        {
            **_restarted(
                Environment=f"OLLAMA_HOST=0.0.0.0:11434 {ENV_PATH}"
                f" OLLAMA_STANDIN_VERSION={OUTDATED}",
                DropInPaths=f"{UNIT_PATH}.d/lab-version.conf",
            ),
            UnitFiles: _unit_file(dropins={"lab-version.conf": OUTDATED_DROPIN}),
            MainProcessEnv: MainProcessEnv(
                True, {"OLLAMA_HOST": "0.0.0.0:11434", "OLLAMA_STANDIN_VERSION": OUTDATED}
            ),
            DirectVersion: DirectVersion(OUTDATED_VERSION),
            ProxiedVersion: ProxiedVersion(OUTDATED_VERSION),
        },
        same=(
            UnitEnabled,
            Journal,
            Listeners,
            DirectTags,
            ProxiedTags,
            ProxiedPs,
            ProxiedDelete,
            ProxiedStream,
        ),
    ),
    "ct_onboot_off": touches(  # the CT keeps running
        "container",
        {PctConfig: PctConfig.parse(0, site_text("onboot: 1", "onboot: 0", samples.PCT_CONFIG))},
        same=(CtStatus, CtAddresses, CtInterfaces),
    ),
    "site_plan_only": touches(
        "site nginx proxy",
        {**_site(SITE_TEXT), ProxiedDelete: ProxiedDelete(NOT_FOUND)},
        same=(SiteLink, *RELOADED, ProxiedTags, ProxiedVersion, ProxiedPs, ProxiedStream),
    ),
    "site_manage_open": touches(
        "site nginx proxy",
        {
            **_hardened_site(HARDENED_GUARD, HARDENED_GUARD.replace("deny all", "allow all")),
            ProxiedDelete: ProxiedDelete(NOT_FOUND),
        },
        same=(SiteLink, *RELOADED, ProxiedTags, ProxiedVersion, ProxiedPs, ProxiedStream),
    ),
    # A write location that nginx picks before our guard (`=` wins over any regex); reloaded.
    "site_manage_exact_location": touches(
        "site nginx proxy",
        _hardened_site("    location /ollama/ {", EXACT_PULL + "    location /ollama/ {"),
        same=(SiteLink, *RELOADED, *PROXY_AS_IT_WAS),
    ),
    # Another enabled site (not ours) proxies every path to the CT on port 8081; reloaded.
    "site_second_server": touches(
        "nginx",
        {
            NginxLoaded: loaded(
                (DEFAULT_LINK, DEFAULT_SITE),
                (SITE.site_link, HARDENED_SITE_TEXT),
                (SECOND_LINK, SECOND_SERVER),
            ),
        },
        same=RELOADED,
    ),
    "ct_port_open": touches("firewall", _ct_port_open(), same=(PveFirewall,)),
    "ct_guard_ipv4_only": touches(  # loaded now and included by nftables.conf at boot
        "firewall",
        {CtRuleset: _ruleset("ipv4_only_guard"), **_tries(DROPPED, ANSWERED)},
        same=(PveFirewall, Guard),
    ),
    "ct_guard_not_at_boot": touches(  # nftables.conf no longer includes it
        "firewall",
        {CtRuleset: _ruleset("guard_loaded_not_at_boot")},
        same=(PveFirewall, Guard, ReachFromNetns),
    ),
    "pve_firewall_open": touches(  # the CT keeps running
        "firewall container",
        {
            **_ct_port_open(),
            PveFirewall: PveFirewall({"cluster.fw": CLUSTER_FW, "955.fw": OPEN_RULE}),
            PveFirewallService: PveFirewallService("enabled/running"),
            PctConfig: NIC_FIREWALL,
        },
        same=(CtStatus, CtAddresses, CtInterfaces),
    ),
    "pve_firewall_stopped": touches(  # files that would close the port; the service stopped
        "firewall container",
        {
            **_ct_port_open(),
            PveFirewall: PveFirewall({"cluster.fw": CLUSTER_FW, "955.fw": CLOSING_RULES}),
            PveFirewallService: PveFirewallService("enabled/stopped"),
            PctConfig: NIC_FIREWALL,
        },
        same=(CtStatus, CtAddresses, CtInterfaces),
    ),
    # nginx's buffering passes a stream on as it comes, unless gzip holds it (site_gzip_stream).
    "site_buffered": touches(
        "site nginx proxy",
        _hardened_site("proxy_buffering off;", "proxy_buffering on;"),
        same=(SiteLink, *RELOADED, *PROXY_AS_IT_WAS),
    ),
    "site_gzip_stream": touches(
        "site nginx proxy",
        {
            **_hardened_site(
                "proxy_buffering off;",
                "proxy_buffering on;\n        gzip on;\n        gzip_types application/x-ndjson;",
            ),
            (ProxiedStream, STREAM_MODELS): ProxiedStream.parse(
                0, "status 200 chunks 15 first 0.155 last 0.160"
            ),
        },
        same=(SiteLink, *RELOADED, ProxiedTags, ProxiedVersion, ProxiedPs, ProxiedDelete),
    ),
    "site_short_timeout": touches(  # the probes end well within 60 s
        "site nginx proxy",
        _hardened_site("proxy_read_timeout 600s;", "proxy_read_timeout 60s;"),
        same=(SiteLink, *RELOADED, *PROXY_AS_IT_WAS),
    ),
}
# A frozen CT runs no command: its batch fails (FrozenCt), so no fact inside it is read and
# none is stated; Proxmox still lists it running, its config as it was. A request through the
# proxy would hang: once a check reads one, this description must state it.
FROZEN_CT = touches("container profile unit service proxy", {}, same=(CtStatus, PctConfig))
# vzdump's suspend mode: the same, with `lock: backup` in the config Proxmox shows.
LOCKED_BACKUP = touches(
    "container profile unit service proxy",
    {PctConfig: PctConfig.parse(0, "lock: backup\n" + samples.PCT_CONFIG)},
    same=(CtStatus,),
)
FROZEN = {"ct_frozen": FROZEN_CT, "ct_locked_backup": LOCKED_BACKUP}
DESCRIPTIONS: dict[str, Described] = {**PLAN, **HARDENED, **FROZEN}


@dataclass
class FaultFacts(StaticFacts):
    """A fault's fact set, noting each fact a check read from it (`read`): a fact of a
    stopped or frozen CT is refused, not read."""

    read: set[Key] = field(default_factory=set)

    def get(self, fact: type[F], ctid: str, args: tuple[str, ...]) -> F:
        value = super().get(fact, ctid, args)
        self.read.add((fact, args) if args else fact)
        return value


class FrozenCt(FaultFacts):
    """A container whose commands never return (frozen): its batch fails as the fleet's does."""

    def get(self, fact: type[F], ctid: str, args: tuple[str, ...]) -> F:
        if fact.where == "ct":
            raise GatherError("ct 955 on proxmox: facts could not be read (exit 124): timed out")
        return super().get(fact, ctid, args)


def facts_of(name: str) -> dict[Key, Fact]:
    """The fact set a fault leaves (KeyError for a fault this module does not describe)."""
    base = factsets.hardened() if name in HARDENED else factsets.compliant()
    return factsets.changed(base, DESCRIPTIONS[name].changes, {})


def _judge(check: Check, table: StaticFacts, settings: Any) -> Verdict:
    if check.scope == "host":
        s = factsets.host_subject(table, settings=settings)
    else:
        s = factsets.subject(table, settings=settings)
    try:
        return factsets.judge(check, s)
    except GatherError as error:  # as the fleet reports a target that did not answer
        return Verdict(False, "facts read", str(error))


def _judged(name: str) -> tuple[dict[str, Verdict], FaultFacts]:
    """Every check of the fault's profile judged on its facts (the lab's audit settings), and
    the table that noted what they read."""
    hardened = name in HARDENED
    settings = AUDIT if hardened else factsets.SETTINGS
    table = (FrozenCt if name in FROZEN else FaultFacts)(facts_of(name))
    found = {
        check.id: _judge(check, table, settings)
        for check in in_profile("hardened" if hardened else "plan")
    }
    return found, table


def verdicts(name: str) -> dict[str, Verdict]:
    """Every check of the fault's profile judged on its facts, with the lab's audit settings."""
    return _judged(name)[0]


def failing(name: str) -> set[str]:
    """The checks the fault fails, computed from its facts."""
    return {check for check, verdict in verdicts(name).items() if not verdict.ok}


def read(name: str) -> set[Key]:
    """The facts (an on-demand one with its arguments) the fault's fact set answered the
    checks of its profile."""
    return _judged(name)[1].read


def _fact(key: Key) -> type[Fact]:
    return key[0] if isinstance(key, tuple) else key


def _shown(key: Key) -> str:
    return f"{key[0].__name__}{list(key[1])}" if isinstance(key, tuple) else key.__name__


def unstated(name: str) -> list[str]:
    """What the fault's description forgot: each fact the catalogue reads on its facts, of a
    part it touches, that it neither changes nor lists in `same` (one message each)."""
    described = DESCRIPTIONS[name]
    return [
        f"{name}: the catalogue reads {_shown(key)}, which observes `{_fact(key).observes}`,"
        f" a part the fault touches: state its value in the fault's changes, or list"
        f" {_fact(key).__name__} in same"
        for key in sorted(read(name), key=_shown)
        if _fact(key).observes in described.touches
        and key not in described.changes
        and _fact(key) not in described.same
    ]


DESCRIBED: frozenset[str] = frozenset(DESCRIPTIONS)

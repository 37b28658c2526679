"""Each lab fault (lab/faults.py) described host-free: the facts it leaves, as changes to the
compliant fact set (`factsets.compliant()`, or `hardened()` for a hardened fault).

Judging the whole catalogue on a fault's facts gives the checks it fails (`failing(name)`):
no one keeps that list by hand. The lab's audit tests compare the live run with this
computation, so a fault whose facts are described wrong fails there. A fault whose commands
never run (a frozen CT) is described by the container's batch failing, as the fleet sees it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
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
    ProxiedTags,
    ProxiedVersion,
    ReachFromRunner,
)
from compliance.facts.net import Listeners, ReachFromNetns
from compliance.facts.nginx import NginxLoaded, NginxState, NginxTest, SiteConfig, SiteLink
from compliance.facts.proxmox import CtStatus, PctConfig, PveFirewall
from compliance.facts.shell import Binary, LoginPath, LoginWhich, ProfileScript
from compliance.facts.store import GatherError
from compliance.facts.stream import ProxiedStream
from compliance.facts.systemd import (
    Journal,
    MainProcessEnv,
    UnitEnabled,
    UnitFiles,
    UnitHistory,
    UnitState,
)
from selftests.unit import factsets, samples
from selftests.unit.factsets import (
    DEFAULT_LINK,
    DEFAULT_SITE,
    EXPOSURE_URL,
    HARDENED_SITE_TEXT,
    MISSING_PROFILE,
    MISSING_SITE,
    SITE,
    SITE_TEXT,
    STREAM_MODEL,
    UNIT_PATH,
    UNIT_TEXT,
    Key,
    StaticFacts,
    exec_start,
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


def _unit_file(text: str = UNIT_TEXT, mode: int = 0o644, **dropins: str) -> UnitFiles:
    files: dict[str, str | FileState] = {UNIT_PATH: FileState(True, "root:root", mode, text)}
    files.update({f"{UNIT_PATH}.d/{name}": body for name, body in dropins.items()})
    return unit_files(files)


def _crash_loop(command: str, argv: str, **props: str) -> Changes:
    """The unit's ExecStart replaced by a command that exits at once, Restart=always."""
    text = site_text(f"ExecStart={plan.UNIT.exec_start}", f"ExecStart={argv}", UNIT_TEXT)
    return {
        UnitState: unit(
            **{
                "ExecStart": exec_start(command, argv),
                "ActiveState": "activating",
                "SubState": "auto-restart",
                "MainPID": "0",
                "NRestarts": "4",
                **props,
            }
        ),
        UnitFiles: _unit_file(text),
        Journal: Journal.parse(1, ""),  # no `Listening on` in this invocation
        **STOPPED_SERVICE,
    }


def _ct_port_open() -> Changes:
    return {
        CtRuleset: CtRuleset((), nft=True, enabled=("nftables.service",)),
        Guard: Guard({}, nft=True, loaded=False),
        (ReachFromNetns, (LAB_NETNS, EXPOSURE_URL)): ReachFromNetns(200),
        (ReachFromRunner, (EXPOSURE_URL,)): ReachFromRunner(
            HttpReply(200, "application/json", '{"version":"0.21.0"}')
        ),
    }


SITE_STALE_IP = site_text(
    f"proxy_pass http://{factsets.CT_IP}:11434;", "proxy_pass http://127.0.0.55:11434;"
)
HEADER_LINE = "        proxy_set_header X-Forwarded-Proto $scheme;\n"
OPEN_RULE = "[OPTIONS]\nenable: 1\n\n[RULES]\nIN ACCEPT -p tcp -dport 11434\n"
NIC_FIREWALL = PctConfig.parse(
    0, site_text(",type=veth", ",firewall=1,type=veth", samples.PCT_CONFIG)
)
LOOPBACK_ENV = f"OLLAMA_HOST=127.0.0.1:11434 {ENV_PATH}"
LOOPBACK_DROPIN = '[Service]\nEnvironment="OLLAMA_HOST=127.0.0.1:11434"\n'
LOOPBACK: Changes = {
    UnitState: unit(Environment=LOOPBACK_ENV, DropInPaths=DROPIN),
    UnitFiles: _unit_file(
        **{"override.conf": '[Service]\nEnvironment="OLLAMA_HOST=127.0.0.1:11434"\n'}
    ),
    MainProcessEnv: MainProcessEnv(True, {"OLLAMA_HOST": "127.0.0.1:11434"}),
    Listeners: Listeners.parse(0, samples.SS_LO4),
    ProxiedTags: BAD_GATEWAY,
}
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

# Each fault's facts, by name (plan faults over compliant(), hardened ones over hardened()).
PLAN: dict[str, Changes] = {
    "no_profile_script": {ProfileScript: MISSING_PROFILE},
    "profile_clobbers_path": {
        ProfileScript: profile(CLOBBERING_PROFILE),
        LoginPath: LoginPath.parse(0, "/usr/bin:/bin\n"),
        LoginWhich: LoginWhich.parse(1, ""),
    },
    "profile_writable": {ProfileScript: profile(mode=0o666)},
    "binary_missing": {LoginWhich: LoginWhich.parse(1, ""), Binary: Binary(False)},
    "unit_dropin_loopback": LOOPBACK,
    "unit_not_reloaded": {
        UnitState: unit(NeedDaemonReload="yes"),
        UnitFiles: _unit_file(site_text("RestartSec=3\n", "RestartSec=10\n", UNIT_TEXT)),
    },
    "unit_disabled": {UnitEnabled: UnitEnabled("disabled")},
    "unit_stopped": {
        UnitState: unit(ActiveState="inactive", SubState="dead", MainPID="0"),
        **STOPPED_SERVICE,
    },
    "journal_panic": {
        Journal: Journal.parse(
            0, samples.JOURNAL_OK + "[Recovery] 2026/11/02 - 16:51:00 panic recovered:\n"
        )
    },
    "service_hung": {
        DirectTags: DirectTags.parse(28, "curl: (28) Operation timed out after 5001 ms"),
        ProxiedTags: HttpReply(504, "text/html", "<center>nginx</center>"),
    },
    "site_stale_ip": {**_site(SITE_STALE_IP), ProxiedTags: BAD_GATEWAY},
    "site_wrong_port": {
        **_site(site_text("    listen 80;\n", "    listen 8080;\n")),
        ProxiedTags: NOT_FOUND,
    },
    "site_not_enabled": NOT_ENABLED,
    "site_syntax_error": {
        SiteConfig: site_state(site_text("    listen 80;\n", "    listen 80;\n    bogus on;\n")),
        NginxState: nginx_state(changed={SITE.site_file: 1100.0}),
        **_nginx_fails(f'unknown directive "bogus" in {SITE.site_link}:3'),
    },
    "other_site_broken": {
        NginxState: nginx_state(changed={"/etc/nginx/sites-enabled/zz-lab-broken": 1100.0}),
        **_nginx_fails('unknown directive "bogus" in /etc/nginx/sites-enabled/zz-lab-broken:1'),
    },
    "nginx_stopped": {NginxState: nginx_state(running=False), ProxiedTags: None},
    "nginx_not_reloaded": {
        NginxState: nginx_state(changed={SITE.site_file: 1100.0}),
        ProxiedTags: BAD_GATEWAY,
    },
    "ct_stopped": {CtStatus: CtStatus("stopped")},
    "all_convergeable": {
        ProfileScript: MISSING_PROFILE,
        **LOOPBACK,
        UnitEnabled: UnitEnabled("disabled"),
        SiteConfig: site_state(SITE_STALE_IP),
        **NOT_ENABLED,
    },
    "unit_crash_loop": _crash_loop("/bin/false", "/bin/false"),
    "unit_crash_loop_restarted": _crash_loop("/bin/sh", '/bin/sh -c "exit 1"', NRestarts="0"),
    "unit_gave_up": _crash_loop(
        "/bin/false", "/bin/false", ActiveState="failed", SubState="failed", RestartUSec="100ms"
    ),
    "unit_writable": {UnitFiles: _unit_file(mode=0o666)},
    "site_link_dangling": {
        SiteLink: link_state("link /usr/local/phoenix_hypervisor/etc/nginx/gone\ndangling\n"),
        NginxState: nginx_state(changed={SITE.site_link: 1100.0}),
        **_nginx_fails(f'open() "{SITE.site_link}" failed (2: No such file or directory)'),
    },
    "site_file_missing": {
        SiteConfig: MISSING_SITE,
        SiteLink: link_state(f"link {SITE.site_file}\ndangling\n"),
        NginxState: NginxState(4242, 1000.0, {"/etc/nginx/nginx.conf": 500.0}),
        **_nginx_fails(f'open() "{SITE.site_link}" failed (2: No such file or directory)'),
    },
    "site_link_wrong": {
        SiteLink: link_state("link /etc/nginx/sites-available/default\n"),
        NginxState: nginx_state(changed={SITE.site_link: 1100.0}),
        **_nginx_fails(f"a duplicate default server for 0.0.0.0:80 in {SITE.site_link}:2"),
    },
    "profile_symlink": {ProfileScript: profile(link="/usr/local/lib/ollama-profile.sh")},
    "site_header_missing": _site(site_text(HEADER_LINE, "")),
    "site_shadowed": {
        NginxTest: NginxTest.parse(0, samples.NGINX_T_WARN),
        NginxLoaded: loaded(
            (DEFAULT_LINK, DEFAULT_SITE),
            (COPY_LINK, site_text("location /ollama/", "location /other/")),
            (SITE.site_link, SITE_TEXT),
        ),
        ProxiedTags: NOT_FOUND,
    },
    "nginx_conf_no_sites": {
        NginxLoaded: loaded(main=NO_SITES_CONF),
        ProxiedTags: None,
    },
    "unit_immutable": {
        UnitState: unit(RestartUSec="10s"),
        UnitFiles: _unit_file(site_text("RestartSec=3\n", "RestartSec=10\n", UNIT_TEXT)),
    },
    "site_writable": {SiteConfig: site_state(mode=0o666)},
    "unit_masked": {
        UnitState: UnitState.parse(
            0, site_text("LoadState=not-found", "LoadState=masked", samples.UNIT_SHOW_MISSING)
        ),
        UnitFiles: UnitFiles({}),
        UnitEnabled: UnitEnabled("masked"),
        Journal: Journal.parse(1, "no invocation of the unit\n"),
        UnitHistory: UnitHistory.parse(0, ""),
        **STOPPED_SERVICE,
    },
    "operator_dropin_unit_disabled": {
        UnitState: unit(
            Environment=f"OLLAMA_HOST=0.0.0.0:11434 OLLAMA_MODELS=/srv/models {ENV_PATH}",
            DropInPaths=DROPIN,
        ),
        UnitFiles: _unit_file(
            **{
                "override.conf": "[Service]\nEnvironment=OLLAMA_HOST=0.0.0.0:11434\n"
                "Environment=OLLAMA_MODELS=/srv/models\n"
            }
        ),
        UnitEnabled: UnitEnabled("disabled"),
    },
    "installer_layout": {
        UnitState: unit(User="ollama", Group="ollama"),
        UnitFiles: _unit_file(INSTALLER_UNIT),
    },
}
HARDENED: dict[str, Changes] = {
    "ollama_outdated": {
        DirectVersion: DirectVersion(HttpReply(200, "application/json", '{"version":"0.17.0"}')),
        ProxiedVersion: ProxiedVersion(HttpReply(200, "application/json", '{"version":"0.17.0"}')),
    },
    "ct_onboot_off": {
        PctConfig: PctConfig.parse(0, site_text("onboot: 1", "onboot: 0", samples.PCT_CONFIG))
    },
    "site_plan_only": {**_site(SITE_TEXT), ProxiedDelete: ProxiedDelete(NOT_FOUND)},
    "site_manage_open": {
        **_hardened_site(HARDENED_GUARD, HARDENED_GUARD.replace("deny all", "allow all")),
        ProxiedDelete: ProxiedDelete(NOT_FOUND),
    },
    "site_manage_exact_location": _hardened_site(
        "    location /ollama/ {", EXACT_PULL + "    location /ollama/ {"
    ),
    "site_second_server": {
        NginxLoaded: loaded(
            (DEFAULT_LINK, DEFAULT_SITE),
            (SITE.site_link, HARDENED_SITE_TEXT),
            (SECOND_LINK, SECOND_SERVER),
        ),
    },
    "ct_port_open": _ct_port_open(),
    "pve_firewall_open": {
        **_ct_port_open(),
        PveFirewall: PveFirewall({"cluster.fw": "[OPTIONS]\nenable: 1\n", "955.fw": OPEN_RULE}),
        PctConfig: NIC_FIREWALL,
    },
    "site_buffered": _hardened_site("proxy_buffering off;", "proxy_buffering on;"),
    "site_gzip_stream": {
        **_hardened_site(
            "proxy_buffering off;",
            "proxy_buffering on;\n        gzip on;\n        gzip_types application/x-ndjson;",
        ),
        (ProxiedStream, (STREAM_MODEL,)): ProxiedStream.parse(
            0, "status 200 chunks 15 first 0.155 last 0.160"
        ),
    },
    "site_short_timeout": _hardened_site("proxy_read_timeout 600s;", "proxy_read_timeout 60s;"),
}


class FrozenCt(StaticFacts):
    """A container whose commands never return (frozen): its batch fails as the fleet's does."""

    def get(self, fact: type[Any], ctid: str, args: tuple[str, ...]) -> Any:
        if fact.where == "ct":
            raise GatherError("ct 955 on proxmox: facts could not be read (exit 124): timed out")
        return super().get(fact, ctid, args)


def facts_of(name: str) -> dict[Key, Fact]:
    """The fact set a fault leaves (KeyError for a fault this module does not describe)."""
    if name == "ct_frozen":
        return factsets.compliant()
    if name in HARDENED:
        return factsets.changed(factsets.hardened(), HARDENED[name], {})
    return factsets.changed(factsets.compliant(), PLAN[name], {})


def _judge(check: Check, table: StaticFacts, host: bool, settings: Any) -> Verdict:
    values = table.values
    s = (
        factsets.host_subject(values, settings=settings)
        if host
        else factsets.subject(table, settings=settings)
    )
    try:
        return factsets.judge(check, s)
    except GatherError as error:  # as the fleet reports a target that did not answer
        return Verdict(False, "facts read", str(error))


def verdicts(name: str) -> dict[str, Verdict]:
    """Every check of the fault's profile judged on its facts, with the lab's audit settings."""
    hardened = name in HARDENED
    settings = AUDIT if hardened else factsets.SETTINGS
    values = facts_of(name)
    table = FrozenCt(values) if name == "ct_frozen" else StaticFacts(values)
    return {
        check.id: _judge(check, table, check.scope == "host", settings)
        for check in in_profile("hardened" if hardened else "plan")
    }


def failing(name: str) -> set[str]:
    """The checks the fault fails, computed from its facts."""
    return {check for check, verdict in verdicts(name).items() if not verdict.ok}


DESCRIBED: frozenset[str] = frozenset({*PLAN, *HARDENED, "ct_frozen"})

"""The check catalogue as a table: compliant facts with one thing changed -> the Verdict.

Every row starts from `factsets.compliant()` (a compliant CT 955 and its host) and changes one
fact (or a setting); the check's Verdict must be the one in the row. No host, no lab.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from compliance import checks, observed, parsers, probes, streaming
from compliance.checks import CATALOGUE
from compliance.observed import FileState, JournalStart, LinkState, LoginShell, Which
from compliance.parsers import HttpReply, Listener, NginxState, NginxTest
from compliance.streaming import StreamTiming
from compliance.verdict import DEFAULTS, Verdict, passed, skipped
from remediation import render
from selftests.unit import factsets, samples
from selftests.unit.factsets import (
    CT_IP,
    HOST,
    MAIN_PID,
    MISSING_SITE,
    NOW,
    SITE,
    TAGS_URL,
    exec_start,
    host_subject,
    nginx_state,
    profile,
    site_state,
    site_text,
    subject,
    tags,
    unit,
    with_,
)

BINARY = probes.BINARY
SITE_FILE, SITE_LINK = SITE.site_file, SITE.site_link


@dataclasses.dataclass(frozen=True)
class Want:
    """What a row expects: a pass (exact notes), a skip (exact reason), or a failure whose
    expected/found contain the given text (and whose notes, if given, are exactly these)."""

    ok: bool
    expected: str = ""
    found: str = ""
    notes: tuple[str, ...] | None = ()
    skipped: str = ""

    def check(self, verdict: Verdict) -> None:
        if self.ok:
            assert verdict == (skipped(self.skipped) if self.skipped else passed(*self.notes or ()))
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


def fails(found: str, expected: str = "", notes: tuple[str, ...] | None = None) -> Want:
    return Want(False, expected, found, notes)


def case(check: Any, name: str, want: Want, **changes: Any) -> Any:
    """One row: `check` on the compliant facts with `changes` (probe name=value, or the
    subject's `site` / `host_address`) gives `want`."""
    return pytest.param(check, changes, want, id=f"{check.__name__}:{name}")


SITE_WITH_IP = dataclasses.replace(SITE, ct_ip="10.0.3.99")
SITE_NAMED = dataclasses.replace(SITE, server_name="ollama.lan")
LOOPBACK = Listener("127.0.0.1", 11434, (MAIN_PID,))
CRASH_NOTE = "no crash loop (no automatic restart in the last 30 s)"
DROPIN = "/etc/systemd/system/ollama.service.d/override.conf"


def ollama_host(value: str) -> dict[str, Any]:
    """A unit whose Environment sets OLLAMA_HOST=value, its process started with it."""
    return {
        "unit_show": unit(Environment=f"OLLAMA_HOST={value}"),
        "main_env": {"OLLAMA_HOST": value},
    }


def started(restarts: int, seconds_ago: int | None) -> observed.UnitState:
    stamp = "" if seconds_ago is None else f"@{NOW - seconds_ago}"
    return unit(NRestarts=str(restarts), ExecMainStartTimestamp=stamp)


def model(**changes: Any) -> dict[str, Any]:
    """samples.LLAMA with keys replaced (None removes the key)."""
    found = {**samples.LLAMA, **changes}
    return {k: v for k, v in found.items() if v is not None}


PARTIAL_DETAILS = {k: v for k, v in samples.LLAMA["details"].items() if k != "quantization_level"}
NGINX_EMERG_OURS = parsers.nginx_test(1, samples.NGINX_T_SERVER_IN_SITE)
NGINX_EMERG_OTHER = parsers.nginx_test(1, samples.NGINX_T_BOGUS)
NGINX_DANGLING = parsers.nginx_test(
    1,
    f'nginx: [emerg] open() "{SITE_LINK}" failed (2: No such file or directory) '
    "in /etc/nginx/nginx.conf:60\n"
    "nginx: configuration file /etc/nginx/nginx.conf test failed\n",
)
NGINX_WARN = parsers.nginx_test(0, samples.NGINX_T_WARN)
WARNING = (
    'nginx warns: nginx: [warn] conflicting server name "pve.example.com" on 0.0.0.0:80, ignored'
)

UNIT_PATH = probes.UNIT_PATH
DROPIN_PATH = "/etc/systemd/system/ollama.service.d/override.conf"

ROWS = [
    # -- ct_running ---------------------------------------------------------------------
    case(checks.ct_running, "running", passes()),
    case(
        checks.ct_running,
        "stopped",
        fails("CT 955 stopped", "CT 955 running"),
        ct_status_955="stopped",
    ),
    case(checks.ct_running, "missing", fails("CT 955 missing"), ct_status_955=""),
    # -- profile_script -------------------------------------------------------------------
    case(checks.profile_script, "plan's script", passes()),
    case(
        checks.profile_script,
        "prepends the dir",
        passes(),
        profile=profile('export PATH="/usr/local/bin:$PATH"\n'),
    ),
    case(checks.profile_script, "group not root", passes(), profile=profile(owner="root:staff")),
    case(
        checks.profile_script,
        "missing",
        fails("it does not exist", "/etc/profile.d/ollama.sh exists"),
        profile=FileState(False),
    ),
    case(
        checks.profile_script,
        "owner not root",
        fails("owner ollama:ollama (want root)", "owned by root, not group/world-writable"),
        profile=profile(owner="ollama:ollama"),
    ),
    case(
        checks.profile_script,
        "group-writable",
        fails("mode 664 is group/world-writable"),
        profile=profile(mode=0o664),
    ),
    case(
        checks.profile_script,
        "world-writable",
        fails("mode 646 is group/world-writable"),
        profile=profile(mode=0o646),
    ),
    case(
        checks.profile_script,
        "owner and mode",
        fails("owner nobody:root (want root); mode 666 is group/world-writable"),
        profile=profile(owner="nobody:root", mode=0o666),
    ),
    case(
        checks.profile_script,
        "no export line",
        fails("PATH exports: none", 'an `export PATH="$PATH:/usr/local/bin"` line'),
        profile=profile('#!/bin/sh\nPATH="$PATH:/usr/local/bin"\n'),
    ),
    case(
        checks.profile_script,
        "commented export",
        fails("PATH exports: none"),
        profile=profile('#!/bin/sh\n# export PATH="$PATH:/usr/local/bin"\n'),
    ),
    case(
        checks.profile_script,
        "export without the dir",
        fails("""PATH exports: ['"$PATH:/opt/ollama/bin"']"""),
        profile=profile('#!/bin/sh\nexport PATH="$PATH:/opt/ollama/bin"\n'),
    ),
    case(
        checks.profile_script,
        "export of a lookalike dir",
        fails("PATH exports:"),
        profile=profile('#!/bin/sh\nexport PATH="$PATH:/usr/local/bin2"\n'),
    ),
    case(
        checks.profile_script,
        "the dir first, unquoted",
        passes(),
        profile=profile("#!/bin/sh\nexport PATH=/usr/local/bin:$PATH\n"),
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
        login_path=observed.login_shell_of(
            2, "bash: /etc/profile.d/ollama.sh: line 2: syntax error\n"
        ),
    ),
    case(
        checks.login_path,
        "shell fails silently",
        fails("it failed: (no output)"),
        login_path=LoginShell(False, (), ""),
    ),
    case(
        checks.login_path,
        "PATH lacks the dir",
        fails("/usr/bin:/bin", "/usr/local/bin on the login PATH"),
        login_path=observed.login_shell_of(0, "/usr/bin:/bin\n"),
    ),
    # -- which_ollama ---------------------------------------------------------------------
    case(checks.which_ollama, "the plan's binary", passes()),
    case(
        checks.which_ollama,
        "found elsewhere",
        fails("/usr/bin/ollama", "/usr/local/bin/ollama, executable"),
        login_which=Which("/usr/bin/ollama", True),
    ),
    case(
        checks.which_ollama,
        "not executable",
        fails(BINARY, f"{BINARY}, executable"),
        login_which=observed.which_of(0, f"{BINARY}\n"),
    ),
    case(
        checks.which_ollama,
        "not found",
        fails("ollama not found on the login PATH"),
        login_which=observed.which_of(1, "\n"),
    ),
    case(
        checks.which_ollama,
        "not found, binary missing",
        fails(f"ollama not found on the login PATH; {BINARY} is missing"),
        login_which=Which("", False),
        binary=False,
    ),
    # -- unit_settings --------------------------------------------------------------------
    case(checks.unit_settings, "the plan's unit", passes()),
    case(
        checks.unit_settings,
        "unit file world-writable",
        fails(f"{UNIT_PATH}: mode 666 is group/world-writable"),
        unit_files={UNIT_PATH: FileState(True, "root:root", 0o666, "[Service]\n")},
    ),
    case(
        checks.unit_settings,
        "drop-in owned by another user",
        fails(f"{DROPIN_PATH}: owner ollama:ollama (want root)"),
        unit_files={
            UNIT_PATH: "[Service]\n",
            DROPIN_PATH: FileState(True, "ollama:ollama", 0o644, "[Service]\n"),
        },
    ),
    case(
        checks.unit_settings,
        "not loaded",
        fails("LoadState=not-found", "ollama.service is installed (LoadState=loaded)"),
        unit_show=observed.unit_state_of(0, samples.UNIT_SHOW_MISSING),
    ),
    case(
        checks.unit_settings,
        "no answer",
        fails("LoadState=?"),
        unit_show=observed.UnitState({}),
    ),
    case(
        checks.unit_settings,
        "ExecStart of a unit not started yet",
        passes(),
        unit_show=unit(ExecStart=samples.EXEC_START_IDLE),
    ),
    case(
        checks.unit_settings,
        "ExecStart path wrong",
        fails(
            f"ExecStart=/usr/bin/other as {BINARY} serve (want {BINARY} serve)",
            "the plan's [Service] settings in effect",
        ),
        unit_show=unit(ExecStart=exec_start("/usr/bin/other", f"{BINARY} serve")),
    ),
    case(
        checks.unit_settings,
        "argv wrong",
        fails(f"ExecStart={BINARY} run llama3 (want {BINARY} serve)"),
        unit_show=unit(ExecStart=exec_start(BINARY, f"{BINARY} run llama3")),
    ),
    case(
        checks.unit_settings,
        "no ExecStart",
        fails(f"ExecStart=(none) (want {BINARY} serve)"),
        unit_show=unit(ExecStart=""),
    ),
    case(
        checks.unit_settings,
        "OLLAMA_HOST loopback",
        fails("OLLAMA_HOST=127.0.0.1:11434 (want 0.0.0.0:11434)"),
        **ollama_host("127.0.0.1:11434"),
    ),
    case(
        checks.unit_settings,
        "OLLAMA_HOST unset",
        fails("OLLAMA_HOST=(unset) (want 0.0.0.0:11434)"),
        unit_show=unit(Environment=""),
        main_env=None,
    ),
    case(
        checks.unit_settings,
        "OLLAMA_HOST wrong port",
        fails("OLLAMA_HOST=0.0.0.0:8080 (want 0.0.0.0:11434)"),
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
        unit_show=unit(Restart="on-failure"),
    ),
    case(
        checks.unit_settings,
        "RestartSec",
        fails("RestartSec=100ms (want 3s)"),
        unit_show=unit(RestartUSec="100ms"),
    ),
    case(
        checks.unit_settings,
        "User",
        fails("User=ollama (want root)"),
        unit_show=unit(User="ollama"),
    ),
    case(
        checks.unit_settings,
        "User unset",
        fails("User=(unset) (want root)"),
        unit_show=unit(User=""),
    ),
    case(
        checks.unit_settings,
        "Group",
        fails("Group=ollama (want root)"),
        unit_show=unit(Group="ollama"),
    ),
    case(
        checks.unit_settings,
        "NeedDaemonReload",
        fails("NeedDaemonReload=yes: the unit changed on disk, systemd runs the old one"),
        unit_show=unit(NeedDaemonReload="yes"),
    ),
    case(
        checks.unit_settings,
        "running process env differs",
        fails("the running process has OLLAMA_HOST=127.0.0.1:11434"),
        main_env={"OLLAMA_HOST": "127.0.0.1:11434"},
    ),
    case(checks.unit_settings, "no process", passes(), main_env=None),
    case(
        checks.unit_settings,
        "running process lacks OLLAMA_HOST",
        fails("the running process has OLLAMA_HOST=(unset) (restart pending)"),
        main_env={},
    ),
    case(
        checks.unit_settings,
        "drop-ins noted",
        passes(f"drop-ins in effect: {DROPIN}"),
        unit_show=unit(DropInPaths=DROPIN),
    ),
    case(
        checks.unit_settings,
        "drop-ins noted on a failure",
        fails(
            "User=ollama (want root); Group=ollama (want root)",
            notes=(f"drop-ins in effect: {DROPIN} /run/x.conf",),
        ),
        unit_show=unit(DropInPaths=f"{DROPIN} /run/x.conf", User="ollama", Group="ollama"),
    ),
    # -- unit_enabled ---------------------------------------------------------------------
    case(checks.unit_enabled, "enabled", passes()),
    case(checks.unit_enabled, "disabled", fails("disabled", "enabled"), unit_enabled="disabled"),
    case(checks.unit_enabled, "masked", fails("masked"), unit_enabled="masked"),
    case(checks.unit_enabled, "no answer", fails("(no answer)"), unit_enabled=""),
    # -- unit_active ----------------------------------------------------------------------
    case(checks.unit_active, "running", passes()),
    case(
        checks.unit_active,
        "not loaded",
        fails("LoadState=not-found", "ollama.service is installed (LoadState=loaded)"),
        unit_show=unit(LoadState="not-found"),
    ),
    case(
        checks.unit_active,
        "inactive",
        fails("inactive (dead)", "active (running)"),
        unit_show=unit(ActiveState="inactive", SubState="dead", MainPID="0"),
    ),
    case(
        checks.unit_active,
        "activating (auto-restart)",
        fails("activating (auto-restart)", "active (running)"),
        unit_show=unit(ActiveState="activating", SubState="auto-restart", MainPID="0"),
    ),
    case(
        checks.unit_active,
        "failed",
        fails("failed (failed)"),
        unit_show=unit(ActiveState="failed", SubState="failed"),
    ),
    case(
        checks.unit_active,
        "crash loop: restarted, started 5s ago",
        fails("restarted 2 times by Restart=, last start 5s ago", CRASH_NOTE),
        unit_show=started(2, 5),
    ),
    case(
        checks.unit_active,
        "crash loop: started 29s ago",
        fails("last start 29s ago"),
        unit_show=started(1, 29),
    ),
    case(checks.unit_active, "restarted, started 30s ago", passes(), unit_show=started(1, 30)),
    case(checks.unit_active, "restarted, started 40s ago", passes(), unit_show=started(3, 40)),
    case(checks.unit_active, "no restarts, started 5s ago", passes(), unit_show=started(0, 5)),
    case(checks.unit_active, "restarted, start unknown", passes(), unit_show=started(3, None)),
    # -- journal_clean --------------------------------------------------------------------
    case(checks.journal_clean, "listening, no errors", passes()),
    case(
        checks.journal_clean,
        "no invocation",
        fails("no invocation of the unit", "a recorded start"),
        journal=observed.journal_of(1, "no invocation of the unit"),
    ),
    case(
        checks.journal_clean,
        "error lines",
        fails(
            "2 error lines, first: Error: listen tcp 0.0.0.0:11434: bind: address already in use",
            "no bind/panic/permission errors",
        ),
        journal=observed.journal_of(0, samples.JOURNAL_BIND + samples.JOURNAL_PANIC),
    ),
    case(
        checks.journal_clean,
        "permission denied, though listening",
        fails("1 error lines, first: time="),
        journal=observed.journal_of(0, samples.JOURNAL_OK + samples.JOURNAL_PERMISSION),
    ),
    case(
        checks.journal_clean,
        "no Listening line",
        fails("no such line since the last start", "a `Listening on ...` line"),
        journal=JournalStart(True, False, ()),
    ),
    # -- listener -------------------------------------------------------------------------
    case(checks.listener, "*", passes("listener *:11434: dual stack")),
    case(
        checks.listener,
        "0.0.0.0",
        passes("listener 0.0.0.0:11434: ipv4 stack"),
        listen=observed.listeners_of(0, samples.SS_V4),
    ),
    case(
        checks.listener,
        "[::]",
        passes("listener [::]:11434: ipv6 stack"),
        listen=observed.listeners_of(0, samples.SS_V6),
    ),
    case(
        checks.listener,
        "nothing",
        fails("nothing listens on 11434", "a listener on port 11434"),
        listen=(),
    ),
    case(
        checks.listener,
        "loopback only",
        fails("127.0.0.1:11434, [::1]:11434", "11434 on all interfaces (0.0.0.0, * or [::])"),
        listen=observed.listeners_of(0, f"{samples.SS_LO4}\n{samples.SS_LO6_SCOPED}"),
    ),
    case(
        checks.listener,
        "wide but another pid",
        fails("pids [999]", f"owned by the unit's MainPID {MAIN_PID}"),
        listen=(Listener("*", 11434, (999,)),),
    ),
    case(
        checks.listener,
        "wide, no process shown",
        fails("pids []"),
        listen=observed.listeners_of(0, samples.SS_NO_PROCESS),
    ),
    case(
        checks.listener,
        "loopback and wide of the unit",
        passes("listener 127.0.0.1:11434, 0.0.0.0:11434: ipv4 stack"),
        listen=(LOOPBACK, Listener("0.0.0.0", 11434, (MAIN_PID,))),
    ),
    # -- direct_api -----------------------------------------------------------------------
    case(checks.direct_api, "two models", passes("2 models: llama3.2:1b, qwen2.5:0.5b")),
    case(checks.direct_api, "no models", passes("0 models: none"), direct_tags=tags()),
    case(
        checks.direct_api,
        "no reply",
        fails("no HTTP reply", "200 JSON {models: [...]}"),
        direct_tags=None,
    ),
    case(
        checks.direct_api,
        "500",
        fails("status 500, expected 200"),
        direct_tags=HttpReply(500, "application/json", '{"error": "boom"}'),
    ),
    case(
        checks.direct_api,
        "non-JSON",
        fails("content type 'text/html', expected JSON; body is not JSON"),
        direct_tags=HttpReply(200, "text/html", samples.NGINX_502),
    ),
    case(
        checks.direct_api,
        "JSON type, body not JSON",
        fails("body is not JSON"),
        direct_tags=HttpReply(200, "application/json", "Ollama is running"),
    ),
    case(
        checks.direct_api,
        "no models list",
        fails('no "models" list in the body'),
        direct_tags=HttpReply(200, "application/json", '{"error": "x"}'),
    ),
    case(
        checks.direct_api,
        "model lacks keys",
        fails("models[0] lacks digest, details.quantization_level"),
        direct_tags=tags(model(digest=None, details=PARTIAL_DETAILS)),
    ),
    case(
        checks.direct_api,
        "model not an object",
        fails("models[1] is not an object"),
        direct_tags=HttpReply(200, "application/json", '{"models": [{}, "llama3"]}'),
    ),
    # -- site_file ------------------------------------------------------------------------
    case(
        checks.site_file,
        "the plan's site",
        passes(f"container IP {CT_IP}: pct config net0 ip= (live in the CT)"),
    ),
    case(
        checks.site_file,
        "missing",
        fails("it does not exist", f"{SITE_FILE} exists"),
        site_955=MISSING_SITE,
    ),
    case(
        checks.site_file,
        "world-writable",
        fails("mode 666 is group/world-writable", "the plan's site, placeholders filled in"),
        site_955=site_state(mode=0o666),
    ),
    case(
        checks.site_file,
        "owner not root",
        fails("owner www-data:www-data (want root)"),
        site_955=site_state(owner="www-data:www-data"),
    ),
    case(
        checks.site_file,
        "placeholder",
        fails("placeholders left: <LXC_955_IP>"),
        site_955=site_state(site_text(f"{CT_IP}:11434", "<LXC_955_IP>:11434")),
    ),
    case(
        checks.site_file,
        "server_name",
        fails(f"server_name pve.example.com (want {HOST})"),
        site_955=site_state(site_text(f"server_name {HOST};", "server_name pve.example.com;")),
    ),
    case(
        checks.site_file,
        "no server_name",
        fails(f"server_name (none) (want {HOST})"),
        site_955=site_state(site_text(f"server_name {HOST};", "")),
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
        site_955=site_state(site_text("listen 80;", "listen 8080;")),
    ),
    case(
        checks.site_file,
        "no listen (nginx's default 80)",
        passes(f"container IP {CT_IP}: pct config net0 ip= (live in the CT)"),
        site_955=site_state(site_text("listen 80;", "")),
    ),
    case(
        checks.site_file,
        "no location",
        fails("no `location /ollama/` block"),
        site_955=site_state(site_text("location /ollama/ {", "location /llm/ {")),
    ),
    case(
        checks.site_file,
        "no rewrite",
        fails("no `rewrite ^/ollama/(.*)$ /$1 break;` in it"),
        site_955=site_state(site_text("rewrite ^/ollama/(.*)$ /$1 break;", "")),
    ),
    case(
        checks.site_file,
        "proxy_pass wrong IP",
        fails(
            "proxy_pass http://10.0.3.99:11434",
            f"proxy_pass http://{CT_IP}:11434",
            notes=(f"container IP {CT_IP}: pct config net0 ip= (live in the CT)",),
        ),
        site_955=site_state(site_text(f"http://{CT_IP}:11434", "http://10.0.3.99:11434")),
    ),
    case(
        checks.site_file,
        "proxy_pass wrong port",
        fails(f"proxy_pass http://{CT_IP}:8080"),
        site_955=site_state(site_text(f"http://{CT_IP}:11434", f"http://{CT_IP}:8080")),
    ),
    case(
        checks.site_file,
        "no proxy_pass",
        fails("proxy_pass -"),
        site_955=site_state(site_text(f"proxy_pass http://{CT_IP}:11434;", "")),
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
        ct_status_955="stopped",
    ),
    case(
        checks.site_file,
        "CT not running, ct_ip setting: judged",
        passes("container IP 10.0.3.99: setting ollama_ct_ip"),
        site=SITE_WITH_IP,
        ct_status_955="stopped",
        site_955=site_state(site_text(f"http://{CT_IP}:11434", "http://10.0.3.99:11434")),
    ),
    case(
        checks.site_file,
        "CT not running, content wrong: fails",
        fails("listen 8080 (want 80)"),
        ct_status_955="stopped",
        site_955=site_state(site_text("listen 80;", "listen 8080;")),
    ),
    case(
        checks.site_file,
        "CT IP unknown",
        fails("no IPv4 address found in the CT", "the CT's IPv4, to compare with proxy_pass"),
        addresses=(),
    ),
    # -- site_enabled ---------------------------------------------------------------------
    case(checks.site_enabled, "link to the site", passes()),
    case(
        checks.site_enabled,
        "relative link to the site",
        passes(),
        site_link_955=observed.link_state_parser(SITE_LINK)(
            0, "link ../../../usr/local/phoenix_hypervisor/etc/nginx/sites-available/ollama_proxy"
        ),
    ),
    case(
        checks.site_enabled,
        "missing",
        fails("missing", f"{SITE_LINK} is a symlink"),
        site_link_955=LinkState("missing"),
    ),
    case(
        checks.site_enabled,
        "not a link",
        fails("not-a-link"),
        site_link_955=LinkState("not-a-link"),
    ),
    case(
        checks.site_enabled,
        "wrong target",
        fails("link to /etc/nginx/sites-available/ollama_proxy", f"link to {SITE_FILE}"),
        site_link_955=LinkState("link", "/etc/nginx/sites-available/ollama_proxy"),
    ),
    case(
        checks.site_enabled,
        "dangling",
        fails("a dangling link", f"link to {SITE_FILE}, which exists"),
        site_link_955=LinkState("link", SITE_FILE, dangling=True),
    ),
    # -- proxy_parity ---------------------------------------------------------------------
    case(checks.proxy_parity, "identical", passes()),
    case(
        checks.proxy_parity,
        "same models, other order and charset",
        passes(),
        proxied_tags=tags(samples.QWEN, samples.LLAMA, ctype="application/json; charset=utf-8"),
    ),
    case(
        checks.proxy_parity,
        "differing models",
        fails(
            "models only in the direct reply: qwen2.5:0.5b",
            f"{TAGS_URL} identical to the direct call",
        ),
        proxied_tags=tags(samples.LLAMA),
    ),
    case(
        checks.proxy_parity,
        "a model only proxied",
        fails("models only in the proxied reply: qwen2.5:0.5b"),
        direct_tags=tags(samples.LLAMA),
    ),
    case(
        checks.proxy_parity,
        "proxied unreachable",
        fails("proxied reply unusable: no HTTP reply"),
        proxied_tags=None,
    ),
    case(
        checks.proxy_parity,
        "proxied 502",
        fails("proxied reply unusable: status 502, expected 200"),
        proxied_tags=HttpReply(502, "text/html", samples.NGINX_502),
    ),
    case(
        checks.proxy_parity,
        "direct unusable",
        fails("direct reply unusable: no HTTP reply"),
        direct_tags=None,
    ),
]

HOST_ROWS = [
    # -- nginx_valid (host-wide) ----------------------------------------------------------
    case(checks.nginx_valid, "ok", passes()),
    case(checks.nginx_valid, "ok with warnings noted", passes(WARNING), nginx_t=NGINX_WARN),
    case(
        checks.nginx_valid,
        "error in our site",
        fails(
            f"{NGINX_EMERG_OURS.error} (in {SITE_LINK}, our site)",
            "syntax is ok, test is successful",
        ),
        nginx_t=NGINX_EMERG_OURS,
    ),
    case(
        checks.nginx_valid,
        "our link dangles",
        fails(f"(in {SITE_LINK}, our site)"),
        nginx_t=NGINX_DANGLING,
    ),
    case(
        checks.nginx_valid,
        "error in another file",
        fails("(in /etc/nginx/sites-enabled/zz, not our site)"),
        nginx_t=NGINX_EMERG_OTHER,
    ),
    case(
        checks.nginx_valid,
        "error naming no file",
        fails("nginx: [emerg] no file named"),
        nginx_t=NginxTest(False, "nginx: [emerg] no file named", "", ()),
    ),
    case(
        checks.nginx_valid,
        "no 'test is successful'",
        fails("no 'test is successful'"),
        nginx_t=parsers.nginx_test(0, "nginx: the configuration file syntax is ok\n"),
    ),
    case(
        checks.nginx_valid,
        "failure keeps the warnings",
        fails("(in /etc/nginx/sites-enabled/zz, not our site)", notes=(WARNING,)),
        nginx_t=dataclasses.replace(NGINX_EMERG_OTHER, warnings=NGINX_WARN.warnings),
    ),
    # -- nginx_running (host-wide) --------------------------------------------------------
    case(checks.nginx_running, "running, config older", passes()),
    case(
        checks.nginx_running,
        "not running",
        fails("nginx is not running", "nginx master and workers running"),
        nginx_state=nginx_state(running=False),
    ),
    case(
        checks.nginx_running,
        "master without workers",
        fails("nginx is not running"),
        nginx_state=NginxState(4242, None, {}),
    ),
    case(
        checks.nginx_running,
        "stale files",
        fails(f"changed: {SITE_LINK}, {SITE_FILE}", "no config change since the workers started"),
        nginx_state=nginx_state(changed={SITE_FILE: 1200.0, SITE_LINK: 1100.0}),
    ),
    case(
        checks.nginx_running,
        "changed within the clock's resolution",
        passes(),
        nginx_state=nginx_state(changed={SITE_FILE: 1000.04}),
    ),
]


@pytest.mark.parametrize(("check", "changes", "want"), ROWS)
def test_container_check(check, changes, want):
    want.check(check(subject(**changes)))


@pytest.mark.parametrize(("check", "changes", "want"), HOST_ROWS)
def test_host_wide_check(check, changes, want):
    """Host-wide checks judged as Fleet.host_subject does: no container, host facts only."""
    want.check(check(host_subject(**changes)))


@pytest.mark.parametrize(("check", "changes", "want"), HOST_ROWS)
def test_host_wide_check_on_a_container_subject(check, changes, want):
    """The same verdict when a host-wide check is judged on a container's subject."""
    want.check(check(subject(**changes)))


# -- the hardened profile: rows over the hardened compliant facts ---------------------------

ALLOWED = ("10.0.0.0/8",)
MANAGE_ALLOWED = dataclasses.replace(DEFAULTS, profile="hardened", manage_from=ALLOWED)


def plan_only_site() -> Any:
    return factsets.site_state(factsets.SITE_TEXT)


def hardened_site(old: str, new: str) -> Any:
    """The hardened site with one piece of text replaced."""
    assert old in factsets.HARDENED_SITE_TEXT
    return factsets.site_state(factsets.HARDENED_SITE_TEXT.replace(old, new))


def hcase(check: Any, name: str, want: Want, settings: Any = None, **changes: Any) -> Any:
    return pytest.param(check, changes, want, settings, id=f"{check.__name__}:{name}")


OUTDATED = HttpReply(200, "application/json", '{"version":"0.17.0"}')
HARDENED_ROWS = [
    hcase(checks.version_floor, "current version", passes("Ollama 0.21.0")),
    hcase(
        checks.version_floor,
        "outdated: every advisory named",
        fails("Ollama 0.17.0: CVE-2026-7020 (affects up to 0.20.2"),
        direct_version=OUTDATED,
        proxied_version=OUTDATED,
    ),
    hcase(
        checks.version_floor,
        "between the two advisories",
        fails("Ollama 0.18.0: CVE-2026-7020"),
        direct_version=HttpReply(200, "application/json", '{"version":"0.18.0"}'),
        proxied_version=HttpReply(200, "application/json", '{"version":"0.18.0"}'),
    ),
    hcase(checks.version_floor, "no direct reply", fails("no version"), direct_version=None),
    hcase(
        checks.version_floor,
        "proxied differs",
        fails("0.17.0", "says 0.21.0 too"),
        proxied_version=OUTDATED,
    ),
    hcase(
        checks.version_floor,
        "not JSON",
        fails("no version"),
        direct_version=HttpReply(200, "text/plain", "nope"),
    ),
    hcase(checks.ct_onboot, "onboot 1", passes()),
    hcase(
        checks.ct_onboot,
        "onboot missing",
        fails("onboot: 0", "CT 955 onboot: 1"),
        ct_config_955=observed.ct_config_of(0, samples.PCT_CONFIG.replace("onboot: 1\n", "")),
    ),
    hcase(checks.proxy_llm_ready, "hardened site", passes()),
    hcase(
        checks.proxy_llm_ready,
        "the plan's site: nginx defaults",
        fails("proxy_read_timeout 60s (default) (want >= 600s)"),
        site_955=plan_only_site(),
    ),
    hcase(
        checks.proxy_llm_ready,
        "short read timeout",
        fails("proxy_read_timeout 1m (want >= 600s)"),
        site_955=hardened_site("proxy_read_timeout 600s", "proxy_read_timeout 1m"),
    ),
    hcase(
        checks.proxy_llm_ready,
        "buffering on",
        fails("proxy_buffering on"),
        site_955=hardened_site("proxy_buffering off", "proxy_buffering on"),
    ),
    hcase(
        checks.proxy_llm_ready,
        "uploads allowed need an unlimited body",
        fails("client_max_body_size 10m (want 0: model uploads are allowed)"),
        MANAGE_ALLOWED,
        site_955=hardened_site("client_max_body_size 0", "client_max_body_size 10m"),
    ),
    hcase(checks.manage_closed, "guarded, refused, reads served", passes()),
    hcase(
        checks.manage_closed,
        "the plan's site: no guard",
        fails("guard: none"),
        site_955=plan_only_site(),
    ),
    hcase(
        checks.manage_closed,
        "allowed networks differ from the setting",
        fails("guard: allow none", "allow 10.0.0.0/8, deny all"),
        MANAGE_ALLOWED,
    ),
    hcase(
        checks.manage_closed,
        "a write endpoint left out",
        fails("not guarded: copy"),
        site_955=hardened_site(
            "create|blobs/|pull|push|delete|copy", "create|blobs/|pull|push|delete"
        ),
    ),
    hcase(
        checks.manage_closed,
        "allowed networks as set: no refusal to prove from here",
        passes(),
        MANAGE_ALLOWED,
        site_955=factsets.site_state(render.site(factsets.HOST, factsets.CT_IP, (600, ALLOWED))),
    ),
    hcase(
        checks.manage_closed,
        "the write reaches Ollama",
        fails("status 400", "refused by nginx (403)"),
        proxied_manage=HttpReply(400, "application/json", '{"error":"model is required"}'),
    ),
    hcase(
        checks.manage_closed,
        "reads broken",
        fails("status 502", "api/ps still answers"),
        proxied_show=HttpReply(502, "text/html", "bad gateway"),
    ),
]


LAN = dataclasses.replace(DEFAULTS, profile="hardened", exposure_from="netns:lan")
HARDENED_ROWS += [
    hcase(
        checks.exposure,
        "the runner is the host itself: cannot tell",
        skips("the runner is the Proxmox host itself: give --exposure-from=netns:NAME"),
        host_address="127.0.0.1",
    ),
    hcase(
        checks.exposure,
        "nothing answers the runner",
        passes(f"{CT_IP}:11434 does not answer runner"),
    ),
    hcase(
        checks.exposure,
        "the runner gets an answer",
        fails("it answers runner (HTTP 200)", "answering the Proxmox host only"),
        reach_runner=HttpReply(200, "application/json", '{"version":"0.21.0"}'),
    ),
    hcase(
        checks.exposure,
        "the LAN namespace gets an answer",
        fails("it answers netns:lan (HTTP 200)"),
        LAN,
        **{"reach_netns:lan": 200},
    ),
    hcase(
        checks.exposure,
        "the LAN namespace is refused",
        passes(f"{CT_IP}:11434 does not answer netns:lan"),
        LAN,
    ),
    hcase(
        checks.exposure,
        "no CT address",
        fails("no IPv4 address found in the CT"),
        addresses=(),
    ),
]


STREAMING = dataclasses.replace(DEFAULTS, profile="hardened", probe_streaming=True)
HARDENED_ROWS += [
    hcase(
        checks.proxy_streams,
        "not asked for",
        skips("the live streaming probe runs only with --probe-streaming=on"),
    ),
    hcase(
        checks.proxy_streams,
        "tokens passed on",
        passes("15 chunks, first after 0.02s, last after 0.16s"),
        STREAMING,
    ),
    hcase(
        checks.proxy_streams,
        "held back by a buffer",
        fails("15 chunks, first after 0.15s, last after 0.16s", "well before the last"),
        STREAMING,
        proxied_stream=StreamTiming(200, 15, 0.15, 0.16),
    ),
    hcase(
        checks.proxy_streams,
        "refused",
        fails("status 502", "streams"),
        STREAMING,
        proxied_stream=StreamTiming(502, 0, 0.0, 0.0),
    ),
    hcase(
        checks.proxy_streams,
        "no reply",
        fails("status -"),
        STREAMING,
        proxied_stream=None,
    ),
    hcase(
        checks.proxy_streams,
        "no model to stream from",
        fails("no model installed", "a model to stream from"),
        STREAMING,
        direct_tags=factsets.tags(),
    ),
]


@pytest.mark.parametrize(("check", "changes", "want", "settings"), HARDENED_ROWS)
def test_hardened_check(check, changes, want, settings):
    address = changes.pop("host_address", factsets.HOST)
    s = subject(factsets.with_hardened(**changes), host_address=address)
    if settings is not None:
        s = dataclasses.replace(s, settings=settings)
    want.check(check(s))


def test_every_check_has_a_passing_row_and_a_failing_row():
    rows = [(p.values[0], p.values[2]) for p in ROWS + HOST_ROWS + HARDENED_ROWS if not p.marks]
    for check in CATALOGUE.values():
        wants = [want for judge, want in rows if judge is check.judge]
        assert any(w.ok and not w.skipped for w in wants), f"{check.id}: no passing row"
        assert any(not w.ok for w in wants), f"{check.id}: no failing row"


def test_every_compliant_fact_is_read_by_some_check():
    table = with_()
    for check in CATALOGUE.values():
        if check.profile == "plan":
            check.judge(subject(table))
    unread = set(table.values) - {p.name for p in table.asked}
    # INIT is the planner's fact (how to reload nginx); which_ollama reads BINARY_PRESENT
    # only when the login shell does not find the binary.
    assert unread == {probes.INIT.name, probes.BINARY_PRESENT.name}


def test_proxy_parity_asks_for_the_sites_proxied_url():
    table = with_()
    checks.proxy_parity(subject(table))
    (asked,) = [p for p in table.asked if p.target == "runner"]
    assert asked.command == f"GET {TAGS_URL}"

    table = with_()
    site = dataclasses.replace(SITE, proxy_url="https://gw.example.com/llm/")
    checks.proxy_parity(subject(table, site=site))
    (asked,) = [p for p in table.asked if p.target == "runner"]
    assert asked.command == "GET https://gw.example.com/llm/api/tags"


def test_container_checks_refuse_a_host_wide_subject():
    with pytest.raises(LookupError, match="host-wide subject"):
        checks.site_enabled(host_subject())


# -- container_ip: which address the proxy must target ------------------------------------


@pytest.mark.parametrize(
    ("changes", "found"),
    [
        pytest.param({}, (CT_IP, "pct config net0 ip= (live in the CT)"), id="static net0 live"),
        pytest.param(
            {"site": SITE_WITH_IP, "addresses": ()},
            ("10.0.3.99", "setting ollama_ct_ip"),
            id="setting",
        ),
        pytest.param(
            {"addresses": (("eth0", "10.0.3.77"),)},
            ("10.0.3.77", "ip -4 addr in the CT (eth0)"),
            id="static net0 not live",
        ),
        pytest.param(
            {
                "ct_config_955": {"net0": samples.NET0_DHCP},
                "addresses": (("eth0", "10.0.3.77"),),
            },
            ("10.0.3.77", "ip -4 addr in the CT (eth0)"),
            id="eth0 dhcp",
        ),
        pytest.param(
            {
                "ct_config_955": {"net0": "name=eth1,bridge=vmbr0,ip=dhcp"},
                "addresses": (("eth0", "192.168.50.7"), ("eth1", "10.0.3.78")),
            },
            ("10.0.3.78", "ip -4 addr in the CT (eth1)"),
            id="net0 on eth1",
        ),
        pytest.param(
            {
                "ct_config_955": {"net0": samples.NET0_DHCP},
                "addresses": (("ens18", "10.0.3.80"), ("ens19", "10.0.3.81")),
            },
            ("10.0.3.80", "ip -4 addr in the CT (ens18)"),
            id="other iface",
        ),
        pytest.param(
            {"ct_config_955": {}, "addresses": (("eth0", "10.0.3.77"),)},
            ("10.0.3.77", "ip -4 addr in the CT (eth0)"),
            id="no net0 (lxc-attach)",
        ),
        pytest.param({"addresses": ()}, (None, "no IPv4 address found in the CT"), id="none"),
        pytest.param(
            {"ct_config_955": {"net0": samples.NET0_DHCP}, "addresses": (("eth0", "127.0.0.1"),)},
            (None, "127.0.0.1 (ip -4 addr in the CT (eth0)) refused: a loopback, link-local"),
            id="loopback refused",
        ),
        pytest.param(
            {"ct_config_955": {"net0": samples.NET0_DHCP}, "addresses": (("eth0", "10.0.3.1"),)},
            (None, "10.0.3.1 (ip -4 addr in the CT (eth0)) refused: one of the Proxmox host's"),
            id="the host itself refused",
        ),
        pytest.param(
            {
                "ct_config_955": {"net0": samples.NET0_DHCP},
                "addresses": (("eth0", "169.254.1.9"),),
            },
            (None, "169.254.1.9 (ip -4 addr in the CT (eth0)) refused: a loopback, link-local"),
            id="link-local refused",
        ),
        pytest.param(
            {"ct_config_955": {"net0": samples.NET0_DHCP}, "addresses": (("eth0", "10.9.9.9"),)},
            (None, "10.9.9.9 (ip -4 addr in the CT (eth0)) refused: not on net0's bridge vmbr0"),
            id="off the bridge refused",
        ),
    ],
)
def test_container_ip(changes, found):
    address, how = checks.container_ip(subject(**changes))
    assert address == found[0]
    assert how.startswith(found[1])


def test_container_ip_from_the_parsed_probe_outputs():
    config = observed.ct_config_of(0, samples.PCT_CONFIG)
    addresses = observed.addresses_of(0, samples.IP_ADDR)
    assert addresses[0] == ("eth0", CT_IP)
    s = subject(ct_config_955=config, addresses=addresses)
    assert checks.container_ip(s) == (CT_IP, "pct config net0 ip= (live in the CT)")


# -- the tests in tests/ are the catalogue's checks ---------------------------------------

TESTS_DIR = Path(__file__).resolve().parents[2] / "tests"


def _test_modules() -> list[ModuleType]:
    modules = []
    for path in sorted(TESTS_DIR.glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(f"_suite_{path.stem}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


class Recorder:
    """Stands in for the `ct` / `pve` fixtures: records the check a test judges."""

    def __init__(self) -> None:
        self.judged: list[Any] = []

    def judge(self, check: Any) -> None:
        self.judged.append(check)


def _suite_tests() -> list[Any]:
    return [
        pytest.param(function, id=f"{module.__name__.removeprefix('_suite_')}::{name}")
        for module in _test_modules()
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("test_")
    ]


def _judged_by(function: Any) -> Any:
    recorder = Recorder()
    arguments = {
        name: None if name == "container" else recorder
        for name in inspect.signature(function).parameters
    }
    function(**arguments)
    (check,) = recorder.judged
    return check


@pytest.mark.parametrize("function", _suite_tests())
def test_suite_test_states_its_checks_control_and_fix(function):
    check = CATALOGUE[_judged_by(function).__name__]
    assert function.__name__.endswith(f"_{check.id}")
    assert " ".join((function.__doc__ or "").split()) == check.control
    fixes = [m.args for m in getattr(function, "pytestmark", []) if m.name == "fix"]
    assert fixes == [(check.fix,)]


def test_every_check_of_the_catalogue_has_one_suite_test():
    judged = [_judged_by(p.values[0]).__name__ for p in _suite_tests()]
    assert sorted(judged) == sorted(CATALOGUE)


@pytest.mark.parametrize(
    ("rc", "output", "want"),
    [
        (0, "pid 812\nOLLAMA_HOST=0.0.0.0:11434", {"OLLAMA_HOST": "0.0.0.0:11434"}),
        (0, "pid 812", {}),
        (1, "", None),
    ],
    ids=["host set", "no OLLAMA_ variable", "no process"],
)
def test_main_env_tells_no_process_from_no_variable(rc, output, want):
    assert observed.main_env_of(rc, output) == want


@pytest.mark.parametrize(
    ("output", "timing"),
    [
        ("status 200 chunks 15 first 0.020 last 0.160", StreamTiming(200, 15, 0.02, 0.16)),
        ("ConnectionError: refused", None),
    ],
)
def test_stream_timing_parser(output, timing):
    assert streaming.timing_of(0, output) == timing

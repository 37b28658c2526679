"""The check catalogue: one function per check, its control as its docstring.

Every check is a plain function of typed facts (a Subject) returning a Verdict. The tests in
tests/ report them, the fixes verify themselves with them and their waits poll them: nothing
else states a check's condition. Container checks assume the container runs (ct_running gates
them: their tests skip otherwise).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from compliance import advisories, parsers
from compliance.ollama_api import parity_differences, tags_problems
from compliance.parsers import HttpReply
from compliance.probes import (
    ADDRESSES,
    BINARY,
    BINARY_PRESENT,
    DIRECT_TAGS,
    DIRECT_VERSION,
    HOST_ADDRESSES,
    JOURNAL,
    LISTEN,
    LOGIN_PATH,
    LOGIN_WHICH,
    MAIN_ENV,
    NGINX_T,
    PROFILE,
    PROFILE_SCRIPT,
    UNIT_ENABLED,
    UNIT_FILES,
    UNIT_SHOW,
    proxied,
    proxied_stream,
    proxied_tags,
    reach,
)
from compliance.verdict import Subject, Verdict, failed, passed, skipped

PLAN_EXEC = f"{BINARY} serve"
PLAN_BIN_DIR = "/usr/local/bin"
PLAN_PORT = 80  # the plan's `listen 80;`
CRASH_WINDOW_S = 30

Judge = Callable[[Subject], Verdict]


@dataclass(frozen=True)
class Check:
    """One entry of the catalogue: id, where it runs, the plan section, the fix that repairs it.

    `scope` is "container" (judged per container) or "host" (once per Proxmox host);
    `profile` is "plan" (always) or "hardened" (only with --profile=hardened).
    """

    id: str
    where: str
    scope: str
    section: str
    fix: str
    judge: Judge
    profile: str = "plan"

    def runs_in(self, profile: str) -> bool:
        return self.profile == "plan" or self.profile == profile

    @property
    def control(self) -> str:
        return " ".join((self.judge.__doc__ or "").split())


CATALOGUE: dict[str, Check] = {}


def check(
    where: str, section: str, fix: str, scope: str = "container", profile: str = "plan"
) -> Callable[[Judge], Judge]:
    """Register a check function under its own name."""

    def register(judge: Judge) -> Judge:
        entry = Check(judge.__name__, where, scope, section, fix, judge, profile)
        CATALOGUE[judge.__name__] = entry
        return judge

    return register


def answered_by(fix: str, profile: str = "plan") -> list[Check]:
    """The checks a fix answers for in a profile (those it must make pass to be verified)."""
    return [c for c in CATALOGUE.values() if c.fix == fix and c.runs_in(profile)]


# -- the container exists ------------------------------------------------------------------


@check("host", "4", "ct_start")
def ct_running(s: Subject) -> Verdict:
    """`pct status <ctid>` on the Proxmox host says `status: running`."""
    site, probes = s.container
    status = s.get(probes.status) or "missing"
    if status != "running":
        return failed(f"CT {site.ctid} running", f"CT {site.ctid} {status}")
    return passed()


# -- 6.1.1: PATH --------------------------------------------------------------------------


@check("ct", "6.1.1", "profile_d")
def profile_script(s: Subject) -> Verdict:
    """/etc/profile.d/ollama.sh exists, root-owned, not group/world-writable, adds the bin dir."""
    script = s.get(PROFILE)
    if not script.exists:
        return failed(f"{PROFILE_SCRIPT} exists", "it does not exist")
    if script.unsafe():
        return failed("owned by root, not group/world-writable", "; ".join(script.unsafe()))
    exports = re.findall(r"^\s*export\s+PATH=(.*)$", script.text, re.M)
    if not any(PLAN_BIN_DIR in line.strip().strip("\"'").split(":") for line in exports):
        return failed(
            f'an `export PATH="$PATH:{PLAN_BIN_DIR}"` line', f"PATH exports: {exports or 'none'}"
        )
    return passed()


@check("ct", "6.1.1", "profile_d")
def login_path(s: Subject) -> Verdict:
    """A fresh login shell (`env -i bash -lc`) has /usr/local/bin on its PATH."""
    shell = s.get(LOGIN_PATH)
    if not shell.started:
        return failed("a login shell starts", f"it failed: {shell.raw or '(no output)'}")
    if PLAN_BIN_DIR not in shell.path:
        return failed(f"{PLAN_BIN_DIR} on the login PATH", shell.raw)
    return passed()


@check("ct", "6.1.1", "profile_d")
def which_ollama(s: Subject) -> Verdict:
    """In a login shell `command -v ollama` is /usr/local/bin/ollama, an executable file."""
    which = s.get(LOGIN_WHICH)
    if which.found == BINARY and which.executable:
        return passed()
    present = s.get(BINARY_PRESENT)
    found = which.found or "ollama not found on the login PATH"
    if not present:
        found += f"; {BINARY} is missing"
    return failed(f"{BINARY}, executable", found)


# -- 6.1.2: the systemd unit --------------------------------------------------------------


def _unit_loaded(s: Subject) -> Verdict | None:
    unit = s.get(UNIT_SHOW)
    if not unit.loaded:
        return failed(
            "ollama.service is installed (LoadState=loaded)",
            f"LoadState={unit.get('LoadState', '?')}",
        )
    return None


@check("ct", "6.1.2", "systemd_unit")
def unit_settings(s: Subject) -> Verdict:
    """The effective unit (drop-ins included) has the plan's command, host, restart and user."""
    if (missing := _unit_loaded(s)) is not None:
        return missing
    unit = s.get(UNIT_SHOW)
    path, argv = unit.exec_start
    env = unit.environment
    bind = parsers.ollama_host(env.get("OLLAMA_HOST", ""))
    wrong = []
    if path != BINARY or argv != PLAN_EXEC:
        shown = argv if path in ("", BINARY) else f"{path} as {argv}"
        wrong.append(f"ExecStart={shown or '(none)'} (want {PLAN_EXEC})")
    if not (bind.all_interfaces and bind.port == parsers.OLLAMA_PORT):
        wrong.append(f"OLLAMA_HOST={env.get('OLLAMA_HOST', '(unset)')} (want 0.0.0.0:11434)")
    if unit.get("Restart") != "always":
        wrong.append(f"Restart={unit.get('Restart')} (want always)")
    if unit.restart_sec != 3.0:
        wrong.append(f"RestartSec={unit.get('RestartUSec')} (want 3s)")
    for key in ("User", "Group"):
        if unit.get(key) != "root":
            wrong.append(f"{key}={unit.get(key) or '(unset)'} (want root)")
    if unit.get("NeedDaemonReload") != "no":
        wrong.append("NeedDaemonReload=yes: the unit changed on disk, systemd runs the old one")
    for path, state in sorted(s.get(UNIT_FILES).items()):
        wrong += [f"{path}: {problem}" for problem in state.unsafe()]
    live = s.get(MAIN_ENV)
    if live is not None and live.get("OLLAMA_HOST") != env.get("OLLAMA_HOST"):
        shown = live.get("OLLAMA_HOST", "(unset)")
        wrong.append(f"the running process has OLLAMA_HOST={shown} (restart pending)")
    notes = (f"drop-ins in effect: {' '.join(unit.dropins)}",) if unit.dropins else ()
    if wrong:
        return failed("the plan's [Service] settings in effect", "; ".join(wrong), *notes)
    return passed(*notes)


@check("ct", "6.1.2", "systemd_unit")
def unit_enabled(s: Subject) -> Verdict:
    """`systemctl is-enabled ollama` is `enabled` (starts at boot)."""
    state = s.get(UNIT_ENABLED) or "(no answer)"
    return passed() if state == "enabled" else failed("enabled", state)


def _running(s: Subject) -> Verdict | None:
    if (missing := _unit_loaded(s)) is not None:
        return missing
    unit = s.get(UNIT_SHOW)
    if unit.state != "active (running)":
        return failed("active (running)", unit.state)
    return None


@check("ct", "6.1.2", "systemd_unit")
def unit_active(s: Subject) -> Verdict:
    """ollama.service is active (running) and not crash-looping."""
    if (down := _running(s)) is not None:
        return down
    unit = s.get(UNIT_SHOW)
    age = unit.started_ago
    if unit.restarts and age is not None and age < CRASH_WINDOW_S:
        return failed(
            f"no crash loop (no automatic restart in the last {CRASH_WINDOW_S} s)",
            f"restarted {unit.restarts} times by Restart=, last start {age}s ago",
        )
    return passed()


@check("ct", "6.1.2", "systemd_unit")
def journal_clean(s: Subject) -> Verdict:
    """Since the last start the journal has `Listening on` and no bind/panic/permission error."""
    journal = s.get(JOURNAL)
    if not journal.recorded:
        return failed("a recorded start", "no invocation of the unit")
    if journal.errors:
        first = journal.errors[0]
        return failed(
            "no bind/panic/permission errors", f"{len(journal.errors)} error lines, first: {first}"
        )
    if not journal.listening:
        return failed("a `Listening on ...` line", "no such line since the last start")
    return passed()


# -- 6.1.3 and 6.1.4: the listener and the direct API -------------------------------------


@check("ct", "6.1.3", "systemd_unit")
def listener(s: Subject) -> Verdict:
    """11434 listens on all interfaces (0.0.0.0, * or [::]), owned by the unit's MainPID."""
    listeners = s.get(LISTEN)
    if not listeners:
        return failed("a listener on port 11434", "nothing listens on 11434")
    wide = [item for item in listeners if item.all_interfaces]
    where = ", ".join(f"{item.address}:{item.port}" for item in listeners)
    if not wide:
        return failed("11434 on all interfaces (0.0.0.0, * or [::])", where)
    main_pid = s.get(UNIT_SHOW).main_pid
    owners = sorted({pid for item in wide for pid in item.pids})
    if main_pid not in owners:
        return failed(f"owned by the unit's MainPID {main_pid}", f"pids {owners}")
    return passed(f"listener {where}: {wide[0].stacks} stack")


@check("ct", "6.1.4", "systemd_unit")
def direct_api(s: Subject) -> Verdict:
    """GET 127.0.0.1:11434/api/tags in the CT is 200 JSON with a well-formed `models` list."""
    models, problems = tags_problems(s.get(DIRECT_TAGS))
    if problems:
        return failed("200 JSON {models: [...]}", "; ".join(problems))
    names = ", ".join(str(m.get("name")) for m in models) or "none"
    return passed(f"{len(models)} models: {names}")


# -- 5 and 6.2: the proxy on the host -----------------------------------------------------


def container_ip(s: Subject) -> tuple[str | None, str]:
    """(the container's IPv4 the proxy must target, how it was found), or (None, why not).

    A static `ip=` in `pct config` (the host's side) wins when it is live; otherwise the CT's
    own address on net0's interface. A container must not point the host's proxy at the host
    itself or anywhere off its bridge: loopback, link-local, multicast, the host's own
    addresses and addresses outside net0's bridge networks are refused.
    """
    site, probes = s.container
    if site.ct_ip:
        return _upstream(s, site.ct_ip, "setting ollama_ct_ip", bridge="")
    net = parsers.net0(s.get(probes.config).get("net0", ""))
    bridge = net.get("bridge", "")
    live = s.get(ADDRESSES)
    static = parsers.static_ipv4(net)
    if static and any(addr == static for _i, addr in live):
        return _upstream(s, static, "pct config net0 ip= (live in the CT)", bridge)
    name = net.get("name", "eth0")
    on_net0 = [addr for iface, addr in live if iface == name]
    if on_net0:
        return _upstream(s, on_net0[0], f"ip -4 addr in the CT ({name})", bridge)
    if live:
        return _upstream(s, live[0][1], f"ip -4 addr in the CT ({live[0][0]})", bridge)
    return None, "no IPv4 address found in the CT"


def _upstream(s: Subject, address: str, how: str, bridge: str) -> tuple[str | None, str]:
    """The address, or None with why it may not be the proxy's upstream."""
    ip = ipaddress.IPv4Address(address)
    host = s.get(HOST_ADDRESSES)
    why = ""
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        why = "a loopback, link-local, multicast or unspecified address"
    elif any(ip == iface.ip for _name, iface in host):
        why = "one of the Proxmox host's own addresses"
    elif (nets := [i.network for n, i in host if bridge and n == bridge]) and not any(
        ip in net for net in nets
    ):
        why = f"not on net0's bridge {bridge} ({', '.join(str(net) for net in nets)})"
    if why:
        return None, f"{address} ({how}) refused: {why}"
    return address, how


@check("host", "5", "nginx_site")
def site_file(s: Subject) -> Verdict:
    """No placeholder; our server_name on port 80, `location /ollama/`, the rewrite, the CT's IP."""
    site_settings, probes = s.container
    state = s.get(probes.site)
    if not state.file.exists:
        return failed(f"{site_settings.site_file} exists", "it does not exist")
    site, wrong = state.site, list(state.file.unsafe())
    if site.placeholders:
        wrong.append(f"placeholders left: {', '.join(site.placeholders)}")
    want_name = site_settings.server_name_for(s.host_address)
    if want_name not in site.server_names:
        wrong.append(f"server_name {' '.join(site.server_names) or '(none)'} (want {want_name})")
    if PLAN_PORT not in parsers.listen_ports(site.listens):
        wrong.append(f"listen {', '.join(site.listens) or '(default)'} (want {PLAN_PORT})")
    if not site.location_ollama:
        wrong.append("no `location /ollama/` block")
    if not site.rewrite:
        wrong.append("no `rewrite ^/ollama/(.*)$ /$1 break;` in it")
    if wrong:
        return failed("the plan's site, placeholders filled in, root-owned", "; ".join(wrong))
    if s.get(probes.status) != "running" and not site_settings.ct_ip:
        return skipped(f"CT {site_settings.ctid} not running: its IP cannot be compared")
    address, how = container_ip(s)
    if address is None:
        return failed("the CT's IPv4, to compare with proxy_pass", how)
    note = f"container IP {address}: {how}"
    if parsers.proxy_target(site.proxy_pass) != (address, parsers.OLLAMA_PORT):
        want = f"proxy_pass http://{address}:{parsers.OLLAMA_PORT}"
        return failed(want, f"proxy_pass {site.proxy_pass or '-'}", note)
    return passed(note)


@check("host", "5", "nginx_site")
def site_enabled(s: Subject) -> Verdict:
    """The sites-enabled link is a symlink to the site file."""
    site, probes = s.container
    link = s.get(probes.link)
    if link.kind != "link":
        return failed(f"{site.site_link} is a symlink", link.kind)
    if link.target != site.site_file:
        return failed(f"link to {site.site_file}", f"link to {link.target}")
    if link.dangling:
        return failed(f"link to {site.site_file}, which exists", "a dangling link")
    return passed()


@check("host", "6.2.1", "nginx_site", scope="host")
def nginx_valid(s: Subject) -> Verdict:
    """`nginx -t` succeeds."""
    result = s.get(NGINX_T)
    notes = tuple(f"nginx warns: {warning}" for warning in result.warnings)
    if result.ok:
        return passed(*notes)
    culprit = ""
    if result.error_file:
        mine = result.error_file in s.our_paths
        culprit = f" (in {result.error_file}{', our site' if mine else ', not our site'})"
    found = (result.error or "no 'test is successful'") + culprit
    return failed("syntax is ok, test is successful", found, *notes)


@check("host", "6.2.1", "nginx_site", scope="host")
def nginx_running(s: Subject) -> Verdict:
    """nginx runs (master and workers) and serves the config on disk (no pending reload)."""
    state = s.get(s.nginx_state)
    if not state.running:
        return failed("nginx master and workers running", "nginx is not running")
    stale = state.stale_files()
    if stale:
        return failed("no config change since the workers started", f"changed: {', '.join(stale)}")
    return passed()


@check("runner", "6.2.2", "nginx_site")
def proxy_parity(s: Subject) -> Verdict:
    """GET <proxy>/api/tags returns what the CT answers directly: status, JSON type, models."""
    url = s.tags_url()
    differences = parity_differences(s.get(DIRECT_TAGS), s.get(proxied_tags(url)))
    if differences:
        return failed(f"{url} identical to the direct call", "; ".join(differences))
    return passed()


# -- the hardened profile (beyond the plan; --profile=hardened) ---------------------------

WRITE_ENDPOINTS = ("create", "blobs/sha256:0", "pull", "push", "delete", "copy")


def _version(reply: HttpReply | None) -> str | None:
    if reply is None or reply.status != 200:
        return None
    try:
        value = json.loads(reply.body).get("version")
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) else None


@check("runner", "hardened", "upgrade_ollama", profile="hardened")
def version_floor(s: Subject) -> Verdict:
    """/api/version is the same direct and proxied, and no known advisory affects it."""
    direct = _version(s.get(DIRECT_VERSION))
    url = s.proxy_base() + "api/version"
    proxied_reply = s.get(proxied("proxied_version", "GET", url))
    if direct is None:
        return failed("GET 127.0.0.1:11434/api/version answers {version}", "no version")
    if _version(proxied_reply) != direct:
        shown = _version(proxied_reply) or "no version"
        return failed(f"{url} says {direct} too", shown)
    applying = advisories.affecting(direct, advisories.load(s.settings.advisories))
    if applying:
        named = "; ".join(f"{a.id} ({a.remedy()}: {a.summary}; {a.source})" for a in applying)
        return failed("a version no known advisory affects", f"Ollama {direct}: {named}")
    return passed(f"Ollama {direct}")


@check("host", "hardened", "ct_onboot", profile="hardened")
def ct_onboot(s: Subject) -> Verdict:
    """`onboot: 1` in `pct config`: the CT comes back after a host reboot."""
    site, probes = s.container
    onboot = s.get(probes.config).get("onboot", "0")
    return passed() if onboot == "1" else failed(f"CT {site.ctid} onboot: 1", f"onboot: {onboot}")


@check("host", "hardened", "nginx_site", profile="hardened")
def proxy_llm_ready(s: Subject) -> Verdict:
    """The /ollama/ location fits LLM traffic: long proxy timeouts, no buffering, body size."""
    _site, probes = s.container
    directives = s.get(probes.site).site.directives
    floor = s.settings.proxy_timeout
    wrong = []
    for name in ("proxy_read_timeout", "proxy_send_timeout"):
        seconds = parsers.nginx_seconds(directives.get(name, "60s"))
        if seconds is None or seconds < floor:
            wrong.append(f"{name} {directives.get(name, '60s (default)')} (want >= {floor}s)")
    if directives.get("proxy_buffering", "on") != "off":
        wrong.append(f"proxy_buffering {directives.get('proxy_buffering', 'on (default)')}")
    if s.settings.manage_from and directives.get("client_max_body_size", "1m") != "0":
        size = directives.get("client_max_body_size", "1m (default)")
        wrong.append(f"client_max_body_size {size} (want 0: model uploads are allowed)")
    if wrong:
        return failed("the location's LLM settings", "; ".join(wrong))
    return passed()


@check("runner", "hardened", "nginx_site", profile="hardened")
def manage_closed(s: Subject) -> Verdict:
    """Through the proxy the model-management API is refused unless allowed; reads still work."""
    _site, probes = s.container
    site = s.get(probes.site).site
    allowed = set(site.manage_allow)
    want = set(s.settings.manage_from)
    base = s.proxy_base()
    if not site.manage_guarded or allowed != want:
        shown = f"allow {', '.join(sorted(allowed)) or 'none'}" if site.manage_guarded else "none"
        return failed(
            "a guard on /ollama/api/{create,blobs,pull,push,delete,copy}: "
            f"allow {', '.join(sorted(want)) or 'none'}, deny all",
            f"guard: {shown}",
        )
    unguarded = [e for e in WRITE_ENDPOINTS if not site.guards(f"/ollama/api/{e}")]
    if unguarded:
        return failed("every write endpoint guarded", f"not guarded: {', '.join(unguarded)}")
    if not want:  # nobody may manage: prove it with a request nginx must refuse
        reply = s.get(proxied("proxied_manage", "DELETE", base + "api/delete"))
        if reply is None or reply.status != 403:
            status = reply.status if reply else "no reply"
            return failed(f"DELETE {base}api/delete refused by nginx (403)", f"status {status}")
    read = s.get(proxied("proxied_show", "GET", base + "api/ps"))
    if read is None or read.status != 200:
        return failed(f"GET {base}api/ps still answers", f"status {read.status if read else '-'}")
    return passed()


def host_bridge_address(s: Subject, ct_address: str) -> str | None:
    """The Proxmox host's own address on the CT's network (what the proxy connects from)."""
    ip = ipaddress.IPv4Address(ct_address)
    return next((str(i.ip) for _n, i in s.get(HOST_ADDRESSES) if ip in i.network), None)


@check("lan", "hardened", "ct_firewall", profile="hardened")
def exposure(s: Subject) -> Verdict:
    """Port 11434 in the CT answers the Proxmox host (the proxy) and nobody else on its network."""
    vantage = s.settings.exposure_from
    if vantage == "runner" and ipaddress.ip_address(s.host_address).is_loopback:
        return skipped("the runner is the Proxmox host itself: give --exposure-from=netns:NAME")
    address, how = container_ip(s)
    if address is None:
        return failed("the CT's IPv4, to try its port from the LAN", how)
    answer = s.get(reach(vantage, f"http://{address}:{parsers.OLLAMA_PORT}/api/version"))
    code = answer.status if isinstance(answer, HttpReply) else answer
    if code is not None:
        return failed(
            f"{address}:11434 answering the Proxmox host only",
            f"it answers {vantage} (HTTP {code}): anyone on the CT's network reaches the "
            "unauthenticated API, bypassing the proxy",
        )
    return passed(f"{address}:11434 does not answer {vantage}")


@check("runner", "hardened", "nginx_site", profile="hardened")
def proxy_streams(s: Subject) -> Verdict:
    """A streamed /api/generate through the proxy delivers its first chunk well before its last."""
    if not s.settings.probe_streaming:
        return skipped("the live streaming probe runs only with --probe-streaming=on")
    models, problems = tags_problems(s.get(DIRECT_TAGS))
    if problems or not models:
        return failed("a model to stream from", "; ".join(problems) or "no model installed")
    url = s.proxy_base() + "api/generate"
    timing = s.get(proxied_stream(url, str(models[0].get("name"))))
    if timing is None or timing.status != 200:
        return failed(f"POST {url} streams", f"status {timing.status if timing else '-'}")
    shown = (
        f"{timing.chunks} chunks, first after {timing.first:.2f}s, last after {timing.last:.2f}s"
    )
    if not timing.streamed:
        return failed("the first chunk well before the last (tokens passed on)", shown)
    return passed(shown)

"""The read-only commands behind every check, each with the parser that types its output.

A probe is referred to by its object (never by a rebuilt name): the container's are constants,
the host's per-site ones come from `for_site`. Values inside commands are shell-quoted here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from shlex import quote
from typing import Any

from compliance import observed
from compliance.facts import Probe
from compliance.parsers import HttpReply, NginxState, NginxTest
from compliance.settings import Settings, Site

PROFILE_SCRIPT = "/etc/profile.d/ollama.sh"
BINARY = "/usr/local/bin/ollama"
UNIT = "ollama.service"
UNIT_PATH = "/etc/systemd/system/ollama.service"
DROPIN_DIRS = ("/etc/systemd/system/ollama.service.d", "/run/systemd/system/ollama.service.d")
UNIT_PROPERTIES = (
    "LoadState",
    "FragmentPath",
    "DropInPaths",
    "ExecStart",
    "Environment",
    "Restart",
    "RestartUSec",
    "User",
    "Group",
    "NeedDaemonReload",
    "UnitFileState",
    "ActiveState",
    "SubState",
    "MainPID",
    "NRestarts",
    "InvocationID",
    "ExecMainStartTimestamp",
)
DIRECT_TAGS_URL = "http://127.0.0.1:11434/api/tags"
HTTP_TRAILER = "@@http"


def curl(url: str, seconds: int = 5) -> str:
    """curl printing the body, then a trailer line with status and content type.

    Bounded like the runner's own requests: `--max-time` for the whole exchange and
    `--max-filesize` at the same byte cap (curl < 8.4 applies it only to a body whose length
    is announced up front).
    """
    from compliance.http import MAX_BODY  # here: only this function of the module needs it

    trailer = quote(f"\\n{HTTP_TRAILER} %{{http_code}} %{{content_type}}")
    return f"curl -sS --max-time {seconds} --max-filesize {MAX_BODY} -w {trailer} {quote(url)}"


def file_command(path: str, stat: str = "%U:%G %a") -> str:
    """Owner and mode, then the exact content framed by observed.END; `missing` if absent."""
    p = quote(path)
    return (
        f"if [ -f {p} ]; then stat -L -c {quote(stat)} {p} && cat {p} && "
        f"printf '%s' {observed.END}; else echo {observed.MISSING}; exit 1; fi"
    )


def files_command(*patterns: str) -> str:
    """Owner, mode and exact content of every regular file matching the (unquoted) patterns."""
    stat = "$(stat -L -c '%U:%G %a' \"$f\")"
    return (
        f'for f in {" ".join(patterns)}; do [ -f "$f" ] || continue; '
        f'printf \'{observed.FILE_HEAD}%s %s\\n\' "{stat}" "$f"; '
        f"cat \"$f\"; printf '%s\\n' {observed.END}; done; true"
    )


# -- inside the container -----------------------------------------------------------------

PROFILE = Probe("profile", file_command(PROFILE_SCRIPT), parse=observed.file_state_of)
LOGIN_PATH = Probe(
    "login_path", 'env -i bash -lc \'printf "%s\\n" "$PATH"\'', parse=observed.login_shell_of
)
LOGIN_WHICH = Probe(
    "login_which",
    "p=$(env -i bash -lc 'command -v ollama'); printf '%s\\n' \"$p\"; "
    '[ -n "$p" ] && [ -f "$p" ] && [ -x "$p" ] && echo executable',
    parse=observed.which_of,
)
BINARY_PRESENT = Probe("binary", f"ls -l {BINARY}", parse=observed.exists_of)
UNIT_SHOW = Probe(
    "unit_show",
    f"systemctl show --timestamp=unix {UNIT} {' '.join(f'-p {p}' for p in UNIT_PROPERTIES)}; "
    "echo Now=@$(date +%s)",
    parse=observed.unit_state_of,
)
UNIT_FILES = Probe(
    "unit_files",
    files_command(
        UNIT_PATH,
        *(f"{d}/*.conf" for d in DROPIN_DIRS),
        f"$(systemctl show -p DropInPaths --value {UNIT})",
    ),
    "cat the unit and every drop-in systemd reads for it",
    parse=observed.files_of,
)
MAIN_ENV = Probe(
    "main_env",
    f"pid=$(systemctl show -p MainPID --value {UNIT}); "
    '[ "${pid:-0}" -gt 0 ] && echo "pid $pid" && tr "\\0" "\\n" < /proc/$pid/environ '
    '| grep "^OLLAMA_"; [ "${pid:-0}" -gt 0 ]',
    parse=observed.main_env_of,
)
UNIT_ENABLED = Probe("unit_enabled", f"systemctl is-enabled {UNIT}", parse=observed.stripped_of)
JOURNAL = Probe(
    "journal",
    f"inv=$(systemctl show -p InvocationID --value {UNIT}); "
    '[ -n "$inv" ] || { echo "no invocation of the unit"; exit 1; }; '
    'journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$inv" '
    "| grep -aiE 'Listening on|bind:|panic|permission denied|level=ERROR|^Error: ' "
    "| tail -n 40",
    parse=observed.journal_of,
)
LISTEN = Probe("listen", "ss -H -tlnp 'sport = :11434'", parse=observed.listeners_of)
DIRECT_TAGS = Probe("direct_tags", curl(DIRECT_TAGS_URL), parse=observed.http_of)
ADDRESSES = Probe("addresses", "ip -4 -o addr show scope global", parse=observed.addresses_of)

CT_PROBES: tuple[Probe[Any], ...] = (
    PROFILE,
    LOGIN_PATH,
    LOGIN_WHICH,
    BINARY_PRESENT,
    UNIT_SHOW,
    UNIT_FILES,
    MAIN_ENV,
    UNIT_ENABLED,
    JOURNAL,
    LISTEN,
    DIRECT_TAGS,
    ADDRESSES,
)


DIRECT_VERSION = Probe(
    "direct_version", curl("http://127.0.0.1:11434/api/version"), parse=observed.http_of
)


GUARD_RULES = "/etc/ollama-guard.nft"
GUARD_UNIT = "/etc/systemd/system/ollama-guard.service"
GUARD = Probe(
    "guard",
    files_command(GUARD_RULES, GUARD_UNIT)
    + "; command -v nft >/dev/null && echo @@nft"
    + "; nft list table inet ollama_guard >/dev/null 2>&1 && echo @@loaded; true",
    "cat the guard's rules and unit; is nft there, is the table loaded",
    parse=observed.guard_of,
)


def ct_probes(settings: Settings | None = None) -> list[Probe[Any]]:
    """Everything the container checks read, inside the container (more when hardened)."""
    hardened = settings is not None and settings.hardened
    return [*CT_PROBES, DIRECT_VERSION, GUARD] if hardened else list(CT_PROBES)


# -- on the Proxmox host ------------------------------------------------------------------

NGINX_STATE_SCRIPT = """pid=$(cat /run/nginx.pid 2>/dev/null)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  echo "master $pid"
  for w in $(pgrep -P "$pid"); do
    tr '\\0' ' ' < /proc/$w/cmdline | grep -q 'shutting down' && continue
    echo "worker $w $(cut -d' ' -f22 /proc/$w/stat)"
  done
fi
echo "clock $(date +%%s.%%N) $(cut -d' ' -f1 /proc/uptime)"
echo "hz $(getconf CLK_TCK)"
read=$(nginx -T 2>/dev/null | sed -n 's/^# configuration file \\(.*\\):$/\\1/p')
for f in /etc/nginx/nginx.conf /etc/nginx/sites-enabled /etc/nginx/sites-enabled/* $read %s; do
  [ -e "$f" ] && echo "mtime $(stat -L -c %%.Y "$f") $f"
  [ -L "$f" ] && echo "mtime $(stat -c %%.Y "$f") $f (link)"
done
true"""

NGINX_T: Probe[NginxTest] = Probe(
    "nginx_t", "nginx -t", parse=observed.nginx_test_of, target="host"
)
HOST_ADDRESSES = Probe(
    "host_addresses", "ip -4 -o addr show", parse=observed.interfaces_of, target="host"
)
INIT = Probe(
    "init",
    "[ -d /run/systemd/system ] && echo systemd || echo sysv",
    parse=observed.stripped_of,
    target="host",
)


def nginx_state(settings: Settings) -> Probe[NginxState]:
    """Master from /run/nginx.pid, worker start times, the mtimes of every config file."""
    files = " ".join(quote(settings.site(ctid).site_file) for ctid in settings.ctids)
    return Probe(
        "nginx_state",
        NGINX_STATE_SCRIPT % files,
        "nginx state: master pid, worker start times, mtimes of every file nginx -T reads",
        parse=observed.nginx_state_of,
        target="host",
    )


@dataclass(frozen=True)
class SiteProbes:
    """The host's probes about one container and its site."""

    status: Probe[str]
    config: Probe[dict[str, str]]
    site: Probe[observed.SiteState]
    link: Probe[observed.LinkState]

    def all(self) -> tuple[Probe[Any], ...]:
        return (self.status, self.config, self.site, self.link)


@lru_cache(maxsize=256)
def for_site(site: Site, transport: str) -> SiteProbes:
    """The probes of one container's site (their names carry the ctid: one store per host)."""
    ctid, link = quote(site.ctid), quote(site.site_link)
    if transport == "pct":
        status, config = f"pct status {ctid}", f"pct config {ctid}"
    else:
        status, config = f"echo status: $(lxc-info -n {ctid} -sH | tr A-Z a-z)", "true"
    return SiteProbes(
        status=Probe(f"ct_status_{site.ctid}", status, parse=observed.ct_status_of, target="host"),
        config=Probe(f"ct_config_{site.ctid}", config, parse=observed.ct_config_of, target="host"),
        site=Probe(
            f"site_{site.ctid}",
            file_command(site.site_file, "%U:%G %a"),
            parse=observed.site_state_of,
            target="host",
        ),
        link=Probe(
            f"site_link_{site.ctid}",
            f"if [ -L {link} ]; then echo link $(readlink {link}); [ -e {link} ] || "
            f"echo dangling; elif [ -e {link} ]; then echo not-a-link; else echo missing; fi",
            parse=observed.link_state_parser(site.site_link),
            target="host",
        ),
    )


def pve_probes(settings: Settings) -> list[Probe[Any]]:
    """Everything the host checks read, on the Proxmox host (site probes per container)."""
    probes: list[Probe[Any]] = [NGINX_T, nginx_state(settings), INIT, HOST_ADDRESSES]
    for ctid in settings.ctids:
        probes += for_site(settings.site(ctid), settings.transport).all()
    return probes


# -- on the runner ------------------------------------------------------------------------


def proxied_tags(url: str) -> Probe[HttpReply | None]:
    """GET <proxy>/api/tags from the machine running pytest (requests, no proxy variables)."""
    return Probe("proxied_tags", f"GET {url}", parse=observed.runner_http_of, target="runner")


def proxied(name: str, method: str, url: str) -> Probe[HttpReply | None]:
    """Another request through the proxy from the runner (a write is sent an empty `{}`)."""
    return Probe(name, f"{method} {url}", parse=observed.runner_http_of, target="runner")


def reach(vantage: str, url: str) -> Probe[Any]:
    """Whether `url` answers from `vantage`: `runner` (requests) or `netns:NAME` (curl in that
    network namespace on the Proxmox host)."""
    if vantage.startswith("netns:"):
        netns = quote(vantage.partition(":")[2])
        return Probe(
            "reach_" + vantage,
            f"ip netns exec {netns} curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 "
            f"{quote(url)}",
            parse=observed.http_code_of,
            target="host",
        )
    return Probe("reach_runner", f"GET {url}", parse=observed.runner_http_of, target="runner")


def proxied_stream(url: str, model: str) -> Probe[Any]:
    """A streamed /api/generate through the proxy, timed chunk by chunk (runner)."""
    from compliance import streaming

    return Probe(
        "proxied_stream", f"STREAM {url} {model}", parse=streaming.timing_of, target="runner"
    )

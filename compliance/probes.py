"""The read-only commands behind every check, per target. Values are shell-quoted here."""

from __future__ import annotations

from shlex import quote

from compliance.facts import Probe
from compliance.settings import Settings

PROFILE_SCRIPT = "/etc/profile.d/ollama.sh"
BINARY = "/usr/local/bin/ollama"
UNIT = "ollama.service"
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
    """curl printing the body, then a trailer line with status and content type."""
    trailer = quote(f"\\n{HTTP_TRAILER} %{{http_code}} %{{content_type}}")
    return f"curl -sS --max-time {seconds} -w {trailer} {quote(url)}"


def ct_probes() -> list[Probe]:
    """Everything the container checks read, inside the container."""
    props = " ".join(f"-p {p}" for p in UNIT_PROPERTIES)
    return [
        Probe("profile", f"stat -c '%U:%G %a %F' {PROFILE_SCRIPT} && cat {PROFILE_SCRIPT}"),
        Probe("login_path", 'env -i bash -lc \'printf "%s\\n" "$PATH"\''),
        Probe(
            "login_which",
            "p=$(env -i bash -lc 'command -v ollama'); printf '%s\\n' \"$p\"; "
            '[ -n "$p" ] && [ -f "$p" ] && [ -x "$p" ] && echo executable',
        ),
        Probe("binary", f"ls -l {BINARY}"),
        Probe(
            "unit_show", f"systemctl show --timestamp=unix {UNIT} {props}; echo Now=@$(date +%s)"
        ),
        Probe(
            "main_env",
            f"pid=$(systemctl show -p MainPID --value {UNIT}); "
            '[ "${pid:-0}" -gt 0 ] && tr "\\0" "\\n" < /proc/$pid/environ | grep "^OLLAMA_"',
        ),
        Probe("unit_enabled", f"systemctl is-enabled {UNIT}"),
        Probe(
            "journal",
            f"inv=$(systemctl show -p InvocationID --value {UNIT}); "
            '[ -n "$inv" ] || { echo "no invocation of the unit"; exit 1; }; '
            'journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$inv" '
            "| grep -aiE 'Listening on|bind:|panic|permission denied|level=ERROR|^Error: ' "
            "| tail -n 40",
        ),
        Probe("listen", "ss -H -tlnp 'sport = :11434'"),
        Probe("direct_tags", curl(DIRECT_TAGS_URL)),
        Probe("addresses", "ip -4 -o addr show scope global"),
    ]


NGINX_STATE = """pid=$(cat /run/nginx.pid 2>/dev/null)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  echo "master $pid"
  for w in $(pgrep -P "$pid"); do echo "worker $w $(cut -d' ' -f22 /proc/$w/stat)"; done
fi
echo "clock $(date +%%s.%%N) $(cut -d' ' -f1 /proc/uptime)"
echo "hz $(getconf CLK_TCK)"
for f in /etc/nginx/nginx.conf /etc/nginx/sites-enabled /etc/nginx/sites-enabled/* %s; do
  [ -e "$f" ] && echo "mtime $(stat -L -c %%.Y "$f") $f"
  [ -L "$f" ] && echo "mtime $(stat -c %%.Y "$f") $f (link)"
done
true"""


def pve_probes(settings: Settings) -> list[Probe]:
    """Everything the host checks read, on the Proxmox host (site probes per container)."""
    sites = [settings.site(ctid) for ctid in settings.ctids]
    site_files = " ".join(quote(site.site_file) for site in sites)
    probes = [
        Probe("nginx_t", "nginx -t"),
        Probe(
            "nginx_state",
            NGINX_STATE % site_files,
            "nginx state: master from /run/nginx.pid, worker start times, config file mtimes",
        ),
        Probe("init", "[ -d /run/systemd/system ] && echo systemd || echo sysv"),
    ]
    for site in sites:
        ctid, path, link = quote(site.ctid), quote(site.site_file), quote(site.site_link)
        probes.append(Probe(f"site_{site.ctid}", f"stat -c '%U:%G %a' {path} && cat {path}"))
        probes.append(
            Probe(
                f"site_link_{site.ctid}",
                f"if [ -L {link} ]; then echo link $(readlink {link}); "
                f"elif [ -e {link} ]; then echo not-a-link; else echo missing; fi",
            )
        )
        if settings.transport == "pct":
            probes.append(Probe(f"ct_status_{site.ctid}", f"pct status {ctid}"))
            probes.append(Probe(f"ct_config_{site.ctid}", f"pct config {ctid}"))
        else:
            status = f"echo status: $(lxc-info -n {ctid} -sH | tr A-Z a-z)"
            probes.append(Probe(f"ct_status_{site.ctid}", status))
            probes.append(Probe(f"ct_config_{site.ctid}", "true"))
    return probes

"""Report what the lab looks like now, one line per part."""

from __future__ import annotations

from collections.abc import Callable

from lab import config, container, nginx, sshlab
from lab.plan import site_for
from lab.shell import LabError, ct_run

CT_PARTS = f"""
[ -f {config.CT_BINARY} ] && echo binary=yes || echo binary=no
[ -f {config.CT_PROFILE} ] && echo profile.d=yes || echo profile.d=no
[ -f {config.CT_UNIT} ] && echo unit=yes || echo unit=no
echo "enabled=$(systemctl is-enabled ollama.service 2>/dev/null || true)"
echo "active=$(systemctl is-active ollama.service 2>/dev/null || true)"
"""


def _container_line(ctid: int) -> str:
    state = container.state(ctid)
    if state != "RUNNING":
        return f"CT {ctid}: {state.lower()}"
    try:
        ip = container.ct_ip(ctid)
    except LabError:
        ip = "no IPv4"
    parts = ct_run(ctid, CT_PARTS, check=False).stdout.split()
    site = site_for(ctid)
    parts += [
        f"site={'yes' if site.file.is_file() else 'no'}",
        f"link={'yes' if site.link.is_symlink() else 'no'}",
        f"proxy={nginx.http_status(site.proxy_url + 'api/tags', timeout=2) or 'down'}",
    ]
    return f"CT {ctid}: running at {ip}; " + " ".join(p for p in parts if not p.endswith("="))


def status(say: Callable[[str], None] = print) -> None:
    """CT state and IP, plan parts present, nginx, lab ssh."""
    ctids = container.lab_containers()
    if not ctids:
        say(f"CT {config.CTID}: does not exist (run lab/up)")
    for ctid in ctids:
        say(_container_line(ctid))
    master = nginx.master_pid()
    if master is None:
        say("nginx: not running")
    else:
        say(f"nginx: running (master {master}, workers {nginx.worker_pids(master)})")
    if sshlab.sshd_pid() is None:
        say(f"ssh: lab sshd not running on 127.0.0.1:{config.SSH_PORT}")
    else:
        try:
            sshlab.ssh("true", timeout=10)
            say(f"ssh: ok (ssh -F {config.SSH_CONFIG} proxmox)")
        except LabError as exc:
            say(f"ssh: failing: {exc}")

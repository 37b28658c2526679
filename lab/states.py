"""Lab states: the plan's starting point (reset), the plan done by hand (make_compliant), faults.

Everything runs locally: host commands directly, container commands through lxc-attach. Public
API for the suite's self-tests:

    reset(ctid=955)                  manual-setup state, from any state
    make_compliant(ctid=955)         reset, then the plan's sections 3-5 by hand
    apply_fault(name, ctid=955)      make_compliant, then break one thing (see FAULTS)
    FAULTS: dict[str, Fault]         name, description, apply, shared, own, phrase
    ct_ip(ctid) / ct_run(ctid, cmd) / host_run(cmd) / snapshot(ctid) / site_for(ctid)
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from lab import config, container, nginx
from lab.container import ct_ip
from lab.faults import FAULTS, Fault
from lab.plan import PROFILE_SCRIPT, UNIT, Site, site_for
from lab.shell import LabError, ct_run, host_run
from lab.snapshot import snapshot

__all__ = [
    "FAULTS",
    "Fault",
    "LabError",
    "Site",
    "apply_fault",
    "ct_ip",
    "ct_run",
    "host_run",
    "make_compliant",
    "reset",
    "site_for",
    "snapshot",
]

# Matches `ollama serve` processes: the real binary, the stand-in under python3, a hidden copy.
SERVE_PATTERN = "^([^ ]*/)?(python3[.0-9]* +)?[^ ]*ollama[^ ]* +serve"

CT_RESET_SCRIPT = f"""
pat='{SERVE_PATTERN}'
chattr -i {config.CT_UNIT} 2>/dev/null
pkill -CONT -f "$pat" 2>/dev/null
systemctl stop ollama.service 2>/dev/null
systemctl disable ollama.service >/dev/null 2>&1
rm -rf {config.CT_UNIT} {config.CT_UNIT}.* /etc/systemd/system/.ollama.service* \\
    /etc/systemd/system/*.wants/ollama.service /run/systemd/system/ollama.service*
systemctl daemon-reload
systemctl reset-failed ollama.service 2>/dev/null
pkill -KILL -f "$pat" 2>/dev/null
rm -f {config.CT_PROFILE} {config.CT_PROFILE}.* /etc/profile.d/.ollama.sh* \\
    {config.CT_HIDDEN_BINARY} {config.CT_PROFILE_ELSEWHERE}
rm -rf {config.CT_OPERATOR_MODELS} {config.CT_INSTALLER_HOME}/.ollama
rm -f /etc/default/ollama /etc/systemd/system/service.d/50-lab-env.conf
rmdir /etc/systemd/system/service.d 2>/dev/null
systemctl unset-environment OLLAMA_HOST
systemctl disable --now ollama-guard.service >/dev/null 2>&1
rm -f /etc/ollama-guard.nft /etc/.ollama-guard.nft* /etc/systemd/system/ollama-guard.service \
    /etc/systemd/system/.ollama-guard.service*
nft delete table inet ollama_guard 2>/dev/null
[ -f /etc/.nftables.conf.lab-original ] && mv -f /etc/.nftables.conf.lab-original /etc/nftables.conf
systemctl disable nftables.service >/dev/null 2>&1
systemctl daemon-reload
true
"""

CT_COMPLIANT_SCRIPT = f"""
set -e
umask 022
cat > {config.CT_PROFILE} <<'LAB_EOF'
{PROFILE_SCRIPT}LAB_EOF
chmod 0644 {config.CT_PROFILE}
cat > {config.CT_UNIT} <<'LAB_EOF'
{UNIT}LAB_EOF
chmod 0644 {config.CT_UNIT}
systemctl daemon-reload
systemctl enable ollama.service 2>/dev/null
systemctl start ollama.service
i=0
until curl -fs -o /dev/null http://127.0.0.1:{config.OLLAMA_PORT}/api/tags; do
    i=$((i + 1))
    [ $i -le 150 ] || {{ echo "ollama did not answer on 127.0.0.1:11434 within 15 s" >&2; exit 1; }}
    sleep 0.1
done
"""


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _reset_container(ctid: int) -> None:
    container.start(ctid)
    ct_run(ctid, CT_RESET_SCRIPT, timeout=150)
    container.write_file(ctid, config.CT_BINARY, config.STANDIN.read_text(), "0755")
    container.write_file(ctid, config.CT_MODELS_FILE, config.DEFAULT_MODELS.read_text())


def _reset_host(site: Site) -> None:
    """Remove this CT's site and link, fault leftovers and strays; keep other lab CTs' sites."""
    ours = [config.FULL_FS_NAME, str(config.SITES_AVAILABLE), "tmpfs"]
    mounts = Path("/proc/mounts").read_text().splitlines()
    if any(line.split()[:3] == ours for line in mounts):
        # site_fs_full's tmpfs: the files under it are as they were before the fault
        host_run(["umount", str(config.SITES_AVAILABLE)])
    if config.NGINX_CONF_ORIGINAL.exists():  # a fault edited nginx.conf: put Debian's back
        config.NGINX_CONF.write_text(config.NGINX_CONF_ORIGINAL.read_text())
        config.NGINX_CONF_ORIGINAL.unlink()
    others = {site_for(c).link.name for c in container.lab_containers() if c != site.ctid}
    keep = {"default", *others}
    for entry in config.SITES_ENABLED.iterdir():
        if entry.name not in keep:
            _remove(entry)
    if config.SITES_AVAILABLE.is_dir():
        name = site.file.name
        for stray in [site.file, *config.SITES_AVAILABLE.glob(f".{name}*")]:
            _remove(stray)
        for stray in config.SITES_AVAILABLE.glob(f"{name}[.~]*"):
            _remove(stray)
    default_link = config.SITES_ENABLED / "default"
    if not default_link.is_symlink() and config.DEFAULT_SITE.is_file():
        _remove(default_link)
        default_link.symlink_to(config.DEFAULT_SITE)
    nginx.test()
    nginx.reload()


def reset(ctid: int = config.CTID) -> None:
    """Manual-setup state: the CT runs with the stand-in binary, no part of plan sections 3-5."""
    _remove(config.pve_lock_mark(ctid))  # a lock (ct_locked_backup) first: pct set refuses
    host_run(["pct", "set", str(ctid), "-onboot", "0"])
    _remove(config.PVE_FIREWALL_DIR / f"{ctid}.fw")  # cluster.fw stays: it is every CT's
    _remove(config.nic_firewall_mark(ctid))
    _remove(config.PVE_FIREWALL_RUNNING)  # the stand-in's pve-firewall: stopped
    _reset_container(ctid)
    with nginx.locked():
        _reset_host(site_for(ctid))


def make_compliant(ctid: int = config.CTID) -> None:
    """reset, then the plan's sections 3-5 by hand, verified through the proxy."""
    reset(ctid)
    ct_run(ctid, CT_COMPLIANT_SCRIPT, timeout=60)
    site = site_for(ctid)
    with nginx.locked():
        site.write(site.render(ct_ip(ctid)))
        _remove(site.link)
        site.link.symlink_to(site.file)
        nginx.test()
        nginx.reload()
    nginx.wait_http(site.proxy_url + "api/tags", 200)


# The guard an operator would write by hand (not taken from the suite): 11434 from the host only.
GUARD_SCRIPT = """
cat > /etc/ollama-guard.nft <<'LAB_EOF'
table inet ollama_guard
delete table inet ollama_guard
table inet ollama_guard {{
    chain input {{
        type filter hook input priority filter; policy accept;
        tcp dport 11434 iifname "lo" accept
        tcp dport 11434 ip saddr {host} accept
        tcp dport 11434 reject with tcp reset
    }}
}}
LAB_EOF
nft -f /etc/ollama-guard.nft
cp -n /etc/nftables.conf /etc/.nftables.conf.lab-original
grep -q ollama-guard /etc/nftables.conf \\
    || echo 'include "/etc/ollama-guard.nft"' >> /etc/nftables.conf
systemctl enable nftables.service 2>/dev/null
"""


def make_hardened(ctid: int = config.CTID) -> None:
    """make_compliant, then the hardened profile by hand: the site's additions, onboot 1."""
    make_compliant(ctid)
    site = site_for(ctid)
    with nginx.locked():
        site.write(site.render(ct_ip(ctid), hardened=True))
        nginx.test()
        nginx.reload()
    host_run(["pct", "set", str(ctid), "-onboot", "1"])
    ct_run(ctid, GUARD_SCRIPT.format(host=config.BRIDGE_ADDRESS), timeout=60)
    nginx.wait_http(site.proxy_url + "api/tags", 200)


def apply_fault(name: str, ctid: int = config.CTID) -> Fault:
    """make_compliant (make_hardened for a hardened fault), then break what FAULTS[name]
    describes; returns the Fault."""
    fault = FAULTS.get(name)
    if fault is None:
        raise LabError(f"unknown fault {name!r} (known: {', '.join(FAULTS)})")
    (make_hardened if fault.profile == "hardened" else make_compliant)(ctid)
    with nginx.locked():
        fault.apply(ctid)
    return fault

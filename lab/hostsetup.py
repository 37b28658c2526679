"""Host prerequisites: Debian packages, the lxc bridge, the pct stand-in."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lab import config
from lab.shell import LabError, host_run, wait_until

APT_ENV = "DEBIAN_FRONTEND=noninteractive"


def missing_packages() -> list[str]:
    """Host packages from config.HOST_PACKAGES that dpkg does not list as installed."""
    proc = host_run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n", *config.HOST_PACKAGES],
        check=False,
    )
    installed = {
        line.split()[0] for line in proc.stdout.splitlines() if line.split()[1:2] == ["ii"]
    }
    return [p for p in config.HOST_PACKAGES if p not in installed]


def ensure_packages() -> list[str]:
    """apt-get install whatever is missing (updating the lists once if needed)."""
    missing = missing_packages()
    if not missing:
        return []
    install = f"{APT_ENV} apt-get install -y -q " + " ".join(missing)
    if host_run(install, check=False, timeout=1800).returncode != 0:
        host_run(f"{APT_ENV} apt-get update -q", timeout=600)
        host_run(install, timeout=1800)
    return missing


def bridge_up() -> bool:
    return host_run(["ip", "link", "show", config.BRIDGE], check=False).returncode == 0


def _dnsmasq_running() -> bool:
    try:
        pid = int(Path("/run/lxc/dnsmasq.pid").read_text().strip())
    except (OSError, ValueError):
        return False
    return Path(f"/proc/{pid}").exists()


def ensure_bridge() -> bool:
    """Start lxc-net (bridge lxcbr0 + dnsmasq DHCP) if the bridge is absent; True if started."""
    if bridge_up():
        if not _dnsmasq_running():
            raise LabError(
                f"{config.BRIDGE} is up but lxc-net's dnsmasq is not: run"
                f" '{config.LXC_NET} stop' and lab/up again (running CTs then need a restart)"
            )
        return False
    if Path("/run/lxc/network_up").exists():  # stale marker: lxc-net start would refuse
        host_run([config.LXC_NET, "stop", "force"], check=False)
    host_run([config.LXC_NET, "start"])
    wait_until(f"bridge {config.BRIDGE}", bridge_up, 10)
    return True


def ensure_pct() -> bool:
    """Install lab/pct as /usr/local/sbin/pct (0755) when it differs; True if written."""
    source = config.PCT_SOURCE.read_bytes()
    target = config.PCT_INSTALLED
    if target.is_file() and target.read_bytes() == source and os.access(target, os.X_OK):
        return False
    tmp = target.with_name(".pct.lab-tmp")
    tmp.write_bytes(source)
    tmp.chmod(0o755)
    os.replace(tmp, target)
    return True


def require_tools() -> None:
    """Fail early with a clear message when a needed command is still missing."""
    for tool in ("lxc-create", "lxc-attach", "nginx", "ssh-keygen", "ssh"):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} not found after installing packages")

"""Host prerequisites: Debian packages, the lxc bridge, the pct and pve-firewall stand-ins."""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lab import config
from lab.shell import LabError, host_run, live_pid, wait_until

APT_ENV = "DEBIAN_FRONTEND=noninteractive"


def missing_packages(packages: Sequence[str] = config.HOST_PACKAGES) -> list[str]:
    """Host packages (config.HOST_PACKAGES by default) that dpkg does not list as installed."""
    proc = host_run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n", *packages],
        check=False,
    )
    installed = {
        line.split()[0] for line in proc.stdout.splitlines() if line.split()[1:2] == ["ii"]
    }
    return [p for p in packages if p not in installed]


def ensure_packages(packages: Sequence[str] = config.HOST_PACKAGES) -> list[str]:
    """apt-get install whatever is missing (updating the lists once if needed)."""
    missing = missing_packages(packages)
    if not missing:
        return []
    install = f"{APT_ENV} apt-get install -y -q " + " ".join(missing)
    if host_run(install, check=False, timeout=1800).returncode != 0:
        host_run(f"{APT_ENV} apt-get update -q", timeout=600)
        host_run(install, timeout=1800)
    return missing


def bridge_up() -> bool:
    return host_run(["ip", "link", "show", config.BRIDGE], check=False).returncode == 0


DNSMASQ_PID = Path("/run/lxc/dnsmasq.pid")
NETWORK_UP = Path("/run/lxc/network_up")


def _dnsmasq_running() -> bool:
    """lxc-net's dnsmasq is alive: its pid file names a live process called dnsmasq."""
    return live_pid(DNSMASQ_PID, "dnsmasq") is not None


def ensure_bridge() -> bool:
    """lxc-net up: bridge lxcbr0 with its dnsmasq DHCP; True if (re)started.

    Processes can die while /run survives (a killed session, a crashed dnsmasq): the bridge is
    then up with no DHCP server, and lxc-net's own marker makes `start` refuse. The stale pid
    file is removed first (lxc-net's stop would `kill -9` whatever now has that pid), then
    `stop force` + `start`. A bridge with attached veths survives the stop, so running
    containers keep their links, and dnsmasq comes back with the same lease file.
    """
    if bridge_up() and _dnsmasq_running():
        return False
    if not _dnsmasq_running():
        DNSMASQ_PID.unlink(missing_ok=True)
    if NETWORK_UP.exists() or bridge_up():
        host_run([config.LXC_NET, "stop", "force"], check=False)
    host_run([config.LXC_NET, "start"])
    wait_until(
        f"bridge {config.BRIDGE} with dnsmasq", lambda: bridge_up() and _dnsmasq_running(), 10
    )
    return True


def _install(source: Path, target: Path) -> bool:
    """Install `source` as `target` (0755) when it differs; True if written."""
    text = source.read_bytes()
    if target.is_file() and target.read_bytes() == text and os.access(target, os.X_OK):
        return False
    tmp = target.with_name(f".{target.name}.lab-tmp")
    tmp.write_bytes(text)
    tmp.chmod(0o755)
    os.replace(tmp, target)
    return True


def ensure_pct() -> bool:
    """Install lab/pct as /usr/local/sbin/pct (0755) when it differs; True if written."""
    return _install(config.PCT_SOURCE, config.PCT_INSTALLED)


def ensure_pve_firewall() -> bool:
    """Install the pve-firewall stand-in (`status` only) as /usr/local/sbin/pve-firewall when
    it differs; True if written."""
    return _install(config.PVE_FIREWALL_SOURCE, config.PVE_FIREWALL_INSTALLED)


def ensure_promtool() -> bool:
    """promtool from Debian's prometheus package, unpacked into lab/.state (the server is not
    installed, so nothing starts); True if it was fetched."""
    if os.access(config.PROMTOOL, os.X_OK):
        return False
    with tempfile.TemporaryDirectory(prefix="lab-promtool-") as folder:
        host_run(f"cd {shlex.quote(folder)} && apt-get download -q prometheus", timeout=600)
        deb = next(Path(folder).glob("prometheus_*.deb"))
        host_run(["dpkg-deb", "-x", str(deb), f"{folder}/root"], timeout=300)
        config.STATE_DIR.mkdir(mode=0o700, exist_ok=True)
        staged = config.PROMTOOL.with_name(".promtool.new")
        shutil.copy2(f"{folder}/root/usr/bin/promtool", staged)
        os.replace(staged, config.PROMTOOL)
    return True


def require_tools() -> None:
    """Fail early with a clear message when a needed command is still missing."""
    for tool in ("lxc-create", "lxc-attach", "nginx", "ssh-keygen", "ssh"):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} not found after installing packages")

"""The lab's LXC containers: create, clone, start, stop, wait, address, file install."""

from __future__ import annotations

import ipaddress
import shlex
import uuid

from lab import config
from lab.shell import LabError, ct_run, host_run, wait_until


def exists(ctid: int | str) -> bool:
    """Whether LXC knows container ctid (its config file is there)."""
    return (config.LXC_PATH / str(ctid) / "config").is_file()


def lab_containers() -> list[int]:
    """Every existing container whose numeric name is in the lab's range (955..999)."""
    if not config.LXC_PATH.is_dir():
        return []
    found = [int(p.name) for p in config.LXC_PATH.iterdir() if p.name.isdigit()]
    return sorted(c for c in found if c in config.CT_RANGE and exists(c))


def require(ctid: int) -> None:
    """Fail with a hint when ctid does not exist."""
    if not exists(ctid):
        raise LabError(f"container {ctid} does not exist: run lab/up first")


def state(ctid: int | str) -> str:
    """RUNNING, STOPPED, FROZEN, ... as lxc-info reports it."""
    return host_run(["lxc-info", "-n", str(ctid), "-sH"]).stdout.strip()


def ct_ip(ctid: int) -> str:
    """The container's IPv4 address on eth0, or LabError if it has none."""
    out = ct_run(ctid, "ip -4 -o addr show dev eth0 scope global", check=False).stdout
    for field in out.split():
        addr = field.split("/")[0]
        if "/" in field and _is_ipv4(addr):
            return addr
    raise LabError(f"CT {ctid} has no IPv4 address on eth0 (DHCP from lxc-net?)")


def ct_link_local(ctid: int) -> str:
    """The container's IPv6 link-local address on eth0 (the kernel makes one from its MAC)."""
    out = ct_run(ctid, "ip -6 -o addr show dev eth0 scope link", check=False).stdout
    for field in out.split():
        if field.startswith("fe80:") and "/" in field:
            return field.split("/")[0]
    raise LabError(f"CT {ctid} has no IPv6 link-local address on eth0")


def _is_ipv4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


def _ready(ctid: int) -> str | None:
    """The IPv4 once systemd is up (running or degraded) and eth0 has one."""
    proc = ct_run(ctid, "systemctl is-system-running", check=False, timeout=10)
    if proc.stdout.strip() not in ("running", "degraded"):
        return None
    try:
        return ct_ip(ctid)
    except LabError:
        return None


def start(ctid: int, timeout: float = 90) -> str:
    """Start (or thaw) ctid if needed; wait until systemd runs and eth0 has an IPv4."""
    require(ctid)
    current = state(ctid)
    if current == "FROZEN":
        host_run(["lxc-unfreeze", "-n", str(ctid)])
    elif current != "RUNNING":
        host_run(["lxc-start", "-n", str(ctid)])
    return wait_until(f"CT {ctid} to run systemd and get an IPv4", lambda: _ready(ctid), timeout)


def ensure_packages(ctid: int) -> list[str]:
    """Install the lab's later additions to CT_PACKAGES into an existing CT (from Debian's
    archive, through the bridge's NAT); returns what was installed."""
    missing = [
        name
        for name in config.CT_EXTRA_PACKAGES
        if ct_run(ctid, f"dpkg -s {name} >/dev/null 2>&1", check=False).returncode != 0
    ]
    if missing:
        ct_run(
            ctid,
            "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && "
            f"apt-get install -y -qq --no-install-recommends {' '.join(missing)} >/dev/null",
            timeout=300,
        )
    return missing


def freeze(ctid: int) -> None:
    """Freeze the CT's processes (what vzdump --mode suspend does for its final sync)."""
    host_run(["lxc-freeze", "-n", str(ctid)])


def reboot(ctid: int) -> str:
    """Shut ctid down and start it again (what `pct reboot` does): nothing loaded by hand
    survives, only what its boot configuration loads; returns its IPv4."""
    stop(ctid)
    return start(ctid)


def stop(ctid: int | str) -> bool:
    """Shut ctid down cleanly (bounded, then killed); True if it was running."""
    if state(ctid) == "STOPPED":
        return False
    if state(ctid) == "FROZEN":
        host_run(["lxc-unfreeze", "-n", str(ctid)])
    proc = host_run(["lxc-stop", "-n", str(ctid), "-t", "20"], check=False, timeout=40)
    if proc.returncode != 0 and state(ctid) != "STOPPED":
        host_run(["lxc-stop", "-n", str(ctid), "-k"])
    return True


def create(ctid: int) -> None:
    """lxc-create a Debian bookworm container with systemd and python3 (rootfs is cached)."""
    if (config.LXC_PATH / str(ctid)).exists():
        raise LabError(
            f"{config.LXC_PATH / str(ctid)} exists without a config (an interrupted lxc-create?):"
            f" remove it with lxc-destroy -n {ctid} and run again"
        )
    argv = ["lxc-create", "-n", str(ctid), "-t", "debian", "--"]
    argv += ["-r", "bookworm", f"--packages={config.CT_PACKAGES}"]
    host_run(argv, timeout=1800)


def clone(source: int, targets: list[int]) -> None:
    """lxc-copy source (stopped meanwhile) to each target, with fresh MACs and machine-ids."""
    was_running = stop(source)
    try:
        for target in targets:
            host_run(["lxc-copy", "-n", str(source), "-N", str(target)], timeout=600)
            rootfs = config.LXC_PATH / str(target) / "rootfs"
            (rootfs / "etc" / "machine-id").write_text(uuid.uuid4().hex + "\n")
            for lease in (rootfs / "var" / "lib" / "dhcp").glob("*.leases"):
                lease.unlink()
    finally:
        if was_running:
            start(source)


def write_file(ctid: int, path: str, content: str, mode: str = "0644") -> None:
    """Install content at path in ctid atomically (root-owned, given mode)."""
    q = shlex.quote(path)
    ct_run(
        ctid,
        f'umask 022 && mkdir -p "$(dirname {q})" && cat > {q}.lab-tmp'
        f" && chmod {mode} {q}.lab-tmp && mv -f {q}.lab-tmp {q}",
        input=content,
    )

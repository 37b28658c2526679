"""The stand-in for the Proxmox host's systemd: a container where the suite's schedule is
installed, started and read back (`python3 -m compliance.schedule`).

The lab's "Proxmox host" is this machine, which has no systemd as PID 1. The stand-in sees the
suite exactly where the host would: the same Python and the same checkout at the same paths
(read-only bind mounts), and the lab's sshd and nginx at 127.0.0.1 (systemd socket proxies to
the host's address on the lab bridge).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from lab import config, container
from lab.shell import LabError, host_run, wait_until

NAME = config.SYSTEMD_CT
CONFIG = config.LXC_PATH / NAME / "config"
ROOTFS = config.LXC_PATH / NAME / "rootfs"
MARK = "# ollama-lab: the suite's Python and checkout, at the host's paths"
PROXY = "/lib/systemd/systemd-socket-proxyd"


def python_prefix() -> Path:
    """The installation the suite runs from (its interpreter, libraries and packages)."""
    return Path(sys.prefix).resolve()


def mounts() -> list[Path]:
    return [python_prefix(), config.REPO_DIR]


def _mount_lines() -> list[str]:
    return [
        f"lxc.mount.entry = {p} {str(p).lstrip('/')} none bind,ro,create=dir 0 0" for p in mounts()
    ]


def _write_config() -> bool:
    """Our mount entries at the end of the container's config; True if they changed."""
    text = CONFIG.read_text()
    kept = text.split(f"\n{MARK}\n", 1)[0].rstrip("\n")
    wanted = "\n".join([kept, MARK, *_mount_lines()]) + "\n"
    if wanted == text:
        return False
    CONFIG.write_text(wanted)
    return True


def _forward_units() -> dict[str, str]:
    """A socket unit and its proxy service per forwarded port."""
    units = {}
    for port in config.SYSTEMD_CT_FORWARDS:
        name = f"lab-host-{port}"
        units[f"{name}.socket"] = (
            f"[Unit]\nDescription=The lab host's port {port} at 127.0.0.1:{port}\n\n"
            f"[Socket]\nListenStream=127.0.0.1:{port}\n\n[Install]\nWantedBy=sockets.target\n"
        )
        units[f"{name}.service"] = (
            f"[Unit]\nDescription=Proxy 127.0.0.1:{port} to the lab host\n"
            f"Requires={name}.socket\nAfter={name}.socket\n\n"
            f"[Service]\nExecStart={PROXY} {config.BRIDGE_ADDRESS}:{port}\n"
        )
    return units


def _install_forwards() -> None:
    unit_dir = ROOTFS / "etc/systemd/system"
    changed = False
    for name, text in _forward_units().items():
        path = unit_dir / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed = True
    sockets = " ".join(n for n in _forward_units() if n.endswith(".socket"))
    reload = "systemctl daemon-reload && " if changed else ""
    run(f"{reload}systemctl enable --now {sockets} >/dev/null 2>&1 || systemctl start {sockets}")


def run(cmd: str, *, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """A shell command in the stand-in, as root with a login-like PATH."""
    argv = ["lxc-attach", "-n", NAME, "--clear-env", "-v", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    try:
        return host_run([*argv, "--", "sh", "-c", cmd], check=check, timeout=timeout)
    except LabError as exc:
        raise LabError(f"{NAME}: {exc}") from exc


def ensure() -> str:
    """Create (once), configure, start; returns what was done."""
    done = []
    if not container.exists(NAME):
        argv = ["lxc-create", "-n", NAME, "-t", "debian", "--", "-r", "bookworm"]
        host_run([*argv, f"--packages={config.CT_PACKAGES}"], timeout=1800)
        done.append("created")
    running = container.state(NAME) != "STOPPED"
    if running and (_write_config() or not _mounts_live()):
        host_run(["lxc-stop", "-n", NAME, "-t", "20"], check=False, timeout=40)
        done.append("restarted for its mounts")
    elif not running:
        _write_config()
    if container.state(NAME) != "RUNNING":
        host_run(["lxc-start", "-n", NAME])
    wait_until(f"{NAME} to run systemd", _systemd_up, 90)
    _install_forwards()
    return f"{NAME}: {', '.join(done) or 'running'}"


def _mounts_live() -> bool:
    """The checkout mounted inside is this one: a checkout deleted and cloned again at the same
    path leaves a running container's bind mount on the old, empty directory."""
    repo = shlex.quote(str(config.REPO_DIR))
    inside = run(f"test -f {repo}/pyproject.toml && stat -c %i {repo}", check=False, timeout=20)
    return inside.stdout.strip() == str(config.REPO_DIR.stat().st_ino)


def _systemd_up() -> bool:
    state = run("systemctl is-system-running", check=False, timeout=10).stdout.strip()
    return state in ("running", "degraded")


def read(path: str) -> str:
    """A file inside the stand-in, read from its root filesystem."""
    return (ROOTFS / path.lstrip("/")).read_text()

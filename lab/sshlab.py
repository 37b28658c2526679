"""The lab's own sshd on 127.0.0.1:2222 and the uid-0 login the suite uses over paramiko.

Root's ~/.bashrc on these machines runs pyenv init (about 0.22 s per command over ssh); a
dedicated uid-0 alias with /bin/sh and an empty home behaves like root on a real Proxmox host
without that cost.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
from pathlib import Path

from lab import config
from lab.shell import LabError, host_run, wait_until

HOST_KEY = config.STATE_DIR / "ssh_host_ed25519_key"
CLIENT_KEY = config.STATE_DIR / "id_ed25519"
AUTHORIZED_KEYS = config.STATE_DIR / "authorized_keys"
SSHD_CONFIG = config.STATE_DIR / "sshd_config"
PID_FILE = config.STATE_DIR / "sshd.pid"


def _sshd_config() -> str:
    return f"""# The compliance lab's own sshd (not the system one): keys only, one user.
Port {config.SSH_PORT}
ListenAddress 127.0.0.1
HostKey {HOST_KEY}
PidFile {PID_FILE}
AuthorizedKeysFile {AUTHORIZED_KEYS}
AllowUsers {config.SSH_USER}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
Subsystem sftp internal-sftp
"""


def _ssh_config() -> str:
    return f"""# Written by lab/up: the lab's "Proxmox host" (this machine) for ssh and paramiko.
Host proxmox
    HostName 127.0.0.1
    Port {config.SSH_PORT}
    User {config.SSH_USER}
    IdentityFile {CLIENT_KEY}
    IdentitiesOnly yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
"""


def _write_if_changed(path: Path, text: str, mode: int = 0o600) -> bool:
    if path.is_file() and path.read_text() == text:
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)
    return True


def _keygen(path: Path, comment: str) -> None:
    if not path.is_file():
        host_run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def ensure_user() -> bool:
    """Create the uid-0 alias user with an empty home; True if created or repaired."""
    changed = False
    if host_run(["getent", "passwd", config.SSH_USER], check=False).returncode != 0:
        home = str(config.SSH_HOME)
        argv = ["useradd", "-o", "-u", "0", "-g", "0", "-M", "-d", home, "-s", "/bin/sh"]
        host_run([*argv, config.SSH_USER])
        changed = True
    # Without PAM, sshd refuses accounts whose password field starts with "!" (locked).
    shadow = host_run(["getent", "shadow", config.SSH_USER], check=False).stdout
    if shadow.split(":")[1:2] != ["*"]:
        host_run(["usermod", "-p", "*", config.SSH_USER])
        changed = True
    if not config.SSH_HOME.is_dir():
        config.SSH_HOME.mkdir(mode=0o700, parents=True)
        changed = True
    return changed


def sshd_pid() -> int | None:
    """Pid of the lab sshd (from its pid file) if it is alive."""
    try:
        pid = int(PID_FILE.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if str(SSHD_CONFIG).encode() in cmdline else None


def _port_open() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", config.SSH_PORT)) == 0


def _free_port() -> None:
    """Stop a lab sshd of another checkout that holds the port; refuse anything else."""
    if not _port_open():
        return
    out = host_run(["ss", "-Htlnp", f"sport = :{config.SSH_PORT}"], check=False).stdout
    for pid in {int(p) for p in re.findall(r"pid=(\d+)", out)}:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "sshd" not in cmdline or "/lab/.state/sshd_config" not in cmdline:
            raise LabError(f"127.0.0.1:{config.SSH_PORT} is taken by another program: {cmdline}")
        os.kill(pid, signal.SIGTERM)
    wait_until(f"127.0.0.1:{config.SSH_PORT} to be free", lambda: not _port_open(), 10)


def ensure_sshd() -> str:
    """Keys, user, config, sshd running, lab/ssh_config written; returns what was done."""
    config.STATE_DIR.mkdir(mode=0o700, exist_ok=True)
    _keygen(HOST_KEY, "ollama-lab-host")
    _keygen(CLIENT_KEY, "ollama-lab")
    public = Path(f"{CLIENT_KEY}.pub").read_text()
    done = []
    if ensure_user():
        done.append(f"user {config.SSH_USER}")
    _write_if_changed(AUTHORIZED_KEYS, public)
    changed = _write_if_changed(SSHD_CONFIG, _sshd_config())
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host_run(["/usr/sbin/sshd", "-t", "-f", str(SSHD_CONFIG)])
    pid = sshd_pid()
    if pid is not None and changed:
        os.kill(pid, signal.SIGHUP)
        done.append("sshd reloaded")
    elif pid is None:
        _free_port()
        host_run(["/usr/sbin/sshd", "-f", str(SSHD_CONFIG)])
        done.append("sshd started")
    wait_until(f"lab sshd on 127.0.0.1:{config.SSH_PORT}", _port_open, 10)
    if _write_if_changed(config.SSH_CONFIG, _ssh_config(), 0o644):
        done.append(f"wrote {config.SSH_CONFIG.relative_to(config.REPO_DIR)}")
    return ", ".join(done) or "sshd already running"


def stop_sshd() -> bool:
    """Stop the lab sshd; True if it was running."""
    pid = sshd_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    wait_until("lab sshd to exit", lambda: sshd_pid() is None, 10)
    with contextlib.suppress(FileNotFoundError):
        PID_FILE.unlink()
    return True


def ssh(command: str, timeout: float = 20) -> str:
    """Run command on `proxmox` through the lab ssh config; stdout or LabError."""
    argv = ["ssh", "-F", str(config.SSH_CONFIG), "-o", "BatchMode=yes"]
    argv += ["-o", "ConnectTimeout=5", "proxmox", command]
    return host_run(argv, timeout=timeout).stdout

"""The lab's own sshd on 127.0.0.1:2222 and the uid-0 login the suite uses over paramiko.

Root's ~/.bashrc on these machines runs pyenv init (about 0.22 s per command over ssh); a
dedicated uid-0 alias with /bin/sh and an empty home behaves like root on a real Proxmox host
without that cost.

Every other way in is here too: a real unprivileged admin with passwordless sudo
(`pvelab-admin`, for --sudo), a user whose sudo asks for a password (`pvelab-pw`), and a
bastion: a second sshd on 127.0.0.1:2223 whose only user (`pvelab-jump`, no shell) may only
forward to the lab host's sshd. Each has its own key under lab/.state and a Host entry in
lab/ssh_config, which also names a known_hosts file holding both sshds' keys.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import signal
import socket
from pathlib import Path

from lab import config, hostsetup
from lab.shell import LabError, host_run, wait_until

HOST_KEY = config.STATE_DIR / "ssh_host_ed25519_key"
CLIENT_KEY = config.STATE_DIR / "id_ed25519"
AUTHORIZED_KEYS = config.STATE_DIR / "authorized_keys"
SSHD_CONFIG = config.STATE_DIR / "sshd_config"
PID_FILE = config.STATE_DIR / "sshd.pid"
KNOWN_HOSTS = config.STATE_DIR / "known_hosts"  # both sshds' keys, for strict host key checking

ADMIN_USER = "pvelab-admin"  # unprivileged, passwordless sudo: --sudo works through it
PASSWORD_USER = "pvelab-pw"  # unprivileged, sudo asks for a password: --sudo stops in one line
JUMP_USER = "pvelab-jump"  # the bastion's login: no shell, forwarding to the lab sshd only
LOGINS = {ADMIN_USER: "/bin/sh", PASSWORD_USER: "/bin/sh", JUMP_USER: "/usr/sbin/nologin"}
LOGIN_PACKAGES = ("sudo",)
USERS_HOME = Path("/var/lib/ollama-lab-users")
SUDOERS = Path("/etc/sudoers.d/ollama-lab")

BASTION_PORT = 2223
BASTION_HOST_KEY = config.STATE_DIR / "bastion_host_ed25519_key"
BASTION_CONFIG = config.STATE_DIR / "bastion_sshd_config"
BASTION_PID = config.STATE_DIR / "bastion_sshd.pid"
BASTION_LOG = config.STATE_DIR / "bastion_sshd.log"  # `Accepted publickey for pvelab-jump`


def user_key(user: str) -> Path:
    """The private key a lab login uses (its .pub is in the user's authorized_keys)."""
    return config.STATE_DIR / f"id_{user}"


def _sshd_config() -> str:
    return f"""# The compliance lab's own sshd (not the system one): keys only, the lab's logins.
Port {config.SSH_PORT}
ListenAddress 127.0.0.1
ListenAddress {config.BRIDGE_ADDRESS}
HostKey {HOST_KEY}
PidFile {PID_FILE}
AuthorizedKeysFile {AUTHORIZED_KEYS} .ssh/authorized_keys
AllowUsers {config.SSH_USER} {ADMIN_USER} {PASSWORD_USER}
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
{_login_entries()}"""


def _entry(name: str, comment: str, user: str, key: Path, port: int, *extra: str) -> str:
    lines = [
        f"# {comment}",
        f"Host {name}",
        "    HostName 127.0.0.1",
        f"    Port {port}",
        f"    User {user}",
        f"    IdentityFile {key}",
        "    IdentitiesOnly yes",
        f"    UserKnownHostsFile {KNOWN_HOSTS}",
        "    StrictHostKeyChecking yes",
        "    BatchMode yes",
        "    LogLevel ERROR",
        *(f"    {line}" for line in extra),
    ]
    return "\n".join(lines) + "\n"


def _login_entries() -> str:
    """The other ways in, each checking the host key against lab/.state/known_hosts."""
    port, root = config.SSH_PORT, config.SSH_USER
    return "\n" + "\n".join(
        [
            _entry(
                "proxmox-admin",
                "A non-root admin with passwordless sudo: --hosts=proxmox-admin --sudo",
                ADMIN_USER,
                user_key(ADMIN_USER),
                port,
            ),
            _entry(
                "proxmox-sudo-password",
                "A user whose sudo asks for a password: --sudo stops with one line",
                PASSWORD_USER,
                user_key(PASSWORD_USER),
                port,
            ),
            _entry(
                "lab-bastion",
                "The jump host: a second sshd that only forwards to the lab host's sshd",
                JUMP_USER,
                user_key(JUMP_USER),
                BASTION_PORT,
            ),
            _entry(
                "proxmox-via-jump",
                "The lab host through the bastion, for OpenSSH: --hosts=ssh://proxmox-via-jump",
                root,
                CLIENT_KEY,
                port,
                "ProxyJump lab-bastion",
            ),
            _entry(
                "proxmox-via-proxycommand",
                "The same for paramiko, which follows ProxyCommand but not ProxyJump",
                root,
                CLIENT_KEY,
                port,
                f"ProxyCommand ssh -F {config.SSH_CONFIG} -W %h:%p lab-bastion",
            ),
        ]
    )


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


def _daemon_pid(pid_file: Path, config_file: Path) -> int | None:
    """Pid of an sshd of ours (from its pid file) if it is alive with that config."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if str(config_file).encode() in cmdline else None


def sshd_pid() -> int | None:
    """Pid of the lab sshd (from its pid file) if it is alive."""
    return _daemon_pid(PID_FILE, SSHD_CONFIG)


def bastion_pid() -> int | None:
    """Pid of the lab's bastion sshd if it is alive."""
    return _daemon_pid(BASTION_PID, BASTION_CONFIG)


def _port_open(port: int = config.SSH_PORT) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_port(port: int = config.SSH_PORT, config_file: Path = SSHD_CONFIG) -> None:
    """Stop a lab sshd of another checkout that holds the port; refuse anything else."""
    if not _port_open(port):
        return
    out = host_run(["ss", "-Htlnp", f"sport = :{port}"], check=False).stdout
    for pid in {int(p) for p in re.findall(r"pid=(\d+)", out)}:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "sshd" not in cmdline or f"/lab/.state/{config_file.name}" not in cmdline:
            raise LabError(f"127.0.0.1:{port} is taken by another program: {cmdline}")
        os.kill(pid, signal.SIGTERM)
    wait_until(f"127.0.0.1:{port} to be free", lambda: not _port_open(port), 10)


def _run_daemon(
    name: str, port: int, config_file: Path, pid: int | None, changed: bool, *argv: str
) -> str:
    """Start (or reload, when its config changed) one of our sshds; what was done."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host_run(["/usr/sbin/sshd", "-t", "-f", str(config_file)])
    done = ""
    if pid is not None and changed:
        os.kill(pid, signal.SIGHUP)
        done = f"{name} reloaded"
    elif pid is None:
        _free_port(port, config_file)
        host_run(["/usr/sbin/sshd", "-f", str(config_file), *argv])
        done = f"{name} started"
    wait_until(f"{name} on 127.0.0.1:{port}", lambda: _port_open(port), 10)
    return done


def ensure_sshd() -> str:
    """Keys, users, config, sshd and the bastion running, lab/ssh_config written; returns
    what was done."""
    config.STATE_DIR.mkdir(mode=0o700, exist_ok=True)
    _keygen(HOST_KEY, "ollama-lab-host")
    _keygen(CLIENT_KEY, "ollama-lab")
    public = Path(f"{CLIENT_KEY}.pub").read_text()
    done = []
    if ensure_user():
        done.append(f"user {config.SSH_USER}")
    done += ensure_logins()
    _write_if_changed(AUTHORIZED_KEYS, public)
    changed = _write_if_changed(SSHD_CONFIG, _sshd_config())
    done.append(_run_daemon("sshd", config.SSH_PORT, SSHD_CONFIG, sshd_pid(), changed))
    done.append(ensure_bastion())
    if _write_if_changed(KNOWN_HOSTS, _known_hosts(), 0o644):
        done.append(f"wrote {KNOWN_HOSTS.relative_to(config.REPO_DIR)}")
    if _write_if_changed(config.SSH_CONFIG, _ssh_config(), 0o644):
        done.append(f"wrote {config.SSH_CONFIG.relative_to(config.REPO_DIR)}")
    return ", ".join(d for d in done if d) or "sshd already running"


def ensure_logins() -> list[str]:
    """The unprivileged logins (own group, home, key, authorized_keys) and their sudo rules."""
    done = [f"installed {p}" for p in hostsetup.ensure_packages(LOGIN_PACKAGES)]
    for user, shell in LOGINS.items():
        if _ensure_login(user, shell):
            done.append(f"user {user}")
    if _ensure_sudoers():
        done.append(f"wrote {SUDOERS}")
    return done


def _ensure_login(user: str, shell: str) -> bool:
    """A plain user with its key in ~/.ssh/authorized_keys; True if created or repaired."""
    changed = False
    home = USERS_HOME / user
    if host_run(["getent", "passwd", user], check=False).returncode != 0:
        USERS_HOME.mkdir(mode=0o755, exist_ok=True)
        host_run(["useradd", "-U", "-M", "-d", str(home), "-s", shell, user])
        changed = True
    shadow = host_run(["getent", "shadow", user], check=False).stdout
    if shadow.split(":")[1:2] != ["*"]:  # not locked ("!"), which sshd without PAM refuses
        host_run(["usermod", "-p", "*", user])
        changed = True
    _keygen(user_key(user), f"ollama-lab-{user}")
    entry = pwd.getpwnam(user)
    ssh_dir = home / ".ssh"
    for directory, mode in ((home, 0o750), (ssh_dir, 0o700)):
        directory.mkdir(mode=mode, exist_ok=True)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    keys = ssh_dir / "authorized_keys"
    if _write_if_changed(keys, Path(f"{user_key(user)}.pub").read_text()):
        os.chown(keys, entry.pw_uid, entry.pw_gid)
        changed = True
    return changed


def _sudoers() -> str:
    return f"""# Written by lab/up (lab/sshlab.py): the lab's non-root logins.
{ADMIN_USER} ALL=(ALL:ALL) NOPASSWD: ALL
{PASSWORD_USER} ALL=(ALL:ALL) ALL
"""


def _ensure_sudoers() -> bool:
    """/etc/sudoers.d/ollama-lab, checked by visudo before it is renamed in place (sudo
    skips names with a dot, so the temporary file is never read)."""
    text = _sudoers()
    if SUDOERS.is_file() and SUDOERS.read_text() == text:
        return False
    tmp = SUDOERS.with_name(".ollama-lab.tmp")
    tmp.write_text(text)
    tmp.chmod(0o440)
    host_run(["visudo", "-cqf", str(tmp)])
    os.replace(tmp, SUDOERS)
    return True


def _bastion_config() -> str:
    return f"""# The compliance lab's bastion (jump host): it only forwards to the lab host's sshd.
Port {BASTION_PORT}
ListenAddress 127.0.0.1
HostKey {BASTION_HOST_KEY}
PidFile {BASTION_PID}
AuthorizedKeysFile .ssh/authorized_keys
AllowUsers {JUMP_USER}
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding local
PermitOpen 127.0.0.1:{config.SSH_PORT}
PermitTTY no
X11Forwarding no
AllowAgentForwarding no
ForceCommand /bin/false
PrintMotd no
UseDNS no
"""


def ensure_bastion() -> str:
    """The bastion sshd on 127.0.0.1:2223 (logging to lab/.state/bastion_sshd.log)."""
    _keygen(BASTION_HOST_KEY, "ollama-lab-bastion")
    changed = _write_if_changed(BASTION_CONFIG, _bastion_config())
    argv = ("-E", str(BASTION_LOG))
    return _run_daemon("bastion", BASTION_PORT, BASTION_CONFIG, bastion_pid(), changed, *argv)


def _known_hosts() -> str:
    lines = []
    for port, key in ((config.SSH_PORT, HOST_KEY), (BASTION_PORT, BASTION_HOST_KEY)):
        kind, blob = Path(f"{key}.pub").read_text().split()[:2]
        lines.append(f"[127.0.0.1]:{port} {kind} {blob}\n")
    return "".join(lines)


def stop_sshd() -> bool:
    """Stop the lab sshd and the bastion; True if the lab sshd was running."""
    _stop(BASTION_PID, BASTION_CONFIG)
    return _stop(PID_FILE, SSHD_CONFIG)


def _stop(pid_file: Path, config_file: Path) -> bool:
    pid = _daemon_pid(pid_file, config_file)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    wait_until("lab sshd to exit", lambda: _daemon_pid(pid_file, config_file) is None, 10)
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()
    return True


def ssh(command: str, timeout: float = 20) -> str:
    """Run command on `proxmox` through the lab ssh config; stdout or LabError."""
    argv = ["ssh", "-F", str(config.SSH_CONFIG), "-o", "BatchMode=yes"]
    argv += ["-o", "ConnectTimeout=5", "proxmox", command]
    return host_run(argv, timeout=timeout).stdout

"""ssh:// (OpenSSH): testinfra's backend with one reused connection per host and plain errors.

- Reuse. testinfra passes `ControlMaster=auto ControlPersist=60s` but no ControlPath, so
  OpenSSH multiplexes nothing and every command pays a full handshake (measured on the lab:
  audit 1.30 s against paramiko's 1.00 s). Here each host gets a ControlPath in a private
  directory (0700, this user's), one socket per host, port, user and ssh config; the master
  outlives the run by ControlPersist, so the next run starts on an open connection. A
  ControlPath set by the user's own ssh config (or ssh_extra_args) is left alone, with the
  rest of their multiplexing settings.
- BatchMode=yes (unless a password is in --hosts, for sshpass): a password or passphrase
  prompt would hang an unattended run.
- Exit 255, OpenSSH's own failure, is returned as a result carrying ssh's stderr instead of
  testinfra's RuntimeError, whose text is the whole CommandResult, fact script included.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import stat
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from testinfra.backend.base import CommandResult
from testinfra.backend.ssh import SshBackend

from compliance.transport import userdirs

SOCKET_DIR = "ollama-compliance-ssh"
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_./-]+")
_SUN_PATH_MAX = 107  # a unix socket path, less its terminating NUL
_MASTER_SUFFIX = 17  # OpenSSH binds the master at `<ControlPath>.<16 random chars>` first
_PERCENT_C = 40  # %C: a SHA1 in hex


def private_dir() -> Path | None:
    """This user's 0700 directory for control sockets ($XDG_RUNTIME_DIR, else the temp dir);
    None if it is not ours (a symlink, another owner): then no reuse, never a shared socket."""
    base = userdirs.runtime_dir() or Path(tempfile.gettempdir())
    path = base / f"{SOCKET_DIR}-{os.getuid()}"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return None
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def control_path(digest: str) -> str | None:
    """`<private dir>/%C-<digest>`, %-escaped for testinfra's command formatting; None when
    there is no private directory or the socket path would be too long or need quoting."""
    directory = private_dir()
    if directory is None or not _SHELL_SAFE.fullmatch(str(directory)):
        return None
    path = f"{directory}/%C-{digest}"
    if len(path) - 2 + _PERCENT_C + _MASTER_SUFFIX > _SUN_PATH_MAX:
        return None
    return path.replace("%", "%%")  # testinfra %-formats the whole ssh command line


class OpenSsh(SshBackend):  # type: ignore[misc]  # testinfra ships no stubs
    """testinfra's `ssh` backend, reusing one connection and never raising on exit 255."""

    NAME = "ssh"
    ssh_extra_args: str | None  # set by testinfra's __init__ (declared for mypy)
    controlpath: str | None
    controlpersist: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._configure_lock = threading.Lock()
        self._effective: dict[str, str] | None = None

    def effective(self) -> dict[str, str]:
        """What OpenSSH will use for this host (`ssh -G`, once); {} if the config is broken
        (the first command then fails with ssh's own message)."""
        with self._configure_lock:
            if self._effective is None:
                self._effective = self._configure()
            return self._effective

    def _base_argv(self, extra: str) -> list[str]:
        argv = ["ssh", *shlex.split(extra)]
        if self.ssh_config:
            argv += ["-F", self.ssh_config]
        if self.host.user:
            argv += ["-o", f"User={self.host.user}"]
        if self.host.port:
            argv += ["-o", f"Port={self.host.port}"]
        if self.ssh_identity_file:
            argv += ["-i", self.ssh_identity_file]
        return argv

    def _configure(self) -> dict[str, str]:
        extra = self.ssh_extra_args or ""
        argv = self._base_argv(extra)
        try:
            done = subprocess.run(
                [*argv, "-G", self.host.name], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            done = None
        effective: dict[str, str] = {}
        if done is not None and done.returncode == 0:
            for line in done.stdout.splitlines():
                key, _, value = line.partition(" ")
                effective.setdefault(key, value)
        if not self.host.password and "batchmode" not in extra.lower():
            self.ssh_extra_args = f"{extra} -o BatchMode=yes".strip()
        own = "controlmaster" in extra.lower() or "controlpath" in extra.lower()
        if self.controlpath or own or not self.controlpersist:
            return effective  # the caller chose (ansible's control_path, extra args)
        if effective.get("controlpath", "none") != "none":
            self.controlpersist = 0  # the user's ssh config multiplexes: its settings rule
            return effective
        self.controlpath = control_path(self._digest(argv))
        return effective

    def _digest(self, argv: list[str]) -> str:
        """Tells apart the masters of two configurations of one host (%C covers the host,
        port and user): another config or key file must not ride on this connection."""
        config = self.ssh_config or os.path.expanduser("~/.ssh/config")
        try:
            text = Path(config).read_bytes()
        except OSError:
            text = b""
        return hashlib.sha256(repr(argv).encode() + text).hexdigest()[:8]

    def _build_ssh_command(self, command: str) -> tuple[list[str], list[str]]:
        self.effective()
        cmd: tuple[list[str], list[str]] = super()._build_ssh_command(command)
        return cmd

    def run_ssh(self, command: str) -> CommandResult:
        """Run over ssh; OpenSSH's own failure is exit 255 with its reason on stderr."""
        cmd, cmd_args = self._build_ssh_command(command)
        out: CommandResult = self.run_local(" ".join(cmd), *cmd_args)
        out.command = self.encode(command)
        return out

    def login_run(self, script: str) -> tuple[int, bytes, bytes]:
        """Run a script as the login user (never wrapped in sudo).

        A master that persists sends its ProxyJump/ProxyCommand's stderr to /dev/null (it
        would hold the caller's stderr open), so a failing jump host only says `Connection
        closed by UNKNOWN port 65535`: the check is then run once more without a master, to
        get the jump's own words.
        """
        out = self.run_ssh(script)
        if out.rc == 255 and b"UNKNOWN port 65535" in out.stderr_bytes and self.controlpath:
            cmd, cmd_args = self._build_ssh_command(script)
            at = cmd.index("ssh") + 1
            cmd[at:at] = ["-o ControlMaster=no -o ControlPath=none"]  # the first value wins
            out = self.run_local(" ".join(cmd), *cmd_args)
        return out.rc, out.stdout_bytes, out.stderr_bytes

    def where(self) -> tuple[str, int, str, str]:
        """(HostName, Port, User, the user's known_hosts file) as OpenSSH resolves them."""
        got = self.effective()
        known = (got.get("userknownhostsfile") or "~/.ssh/known_hosts").split()[0]
        home = os.path.expanduser("~")
        if known.startswith(home + "/"):
            known = "~" + known[len(home) :]
        port = got.get("port") or self.host.port or "22"
        return got.get("hostname", self.host.name), int(port), got.get("user", ""), known

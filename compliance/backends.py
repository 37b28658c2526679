"""Transports: the Proxmox host (any testinfra backend) and a container reached through it."""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import paramiko
import testinfra
from testinfra.backend.base import BaseBackend, CommandResult
from testinfra.host import Host

ENTER = {
    "pct": "pct exec %s -- /bin/sh -c %s",
    "lxc-attach": "lxc-attach -n %s -- /bin/sh -c %s",
}
COMMAND_TIMEOUT_S = 30  # the default of the ollama_command_timeout setting
KILL_GRACE_S = 5  # after the deadline, TERM; this much later, KILL


class Deadline:
    """Seconds a remote command may run (the session's ollama_command_timeout)."""

    def __init__(self) -> None:
        self.seconds = COMMAND_TIMEOUT_S


DEADLINE = Deadline()


class ContainerBackend(BaseBackend):  # type: ignore[misc]  # testinfra ships no stubs
    """Run every command in container `ctid` via `pct exec` (or lxc-attach) on the host."""

    NAME = "pct"

    def __init__(
        self,
        pve: Host,
        ctid: str,
        transport: str = "pct",
        timeout: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.pve = pve
        self.ctid = ctid
        self.enter = ENTER[transport]
        self.timeout = timeout or DEADLINE.seconds
        super().__init__(f"{pve.backend.get_pytest_id()}-ct{ctid}", **kwargs)
        self._encoding = "utf-8"

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        """Run in the CT under a deadline kept by the host: a frozen CT (vzdump --mode
        suspend) or a hung mount accepts `pct exec` and never runs the command, so only a
        `timeout` outside the CT ends the wait (exit 124)."""
        cmd = self.get_command(command, *args)
        deadline = f"timeout -k {KILL_GRACE_S} {self.timeout} "
        out = self.pve.run(deadline + self.enter, self.ctid, cmd)
        out.command = self.encode(cmd)
        return out


def container(pve: Host, ctid: str, transport: str, timeout: int | None = None) -> Host:
    """A testinfra Host for a container, so `ct.file(...)` etc. work as usual."""
    backend = ContainerBackend(pve, ctid, transport, timeout)
    host = Host(backend)
    backend.set_host(host)
    return host


def proxmox_hosts(config: Any) -> list[Host]:
    """The hosts named by testinfra's own options (--hosts, --ssh-config, inventory...)."""
    option = config.option
    specs = option.hosts.split(",") if option.hosts else ["local://"]
    hosts: list[Host] = testinfra.get_hosts(
        specs,
        connection=option.connection,
        ssh_config=option.ssh_config,
        ssh_identity_file=option.ssh_identity_file,
        sudo=option.sudo,
        sudo_user=option.sudo_user,
        ansible_inventory=option.ansible_inventory,
        force_ansible=option.force_ansible,
    )
    for host in hosts:
        host.backend._encoding = "utf-8"  # skip testinfra's remote python probe
    return hosts


def connect(host: Host) -> None:
    """Open the host's connection now (preflight) and, for paramiko, disable Nagle.

    Without TCP_NODELAY each command on an open paramiko connection waits ~40 ms for delayed
    ACKs (measured 48 ms vs 4 ms per command on the lab).
    """
    client = getattr(host.backend, "client", None)  # paramiko: connects on first access
    transport = client.get_transport() if client is not None else None
    sock = getattr(transport, "sock", None)
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def host_label(host: Host) -> str:
    return str(host.backend.get_pytest_id()).split("://", 1)[-1] or "local"


def host_address(host: Host) -> str:
    """The address the host is reached at (ssh config HostName applied)."""
    backend = host.backend
    name = str(getattr(getattr(backend, "host", None), "name", "") or backend.get_hostname())
    if backend.NAME == "local" or name in ("", "local"):
        return "127.0.0.1"
    if backend.NAME == "ansible":  # the inventory's ansible_host, as Ansible would connect
        variables = backend.ansible_runner.get_variables(backend.host)
        return str(variables.get("ansible_host", backend.host))
    config_path = getattr(backend, "ssh_config", None) or os.path.expanduser("~/.ssh/config")
    if os.path.exists(config_path):
        ssh_config = paramiko.SSHConfig.from_path(config_path)
        return str(ssh_config.lookup(name).get("hostname", name))
    return name


class CommandCounter:
    """Remote commands this process ran (each is one exec on the host's connection)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


COMMANDS = CommandCounter()


def run(host: Host, command: str, *args: str) -> CommandResult:
    """host.run, counted and bounded: every remote command of the suite goes through here.

    A container's commands carry their deadline already (ContainerBackend); a host's get one
    here, so a stuck `pct` or systemctl on the host ends too. The runner keeps a deadline of
    its own on top: a process attached to a frozen CT sits in the freezer holding the
    channel's pipes open, so `timeout` on the host cannot end the wait.
    """
    COMMANDS.add()
    if not isinstance(host.backend, ContainerBackend) and not command.startswith("timeout "):
        script = host.backend.quote(command, *args)
        command, args = f"timeout -k {KILL_GRACE_S} {DEADLINE.seconds} /bin/sh -c %s", (script,)
    seconds = (
        host.backend.timeout if isinstance(host.backend, ContainerBackend) else DEADLINE.seconds
    )
    return _within(seconds + 2 * KILL_GRACE_S, host, command, *args)


def _within(seconds: float, host: Host, command: str, *args: str) -> CommandResult:
    """host.run, or exit 124 with the reason once `seconds` pass without an answer.

    The call goes on in a daemon thread (its transport cannot be interrupted), which ends
    with the process; the target is reported as not answering.
    """
    done: list[CommandResult] = []
    failed: list[BaseException] = []

    def call() -> None:
        try:
            done.append(host.run(command, *args))
        except BaseException as error:  # re-raised in the caller's thread
            failed.append(error)

    worker = threading.Thread(target=call, daemon=True, name="remote-command")
    worker.start()
    worker.join(seconds)
    if failed:
        raise failed[0]
    if done:
        return done[0]
    reason = f"no answer within {seconds:.0f} s (the runner's deadline): the target is stuck"
    return CommandResult(host.backend, 124, command.encode(), b"", reason.encode())


def output_text(result: CommandResult) -> str:
    """stdout + stderr decoded leniently: one stray byte (a Latin-1 comment in a file we
    cat) must not fail every check of the target with UnicodeDecodeError."""
    raw: bytes = result.stdout_bytes + result.stderr_bytes
    return raw.decode("utf-8", "replace")


def run_text(host: Host, script: str, deadline: int | None = None) -> tuple[int, str]:
    """Run a /bin/sh script on a host under a deadline; (exit code, stdout + stderr).

    A hung command on the target (a blocked systemctl, a stuck mount) ends the batch with exit
    124 after `deadline` seconds instead of hanging the whole run (testinfra #716). A
    container's commands are also bounded on the host's side (ContainerBackend).
    """
    seconds = deadline or DEADLINE.seconds
    result = run(host, "timeout -k %s %s /bin/sh -c %s", str(KILL_GRACE_S), str(seconds), script)
    return result.rc, output_text(result)

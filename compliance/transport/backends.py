"""Transports: the Proxmox host (any testinfra backend) and a container reached through it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import testinfra
import testinfra.backend
from testinfra.backend.base import BaseBackend, CommandResult
from testinfra.host import Host

from compliance.transport import connect_errors
from compliance.transport.connect_errors import Endpoint

T = TypeVar("T")

# The suite's own ssh and paramiko transports (compliance/transport_*.py), registered in
# testinfra's table so that the hosts testinfra builds itself (an ansible:// inventory's) get
# them too; each module is imported only when a host uses it (an ssh:// run never imports
# paramiko).
testinfra.backend.BACKENDS.update(
    {
        "ssh": "compliance.transport.openssh.OpenSsh",
        "paramiko": "compliance.transport.paramiko_ssh.Paramiko",
    }
)

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
        _adopt_ansible_host(host)
    return hosts


ANSIBLE_HOST_KEY_VARS = (
    "ansible_host_key_checking",
    "ansible_ssh_host_key_checking",
    "ansible_paramiko_host_key_checking",
)


def _adopt_ansible_host(host: Host) -> None:
    """An ansible:// host runs its commands on a host testinfra builds from the inventory
    (ssh or paramiko): build it now, with the inventory's host_key_checking as Ansible
    applies it and without testinfra's remote encoding probe (one command saved)."""
    backend = host.backend
    if backend.NAME != "ansible" or backend.force_ansible:
        return
    inner = transport_of(host)
    if inner is backend:
        return
    inner._encoding = "utf-8"
    runner = backend.ansible_runner
    hostvars = runner.get_variables(backend.host)
    setting: Any = next((hostvars[k] for k in ANSIBLE_HOST_KEY_VARS if k in hostvars), None)
    if setting is None:
        setting = os.environ.get("ANSIBLE_HOST_KEY_CHECKING")
    if setting is None:
        setting = runner.ansible_config.get("defaults", "host_key_checking", fallback="true")
    if str(setting).strip().lower() not in ("false", "no", "0", "off"):
        return
    extra = getattr(inner, "ssh_extra_args", None) or ""
    if inner.NAME == "paramiko":
        inner.host_key_checking = False
    elif inner.NAME == "ssh" and "stricthostkeychecking" not in extra.lower():
        inner.ssh_extra_args = f"{extra} -o StrictHostKeyChecking=no".strip()


def transport_of(host: Host) -> Any:
    """The backend that carries the host's commands: for ansible://, the ssh or paramiko
    host testinfra derives from the inventory (the same one its run() uses)."""
    backend = host.backend
    if backend.NAME == "ansible" and not backend.force_ansible:
        inner = backend.ansible_runner.get_host(
            backend.host, ssh_config=backend.ssh_config, ssh_identity_file=backend.ssh_identity_file
        )
        if inner is not None:
            return inner.backend
    return backend


def _endpoint(host: Host, label: str, address: str) -> Endpoint:
    """Where the host is reached, for the one line: the transport's own view if it has one."""
    outer, inner = host.backend, transport_of(host)
    name = inner.NAME if inner is outer else f"ansible ({inner.NAME})"
    if hasattr(inner, "where"):
        hostname, port, user, known = inner.where()
        return Endpoint(label, name, hostname, port, user, known)
    spec = getattr(inner, "host", None)  # testinfra's HostSpec, for the other ssh backends
    port = int(getattr(spec, "port", None) or 0)
    return Endpoint(label, name, address, port, getattr(spec, "user", None) or "")


def _login_run(backend: Any, script: str) -> tuple[int, bytes, bytes]:
    """Run a script as the login user: the transport's own primitive, never wrapped in sudo."""
    if hasattr(backend, "login_run"):
        done: tuple[int, bytes, bytes] = backend.login_run(script)
        return done
    try:
        result = backend.run_local(script) if backend.NAME == "local" else backend.run(script)
    except RuntimeError as error:  # testinfra's safe-ssh raises its exit-255 result
        if not (error.args and isinstance(error.args[0], CommandResult)):
            raise
        result = error.args[0]
    return result.rc, result.stdout_bytes, result.stderr_bytes


def reach(host: Host, label: str, address: str) -> str | None:
    """Log in to the host once and check that commands will run as root (`id -u`, and
    `sudo -n` under --sudo): None, or the one line saying what failed and what to do.

    It runs as the login user through the transport's own primitive, so a sudo that asks
    for a password is seen (`sudo -n`) instead of every later command failing with it.
    """
    outer, inner = host.backend, transport_of(host)
    sudo = bool(outer.sudo or inner.sudo)
    sudo_user = outer.sudo_user or inner.sudo_user
    script = connect_errors.login_script(sudo, sudo_user)
    seconds = DEADLINE.seconds + 2 * KILL_GRACE_S
    try:
        done = _bounded(seconds, lambda: _login_run(inner, script))
    except Exception as exc:  # the transport's failure: classified, one line
        key_file = inner.key_file() if hasattr(inner, "key_file") else ""
        at = _endpoint(host, label, address)
        return connect_errors.from_exception(exc, at, key_file).line(at)
    at = _endpoint(host, label, address)
    if done is None:
        failure = connect_errors.Failure(
            connect_errors.UNREACHABLE,
            f"no answer to the login check within {seconds} s",
            "check the host's load and its sshd",
        )
        return failure.line(at)
    rc, out, err = done
    stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    if inner.NAME in ("ssh", "safe-ssh") and rc == 255 and connect_errors.LOGIN_MARK not in stdout:
        return connect_errors.from_ssh(stderr, at).line(at)
    refused = connect_errors.from_login(rc, stdout, stderr, at, sudo, sudo_user)
    return refused.line(at) if refused else None


def _bounded(seconds: float, call: Callable[[], T]) -> T | None:
    """call(), or None once `seconds` pass (the call goes on in a daemon thread, which ends
    with the process: a transport cannot be interrupted)."""
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(call())
        except BaseException as error:  # re-raised in the caller's thread
            failed.append(error)

    worker = threading.Thread(target=run, daemon=True, name="remote-command")
    worker.start()
    worker.join(seconds)
    if failed:
        raise failed[0]
    return done[0] if done else None


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
    if backend.NAME == "ssh":  # as OpenSSH resolves it (`ssh -G`: Match, Include, ...)
        return str(backend.effective().get("hostname", name))
    config_path = getattr(backend, "ssh_config", None) or os.path.expanduser("~/.ssh/config")
    if os.path.exists(config_path):
        import paramiko  # only paramiko reads its config this way; ssh:// never imports it

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
SESSIONS_PER_CONNECTION = 6  # sshd's MaxSessions defaults to 10 channels on one connection
_SESSIONS: dict[int, threading.BoundedSemaphore] = {}
_SESSIONS_LOCK = threading.Lock()
OPEN_RETRIES = 4  # a channel refused (MaxSessions reached by someone else) is asked for again


def _sessions(host: Host) -> threading.BoundedSemaphore:
    """The channels this process may have open at once on the connection `host` rides on (a
    container's commands ride on its Proxmox host's)."""
    root = host.backend.pve if isinstance(host.backend, ContainerBackend) else host
    with _SESSIONS_LOCK:
        return _SESSIONS.setdefault(
            id(root.backend), threading.BoundedSemaphore(SESSIONS_PER_CONNECTION)
        )


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
    with _sessions(host):
        return _within(seconds + 2 * KILL_GRACE_S, host, command, *args)


def _within(seconds: float, host: Host, command: str, *args: str) -> CommandResult:
    """host.run, or exit 124 with the reason once `seconds` pass without an answer.

    The call goes on in a daemon thread (its transport cannot be interrupted), which ends
    with the process; the target is reported as not answering. A transport that raises its
    failed CommandResult (testinfra's ssh and ansible backends) gives that result back, so
    the error shows ssh's reason, not the command (a whole fact script) in a repr.
    """

    def once() -> CommandResult:
        try:
            result: CommandResult = host.run(command, *args)
        except RuntimeError as error:
            if error.args and isinstance(error.args[0], CommandResult):
                return error.args[0]
            raise
        return result

    def call() -> CommandResult:
        attempt = 0
        while True:
            try:
                return once()
            except Exception as error:  # paramiko's ChannelException: MaxSessions reached
                if type(error).__name__ != "ChannelException" or attempt == OPEN_RETRIES:
                    raise
                attempt += 1
                time.sleep(0.1 * attempt)

    done = _bounded(seconds, call)
    if done is not None:
        return done
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

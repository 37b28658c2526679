"""paramiko (the default): testinfra's backend, checking host keys as OpenSSH does.

testinfra's client accepts any host key it has not seen (a warning) and loads no known_hosts
file, so a changed key (an attack, or a reinstalled host) goes unnoticed. Here the ssh config's
StrictHostKeyChecking and UserKnownHostsFile / GlobalKnownHostsFile are honoured: a key that
differs from the known one stops the connection; an unknown key is refused unless the config
says `accept-new` (then recorded, as OpenSSH does) or `no`. A ProxyJump, which paramiko
ignores (it would connect to HostName directly), is refused: docs/connecting.md shows
the ProxyCommand form. The socket gets TCP_NODELAY: without it each command on the open
connection waits ~40 ms for delayed ACKs (48 ms against 4 ms per command on the lab).
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
from typing import Any

import paramiko
from testinfra.backend.paramiko import IgnorePolicy, ParamikoBackend

from compliance.transport.connect_errors import ProxyJumpUnsupported, UnknownHostKey

USER_KNOWN_HOSTS = "~/.ssh/known_hosts ~/.ssh/known_hosts2"
GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2"


def _fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


class _Refuse(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        raise UnknownHostKey(hostname, _fingerprint(key))


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """StrictHostKeyChecking accept-new: trust a first key and record it (as OpenSSH does)."""

    def __init__(self, known_hosts: str) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        if os.path.isdir(os.path.dirname(self.known_hosts) or "."):
            fd = os.open(self.known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as handle:
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class Paramiko(ParamikoBackend):  # type: ignore[misc]  # testinfra ships no stubs
    """testinfra's `paramiko` backend with OpenSSH's host key rules and TCP_NODELAY."""

    NAME = "paramiko"
    host_key_checking = True  # False: an Ansible inventory's host_key_checking=False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: paramiko.SSHClient | None = None
        self._client_lock = threading.Lock()
        self.options: dict[str, Any] = {}  # this host's ssh config entries, Include followed
        port = int(self.host.port) if self.host.port else 22
        self.endpoint = (self.host.name, port, self.host.user or "", "~/.ssh/known_hosts")

    def _load_ssh_config(
        self,
        client: paramiko.SSHClient,
        cfg: dict[str, Any],
        ssh_config: paramiko.SSHConfig,
        ssh_config_dir: str = "~/.ssh",
    ) -> None:
        super()._load_ssh_config(client, cfg, ssh_config, ssh_config_dir)
        for key, value in ssh_config.lookup(self.host.name).items():
            self.options.setdefault(key, value)

    @property
    def client(self) -> paramiko.SSHClient:
        """The connection, opened on first use. A lock per host: on Python 3.11
        functools.cached_property locks across every instance, so the preflight's parallel
        connects would run one host at a time (and a stuck one would hold up the rest)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    @client.deleter
    def client(self) -> None:  # testinfra reconnects with `del self.client`
        with self._client_lock:
            self._client = None

    def _connect(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        cfg: dict[str, Any] = {
            "hostname": self.host.name,
            "port": int(self.host.port) if self.host.port else 22,
            "username": self.host.user,
            "timeout": self.timeout,
            "banner_timeout": self.timeout,
            "password": self.host.password,
        }
        path = self.ssh_config or os.path.join(os.path.expanduser("~"), ".ssh", "config")
        try:
            with open(path) as handle:
                parsed = paramiko.SSHConfig()
                parsed.parse(handle)
        except OSError:
            if self.ssh_config:
                raise
        else:
            self._load_ssh_config(client, cfg, parsed, os.path.dirname(path))
        if self.ssh_identity_file:
            cfg["key_filename"] = self.ssh_identity_file
        own = self._known_hosts("userknownhostsfile", USER_KNOWN_HOSTS)
        shown = own[0].replace(os.path.expanduser("~") + "/", "~/", 1)
        user = cfg["username"] or getpass.getuser()
        self.endpoint = (cfg["hostname"], cfg["port"], user, shown)
        jump = str(self.options.get("proxyjump", "none"))
        if jump != "none" and "proxycommand" not in self.options:
            raise ProxyJumpUnsupported(jump)
        strict = str(self.options.get("stricthostkeychecking", "ask")).lower()
        known = [*own, *self._known_hosts("globalknownhostsfile", GLOBAL_KNOWN_HOSTS)]
        if strict in ("no", "off", "false") or not self.host_key_checking:
            client.set_missing_host_key_policy(IgnorePolicy())
        else:
            for name in known:
                if os.path.isfile(name):
                    client.load_system_host_keys(name)
            policy = _AcceptNew(own[0]) if strict == "accept-new" else _Refuse()
            client.set_missing_host_key_policy(policy)
        try:
            client.connect(**cfg)
        except paramiko.BadHostKeyException as exc:
            exc.known_hosts = _listing(known, cfg["hostname"], cfg["port"])  # type: ignore[attr-defined]
            raise
        transport = client.get_transport()
        sock = getattr(transport, "sock", None)
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client

    def _known_hosts(self, key: str, default: str) -> list[str]:
        value = self.options.get(key, default)
        names = value if isinstance(value, list) else str(value).split()
        return [os.path.expanduser(name) for name in names] or [os.path.expanduser(default)]

    def login_run(self, script: str) -> tuple[int, bytes, bytes]:
        """Run a script as the login user (never wrapped in sudo); connects first."""
        rc, out, err = self._exec_command(self.encode(script))
        return int(rc), out, err

    def where(self) -> tuple[str, int, str, str]:
        """(HostName, Port, User, the user's known_hosts file) from the last connection."""
        return self.endpoint

    def key_file(self) -> str:
        value = self.ssh_identity_file or self.options.get("identityfile", [""])
        return str(value[0] if isinstance(value, list) else value)


def _listing(files: list[str], hostname: str, port: int) -> str:
    """The known_hosts file that holds the host's (other) key, for the message."""
    host_id = hostname if port == 22 else f"[{hostname}]:{port}"
    for name in files:
        if os.path.isfile(name) and paramiko.HostKeys(name).lookup(host_id) is not None:
            return name.replace(os.path.expanduser("~") + "/", "~/", 1)
    return ""

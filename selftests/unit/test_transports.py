"""Host-free: the suite's ssh transports as configured before any connection (ssh -G only reads
the config), their private control socket directory, and the login check on local://."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko
import pytest
import testinfra
from testinfra.backend.base import CommandResult

from compliance.transport import backends
from compliance.transport import openssh as transport_ssh
from compliance.transport.connect_errors import ProxyJumpUnsupported, UnknownHostKey
from compliance.transport.openssh import OpenSsh
from compliance.transport.paramiko_ssh import Paramiko, _AcceptNew, _Refuse


@pytest.fixture
def runtime(monkeypatch):
    """A private XDG_RUNTIME_DIR (short: a socket path has at most 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="oc-"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    yield path
    shutil.rmtree(path)


def _config(tmp_path, *lines):
    path = tmp_path / "ssh_config"
    path.write_text("Host pve\n    HostName 192.0.2.7\n    Port 2200\n    User admin\n")
    path.write_text(path.read_text() + "".join(f"    {line}\n" for line in lines))
    return str(path)


def _command_line(backend: OpenSsh) -> str:
    cmd, args = backend._build_ssh_command("true")
    return backend.quote(" ".join(cmd), *args)


def test_testinfra_builds_the_suite_transports():
    assert isinstance(testinfra.get_host("ssh://unit-a").backend, OpenSsh)
    assert isinstance(testinfra.get_host("paramiko://unit-a").backend, Paramiko)


def test_openssh_reuses_one_connection_through_a_private_socket(runtime):
    backend = OpenSsh("pve", ssh_config=_config(runtime))
    line = _command_line(backend)
    directory = runtime / f"ollama-compliance-ssh-{os.getuid()}"
    assert f"-o ControlPath={directory}/%C-" in line
    assert "-o ControlMaster=auto -o ControlPersist=60s" in line
    assert "-o BatchMode=yes" in line  # no prompt can hang an unattended run
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert backend.where() == ("192.0.2.7", 2200, "admin", "~/.ssh/known_hosts")
    other = OpenSsh("pve", ssh_config=_config(runtime, "IdentityFile /other/key"))
    assert _command_line(other).split("ControlPath=")[1] != line.split("ControlPath=")[1]


def test_openssh_leaves_multiplexing_to_a_user_config_that_sets_it(runtime):
    config = _config(runtime, "ControlMaster auto", "ControlPath /tmp/mine-%C")
    line = _command_line(OpenSsh("pve", ssh_config=config))
    assert "Control" not in line  # their ControlMaster, ControlPath and ControlPersist rule


def test_openssh_keeps_a_password_prompt_for_sshpass(runtime):
    backend = OpenSsh("admin:secret@pve", ssh_config=_config(runtime))
    assert "BatchMode" not in _command_line(backend)


def test_openssh_exit_255_is_a_result_not_a_repr(runtime):
    """testinfra raises RuntimeError(CommandResult) (the command inside); here ssh's reason
    comes back as the result's stderr."""
    backend = OpenSsh("root@127.0.0.1:1", ssh_config=_config(runtime))
    result = backend.run("printf %s fact-script")
    assert result.rc == 255
    assert "Connection refused" in result.stderr


def test_no_reuse_rather_than_a_socket_in_someone_elses_directory(runtime):
    (runtime / f"ollama-compliance-ssh-{os.getuid()}").symlink_to("/tmp")
    assert transport_ssh.private_dir() is None
    assert "ControlPath" not in _command_line(OpenSsh("pve", ssh_config=_config(runtime)))


def test_no_reuse_when_the_socket_path_would_be_too_long(tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 80)
    deep.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    assert transport_ssh.control_path("abcd1234") is None


def test_paramiko_refuses_proxyjump_before_connecting(tmp_path):
    backend = Paramiko("pve", ssh_config=_config(tmp_path, "ProxyJump bastion"))
    with pytest.raises(ProxyJumpUnsupported, match="bastion"):
        _ = backend.client
    assert backend.where() == ("192.0.2.7", 2200, "admin", "~/.ssh/known_hosts")


def test_paramiko_unknown_key_is_refused_or_recorded_with_accept_new(tmp_path):
    key = paramiko.Ed25519Key.from_private_key_file(_keygen(tmp_path))
    with pytest.raises(UnknownHostKey, match=r"\[h\]:2200"):
        _Refuse().missing_host_key(paramiko.SSHClient(), "[h]:2200", key)
    known = tmp_path / "known_hosts"
    _AcceptNew(str(known)).missing_host_key(paramiko.SSHClient(), "[h]:2200", key)
    assert paramiko.HostKeys(str(known)).lookup("[h]:2200") is not None
    assert stat.S_IMODE(known.stat().st_mode) == 0o600


def _keygen(tmp_path) -> str:
    import subprocess

    path = tmp_path / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return str(path)


def test_within_gives_back_the_result_a_transport_raised():
    class Raising:
        class backend:  # stands in for host.backend
            pass

        def run(self, command, *args):
            raise RuntimeError(CommandResult(None, 255, b"the script", b"", b"ssh: refused"))

    result = backends._within(5, Raising(), "the script")
    assert (result.rc, result.stderr_bytes) == (255, b"ssh: refused")


def test_login_check_on_local_host():
    host = testinfra.get_host("local://")
    line = backends.reach(host, "local", "127.0.0.1")
    if os.geteuid() == 0:
        assert line is None
    else:
        assert line is not None
        assert line.startswith("local: not root via local (127.0.0.1): logged in as ")


@pytest.mark.skipif(shutil.which("ansible-inventory") is None, reason="needs ansible-core")
@pytest.mark.parametrize(("connection", "kind"), [("ssh", OpenSsh), ("paramiko_ssh", Paramiko)])
def test_ansible_host_key_checking_false_reaches_the_inner_transport(tmp_path, connection, kind):
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(
        f"pve ansible_connection={connection} ansible_host=192.0.2.9 ansible_user=root "
        "ansible_host_key_checking=false\n"
    )
    (host,) = backends.proxmox_hosts(_Options(f"ansible://pve?ansible_inventory={inventory}"))
    inner = backends.transport_of(host)
    assert isinstance(inner, kind)
    assert inner._encoding == "utf-8"  # no remote python probe for the encoding
    if kind is Paramiko:
        assert inner.host_key_checking is False
    else:
        assert "-o StrictHostKeyChecking=no" in inner.ssh_extra_args


class _Options:
    """The pytest config.option fields proxmox_hosts reads."""

    def __init__(self, hosts: str) -> None:
        self.option = self
        self.hosts = hosts
        self.connection = None
        self.ssh_config = None
        self.ssh_identity_file = None
        self.sudo = False
        self.sudo_user = None
        self.ansible_inventory = None
        self.force_ansible = False


class _Busy:
    """A connection that counts its open channels and refuses the first `refusals` opens."""

    def __init__(self, refusals: int = 0) -> None:
        self.backend = self
        self.open = self.most = 0
        self.refusals = refusals
        self.lock = threading.Lock()

    @staticmethod
    def quote(command: str, *args: str) -> str:
        return command % tuple(shlex.quote(a) for a in args)

    def run(self, command: str, *args: str) -> CommandResult:
        if self.refusals:
            self.refusals -= 1
            raise type("ChannelException", (Exception,), {})("Administratively prohibited")
        with self.lock:
            self.open += 1
            self.most = max(self.most, self.open)
        time.sleep(0.05)
        with self.lock:
            self.open -= 1
        return CommandResult(self, 0, b"", b"ok", b"")


def test_at_most_six_channels_at_once_on_one_connection():
    busy = _Busy()
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda _: backends.run(busy, "true"), range(24)))  # type: ignore[arg-type]
    assert all(result.rc == 0 for result in results)
    assert busy.most == backends.SESSIONS_PER_CONNECTION


def test_a_refused_channel_is_asked_for_again():
    busy = _Busy(refusals=2)
    assert backends.run(busy, "true").rc == 0  # type: ignore[arg-type]

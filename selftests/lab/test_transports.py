"""Every way in, on the lab: each transport audits and converges (--fix); each way a connection
fails stops the run before any test with one exact line and exit 102.

The logins, keys, bastion and known_hosts are the lab's own (lab/sshlab.py, lab/ssh_config).
"""

from __future__ import annotations

import pwd
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from compliance.facts import Scope
from compliance.facts.http import DirectTags
from compliance.report.outcomes import EXIT_UNREACHABLE
from lab import config, sshlab, states
from selftests.lab.harness import CHECKS, SSH_CONFIG, run_suite
from selftests.unit.factsets import SETTINGS
from selftests.unit.test_connect_errors import ATTACK, AUTH, PATH, REFUSED

STATE = config.STATE_DIR
ROOT_KEY = sshlab.CLIENT_KEY
KNOWN = sshlab.KNOWN_HOSTS


def _inventory(tmp_path, connection: str, user: str = config.SSH_USER, *extra: str) -> str:
    """An Ansible inventory with the lab host as `pve-ansible`, reached over `connection`."""
    key = ROOT_KEY if user == config.SSH_USER else sshlab.user_key(user)
    line = (
        f"pve-ansible ansible_connection={connection} ansible_host=127.0.0.1 "
        f"ansible_port={config.SSH_PORT} ansible_user={user} ansible_ssh_private_key_file={key} "
        + " ".join(extra)
    )
    path = tmp_path / f"inventory-{connection}.ini"
    path.write_text(f"[pve]\n{line}\n")
    return f"--hosts=ansible://all?ansible_inventory={path}"


# ssh -o options for an Ansible ssh host that checks the lab's host key strictly
ANSIBLE_SSH_ARGS = f"ansible_ssh_common_args='-o UserKnownHostsFile={KNOWN} -o IdentitiesOnly=yes'"

TRANSPORTS = {
    "paramiko": lambda tmp: ["--hosts=proxmox"],
    "ssh": lambda tmp: ["--hosts=ssh://proxmox"],
    "ansible-ssh": lambda tmp: [_inventory(tmp, "ssh", config.SSH_USER, ANSIBLE_SSH_ARGS)],
    "ansible-paramiko": lambda tmp: [
        _inventory(tmp, "paramiko_ssh", config.SSH_USER, "ansible_host_key_checking=false")
    ],
    "local": lambda tmp: ["--hosts=local://"],
    "sudo-paramiko": lambda tmp: ["--hosts=proxmox-admin", "--sudo"],
    "sudo-ssh": lambda tmp: ["--hosts=ssh://proxmox-admin", "--sudo"],
    "ansible-become": lambda tmp: [
        _inventory(tmp, "ssh", sshlab.ADMIN_USER, "ansible_become=true", ANSIBLE_SSH_ARGS)
    ],
    "jump-ssh": lambda tmp: ["--hosts=ssh://proxmox-via-jump"],
    "proxycommand-paramiko": lambda tmp: ["--hosts=proxmox-via-proxycommand"],
}


def _jump_logins() -> int:
    """Logins the bastion has accepted so far (its sshd log)."""
    text = sshlab.BASTION_LOG.read_text() if sshlab.BASTION_LOG.exists() else ""
    return text.count(f"Accepted publickey for {sshlab.JUMP_USER} ")


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_transport_converges_then_audits_green(transport, tmp_path):
    """From the plan's starting point, --fix converges over the transport; the audit after it
    passes every check over the same transport."""
    args = TRANSPORTS[transport](tmp_path)
    # A config of this test's own: a fresh ssh master, so the jump host must be crossed anew.
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(SSH_CONFIG.read_text())
    logins = _jump_logins()
    states.reset()
    fix = run_suite(*args, "--fix", ssh_config=ssh_config, tmp_path=tmp_path / "fix")
    assert fix.rc == 0, fix.explain()
    assert re.search(r"\b[1-9]\d* fix\(es\) applied", fix.output), fix.explain()
    audit = run_suite(*args, ssh_config=ssh_config, tmp_path=tmp_path / "audit")
    assert audit.rc == 0, audit.explain()
    assert audit.with_status("passed") == set(CHECKS), audit.explain()
    if "jump" in transport or "proxycommand" in transport:
        assert _jump_logins() > logins, "the run did not go through the bastion"


# -- each way a connection fails -----------------------------------------------------------


def _entry(name: str, *lines: str, port: int = config.SSH_PORT, user: str = "pvelab") -> str:
    body = ["HostName 127.0.0.1", f"Port {port}", f"User {user}", "IdentitiesOnly yes"]
    return f"Host {name}\n" + "".join(f"    {line}\n" for line in [*body, *lines])


@pytest.fixture
def other_key(tmp_path) -> str:
    path = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return str(path)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose accept queue is full: the kernel drops new SYNs, so a connect times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [*fillers, server]:
        sock.close()


@pytest.fixture
def failing(tmp_path, other_key):
    """An ssh config (the lab's, plus broken entries) and where its files are."""
    empty = tmp_path / "known_hosts.empty"
    empty.write_text("")
    wrong = tmp_path / "known_hosts.wrong"
    blob = Path(f"{other_key}.pub").read_text().split()[:2]
    wrong.write_text(f"[127.0.0.1]:{config.SSH_PORT} {' '.join(blob)}\n")
    entries = [
        _entry("lab-refused", "StrictHostKeyChecking no", port=2299),
        _entry("lab-nowhere", "StrictHostKeyChecking no").replace(
            "HostName 127.0.0.1", "HostName nowhere.invalid"
        ),
        _entry("lab-key-unknown", f"IdentityFile {ROOT_KEY}", f"UserKnownHostsFile {empty}"),
        _entry("lab-key-changed", f"IdentityFile {ROOT_KEY}", f"UserKnownHostsFile {wrong}"),
        _entry("lab-wrong-key", f"IdentityFile {other_key}", f"UserKnownHostsFile {KNOWN}"),
        _entry("lab-no-key", f"UserKnownHostsFile {KNOWN}", user="nobody"),
        _entry("lab-dead-bastion", f"UserKnownHostsFile {KNOWN}", port=2298),
        _entry(
            "lab-via-dead-bastion",
            f"IdentityFile {ROOT_KEY}",
            f"UserKnownHostsFile {KNOWN}",
            "ProxyJump lab-dead-bastion",
        ),
    ]
    config_file = tmp_path / "ssh_config"
    config_file.write_text(SSH_CONFIG.read_text() + "\n" + "\n".join(entries))
    return {"config": config_file, "empty": empty, "wrong": wrong, "other_key": other_key}


def _resolver_says(name: str) -> str:
    try:
        socket.getaddrinfo(name, 22)
    except socket.gaierror as error:
        return str(error.strerror)
    raise AssertionError(f"{name} resolves")


def _fingerprint(public_key: str) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-lf", public_key], capture_output=True, text=True, check=True
    ).stdout.split()
    return out[1]


UNKNOWN_ADVICE = (
    "compare its fingerprint with the host's own (ssh-keygen -lf on the host), then add it: "
    "ssh-keyscan -p 2222 127.0.0.1 >> {known}, or set StrictHostKeyChecking accept-new for "
    "this host in the ssh config"
)
NOT_ROOT = (
    "the audit reads root-only files and --fix changes them: log in as root, or pass --sudo "
    "for a user with passwordless sudo"
)
SUDO_PASSWORD = (
    "the suite cannot type a password (or the user may not use sudo at all): give it "
    "passwordless sudo (NOPASSWD in sudoers), or log in as root"
)


def _cases(f, silent_port):
    """(id, suite arguments, the exact line) for each failure class and transport."""
    host_key = _fingerprint(f"{sshlab.HOST_KEY}.pub")
    nowhere = _resolver_says("nowhere.invalid")
    for kind in ("paramiko", "ssh"):
        key_kind = "ssh-ed25519" if kind == "paramiko" else "ED25519"
        yield (
            f"refused-{kind}",
            [f"--hosts={kind}://lab-refused"],
            f"lab-refused: host unreachable via {kind} (127.0.0.1): connection refused by "
            f"127.0.0.1 port 2299; {REFUSED}",
        )
        yield (
            f"timed-out-{kind}",
            [f"--hosts={kind}://pvelab@127.0.0.1:{silent_port}?timeout=2"],
            f"127.0.0.1: host unreachable via {kind} (127.0.0.1): no answer from 127.0.0.1 "
            f"port {silent_port} (timed out); {PATH}",
        )
        yield (
            f"not-resolved-{kind}",
            [f"--hosts={kind}://lab-nowhere"],
            f"lab-nowhere: host unreachable via {kind} (nowhere.invalid): name nowhere.invalid "
            f"not resolved ({nowhere}); check HostName in the ssh config (or the name in "
            "--hosts) and DNS",
        )
        yield (
            f"host-key-unknown-{kind}",
            [f"--hosts={kind}://lab-key-unknown"],
            f"lab-key-unknown: host key unknown via {kind} (127.0.0.1): [127.0.0.1]:2222 is not "
            f"in {f['empty']} and new keys are not accepted; "
            + UNKNOWN_ADVICE.format(known=f["empty"]),
        )
        yield (
            f"host-key-changed-{kind}",
            [f"--hosts={kind}://lab-key-changed"],
            f"lab-key-changed: HOST KEY CHANGED via {kind} (127.0.0.1): the key [127.0.0.1]:2222 "
            f"offers ({key_kind} {host_key}) is not the one in {f['wrong']}; {ATTACK} If the "
            "host was reinstalled, confirm its new key out of band, then: ssh-keygen -R "
            f"'[127.0.0.1]:2222' -f {f['wrong']}",
        )
        denied = "Authentication failed." if kind == "paramiko" else "Permission denied (publickey)"
        yield (
            f"auth-failed-{kind}",
            [f"--hosts={kind}://lab-wrong-key"],
            f"lab-wrong-key: authentication failed via {kind} (127.0.0.1): user pvelab: the host "
            f"refused every key offered ({denied}); {AUTH}",
        )
        yield (
            f"not-root-{kind}",
            [f"--hosts={kind}://proxmox-admin"],
            f"proxmox-admin: not root via {kind} (127.0.0.1): logged in as pvelab-admin (uid "
            f"{_uid(sshlab.ADMIN_USER)}) without --sudo; {NOT_ROOT}",
        )
        yield (
            f"sudo-password-{kind}",
            [f"--hosts={kind}://proxmox-sudo-password", "--sudo"],
            f"proxmox-sudo-password: sudo asks for a password via {kind} (127.0.0.1): logged in "
            f"as pvelab-pw (uid {_uid(sshlab.PASSWORD_USER)}); sudo -n /bin/sh -c 'id -u' said: "
            f"sudo: a password is required; {SUDO_PASSWORD}",
        )
    yield (
        "no-auth-methods-paramiko",
        ["--hosts=lab-no-key"],
        "lab-no-key: authentication failed via paramiko (127.0.0.1): user nobody: no key, agent "
        f"or password to offer (No authentication methods available); {AUTH}",
    )
    yield (
        "sudo-refused-paramiko",
        ["--hosts=proxmox-admin", "--sudo", "--sudo-user=nosuchuser"],
        "proxmox-admin: sudo refused via paramiko (127.0.0.1): logged in as pvelab-admin (uid "
        f"{_uid(sshlab.ADMIN_USER)}); sudo -n -u nosuchuser /bin/sh -c 'id -u' said: sudo: "
        "unknown user nosuchuser; --sudo-user nosuchuser is no user on the host: fix it, or "
        "drop it for root",
    )
    yield (
        "jump-host-down-ssh",
        ["--hosts=ssh://lab-via-dead-bastion"],
        "lab-via-dead-bastion: host unreachable via ssh (127.0.0.1): connection refused by "
        f"127.0.0.1 port 2298 (a jump host or proxy on the way); {REFUSED}",
    )
    yield (
        "proxyjump-paramiko",
        ["--hosts=proxmox-via-jump"],
        "proxmox-via-jump: cannot connect via paramiko (127.0.0.1): the ssh config says "
        "ProxyJump lab-bastion, which paramiko does not follow (it would connect to HostName "
        "directly); use --hosts=ssh://proxmox-via-jump (OpenSSH), or give this host "
        "ProxyCommand ssh -W %h:%p lab-bastion in the ssh config",
    )


def _uid(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


CASE_IDS = [
    *(
        f"{case}-{kind}"
        for kind in ("paramiko", "ssh")
        for case in (
            "refused",
            "timed-out",
            "not-resolved",
            "host-key-unknown",
            "host-key-changed",
            "auth-failed",
            "not-root",
            "sudo-password",
        )
    ),
    "no-auth-methods-paramiko",
    "sudo-refused-paramiko",
    "jump-host-down-ssh",
    "proxyjump-paramiko",
]


def assert_one_line(run, line: str) -> None:
    """Exit 3 before any test, and the line exactly once; nothing of a transport's internals."""
    assert run.rc == EXIT_UNREACHABLE, run.explain()
    assert "no tests ran" in run.output, run.explain()
    said = [
        ln.removeprefix("! _pytest.outcomes.Exit: ").removesuffix(" !")
        for ln in run.output.splitlines()
        if ln.startswith("! _pytest.outcomes.Exit: ")
    ]
    assert said == [line], run.explain()
    for leak in ("CommandResult", "Traceback", "printf", "@@", "INTERNALERROR"):
        assert leak not in run.output, run.explain()


@pytest.mark.parametrize("case", CASE_IDS)
def test_connection_failure_is_one_exact_line(case, failing, silent_port, tmp_path):
    cases = {name: (args, line) for name, args, line in _cases(failing, silent_port)}
    args, line = cases[case]
    run = run_suite(*args, ssh_config=failing["config"], tmp_path=tmp_path / "r", timeout=60)
    assert_one_line(run, line)
    assert run.seconds < 20, run.explain()


@pytest.mark.parametrize(
    ("case", "args"),
    [
        ("ansible-ssh", ["ssh", "ansible_ssh_common_args='-o UserKnownHostsFile={empty}'"]),
        ("ansible-paramiko", ["paramiko_ssh"]),
    ],
)
def test_ansible_host_key_unknown_is_one_exact_line(case, args, failing, tmp_path):
    connection, *extra = args
    hosts = _inventory(tmp_path, connection, config.SSH_USER, *(e.format(**failing) for e in extra))
    run = run_suite(hosts, tmp_path=tmp_path / "r", timeout=60)
    kind = "ssh" if connection == "ssh" else "paramiko"
    known = failing["empty"] if kind == "ssh" else "~/.ssh/known_hosts"
    accept_new = (
        "add -o StrictHostKeyChecking=accept-new to its ansible_ssh_common_args"
        if kind == "ssh"
        else "set StrictHostKeyChecking accept-new for it in the ssh config"
    )
    assert_one_line(
        run,
        f"pve-ansible: host key unknown via ansible ({kind}) (127.0.0.1): [127.0.0.1]:2222 is "
        f"not in {known} and new keys are not accepted; compare its fingerprint with the "
        "host's own (ssh-keygen -lf on the host), then add it: ssh-keyscan -p 2222 127.0.0.1 "
        f">> {known}, or {accept_new}",
    )


@pytest.mark.parametrize("case", ["host-key-unknown-paramiko", "sudo-password-ssh"])
def test_under_xdist_the_controller_says_the_same_line(case, failing, silent_port, tmp_path):
    cases = {name: (args, line) for name, args, line in _cases(failing, silent_port)}
    args, line = cases[case]
    run = run_suite("-n", "2", *args, ssh_config=failing["config"], tmp_path=tmp_path / "r")
    assert_one_line(run, line)


def test_ssh_reuses_one_connection_across_runs(tmp_path):
    """The second ssh:// run rides on the first one's master (a socket in the private
    directory): the bastion sees no new login."""
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(SSH_CONFIG.read_text())
    hosts = "--hosts=ssh://proxmox-via-jump"
    first = run_suite(hosts, ssh_config=ssh_config, tmp_path=tmp_path / "first")
    assert first.rc in (0, 1), first.explain()  # whatever state the lab is in
    logins = _jump_logins()
    second = run_suite(hosts, ssh_config=ssh_config, tmp_path=tmp_path / "second")
    assert second.rc in (0, 1), second.explain()
    assert _jump_logins() == logins, "the second run logged in again"
    sockets = subprocess.run(
        [
            sys.executable,
            "-c",
            "from compliance.transport import openssh as t; print(t.private_dir())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert any(entry.is_socket() for entry in Path(sockets).iterdir())


def test_pct_exec_resets_path_keeps_env_and_the_ct_curl_ignores_a_proxy():
    """`pct exec` as Proxmox runs it: PATH reset to /sbin:/bin:/usr/sbin:/usr/bin, the rest of
    the caller's environment kept (an operator's http_proxy reaches the CT) unless
    --keep-env 0. The suite's curl in the CT still asks 127.0.0.1 directly (--noproxy '*'),
    where the same curl without it goes to the (dead) proxy."""
    states.make_compliant()
    tags = DirectTags.command(Scope(SETTINGS))
    env = {"PATH": "/opt/operator/bin:/usr/bin:/bin", "http_proxy": "http://127.0.0.9:3128"}

    def pct(*argv: str) -> str:
        return subprocess.run(
            [str(config.PCT_INSTALLED), "exec", str(config.CTID), *argv],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        ).stdout

    assert pct("--", "sh", "-c", 'echo "$PATH $http_proxy"').split() == [
        "/sbin:/bin:/usr/sbin:/usr/bin",
        "http://127.0.0.9:3128",
    ]
    assert pct("--keep-env", "0", "--", "sh", "-c", 'echo "${http_proxy:-none}"') == "none\n"
    assert DirectTags.parse(0, pct("--", "sh", "-c", tags)).reply.status == 200
    without = tags.replace("--noproxy '*' ", "")
    assert without != tags
    assert "@@http 200" not in pct("--", "sh", "-c", without)

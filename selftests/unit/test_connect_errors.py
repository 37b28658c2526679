"""Host-free: every way a connection fails becomes one exact line (compliance/connect_errors.py).

The OpenSSH samples are ssh's own stderr as captured on the lab (OpenSSH 9.2); the paramiko
cases are the exceptions paramiko raises for the same situations.
"""

from __future__ import annotations

import errno
import socket

import paramiko
import pytest
from paramiko.ssh_exception import NoValidConnectionsError, ProxyCommandFailure
from testinfra.backend.base import CommandResult

from compliance.transport import connect_errors as ce
from compliance.transport.connect_errors import Endpoint

SSH = Endpoint("proxmox", "ssh", "127.0.0.1", 2222, "pvelab", "~/.ssh/known_hosts")
PARAMIKO = Endpoint("proxmox", "paramiko", "127.0.0.1", 2222, "nobody", "~/.ssh/known_hosts")
ANSIBLE = Endpoint("pve", "ansible (ssh)", "10.0.0.5", 22, "root", "/tmp/kh")

REFUSED = (
    "check that the host is up and its sshd listens on that port "
    "(Port in the ssh config, or host:port in --hosts)"
)
PATH = "check the address, the network path and firewalls"
AUTH = (
    "check User and IdentityFile for this host in the ssh config (or --ssh-identity-file, or "
    "the ssh agent), and that the key is in that user's authorized_keys"
)
UNKNOWN = (
    "compare its fingerprint with the host's own (ssh-keygen -lf on the host), then add it: "
    "ssh-keyscan -p 2222 127.0.0.1 >> ~/.ssh/known_hosts, or set StrictHostKeyChecking "
    "accept-new for this host in the ssh config"
)
ATTACK = "this may be an attack (a machine in the middle): stopped before logging in."

CHANGED_STDERR = """\
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!
It is also possible that a host key has just been changed.
The fingerprint for the ED25519 key sent by the remote host is
SHA256:A1wwKW4qjHGVKWCYdQsrfZq4gxqvOXCvF9enep4rbtg.
Please contact your system administrator.
Add correct host key in /tmp/kh2 to get rid of this message.
Offending ED25519 key in /tmp/kh2:1
  remove with:
  ssh-keygen -f "/tmp/kh2" -R "[127.0.0.1]:2222"
Host key for [127.0.0.1]:2222 has changed and you have requested strict checking.
Host key verification failed.
"""

OPENSSH = [
    (
        "refused",
        "ssh: connect to host 127.0.0.1 port 2222: Connection refused\r\n",
        "proxmox: host unreachable via ssh (127.0.0.1): connection refused by 127.0.0.1 port "
        f"2222; {REFUSED}",
    ),
    (
        "connect-timed-out",
        "ssh: connect to host 127.0.0.1 port 2222: Connection timed out\r\n",
        "proxmox: host unreachable via ssh (127.0.0.1): no answer from 127.0.0.1 port 2222 "
        f"(timed out); {PATH}",
    ),
    (
        "banner-timed-out",
        "Connection timed out during banner exchange\r\n"
        "Connection to 127.0.0.1 port 2222 timed out\r\n",
        "proxmox: host unreachable via ssh (127.0.0.1): no answer from 127.0.0.1 port 2222 "
        f"(timed out); {PATH}",
    ),
    (
        "no-route",
        "ssh: connect to host 127.0.0.1 port 2222: No route to host\r\n",
        f"proxmox: host unreachable via ssh (127.0.0.1): no route to host: 127.0.0.1 port 2222; "
        f"{PATH}",
    ),
    (
        "not-resolved",
        "ssh: Could not resolve hostname 127.0.0.1: Name or service not known\r\n",
        "proxmox: host unreachable via ssh (127.0.0.1): name 127.0.0.1 not resolved (Name or "
        "service not known); check HostName in the ssh config (or the name in --hosts) and DNS",
    ),
    (
        "jump-host-not-resolved",
        "ssh: Could not resolve hostname bastion: Temporary failure in name resolution\r\n"
        "kex_exchange_identification: Connection closed by remote host\r\n"
        "Connection closed by UNKNOWN port 65535\r\n",
        "proxmox: host unreachable via ssh (127.0.0.1): name bastion (a jump host or proxy on "
        "the way) not resolved (Temporary failure in name resolution); check HostName in the "
        "ssh config (or the name in --hosts) and DNS",
    ),
    (
        "jump-host-refused",
        "ssh: connect to host 127.0.0.1 port 2299: Connection refused\r\n"
        "kex_exchange_identification: Connection closed by remote host\r\n"
        "Connection closed by UNKNOWN port 65535\r\n",
        "proxmox: host unreachable via ssh (127.0.0.1): connection refused by 127.0.0.1 port "
        f"2299 (a jump host or proxy on the way); {REFUSED}",
    ),
    (
        "jump-host-cannot-reach-target",
        "channel 0: open failed: connect failed: Connection refused\r\n"
        "stdio forwarding failed\r\n"
        "kex_exchange_identification: Connection closed by remote host\r\n"
        "Connection closed by UNKNOWN port 65535\r\n",
        "proxmox: host unreachable via ssh (127.0.0.1): the jump host could not open a "
        "connection to 127.0.0.1 port 2222 (connect failed: Connection refused); check "
        "HostName and Port as the jump host sees them, and its AllowTcpForwarding and PermitOpen",
    ),
    (
        "proxy-gave-up-silently",  # a persisting master sends the proxy's stderr to /dev/null
        "kex_exchange_identification: Connection closed by remote host\r\n"
        "Connection closed by UNKNOWN port 65535\r\n",
        "proxmox: host unreachable via ssh (127.0.0.1): the ProxyJump / ProxyCommand connection "
        "closed before the host's sshd answered; check the jump host on its own: ssh -v <jump "
        "host> true",
    ),
    (
        "not-an-ssh-server",
        "kex_exchange_identification: Connection closed by remote host\r\n"
        "Connection closed by 127.0.0.1 port 2222\r\n",
        "proxmox: host unreachable via ssh (127.0.0.1): 127.0.0.1 port 2222 took the "
        "connection but no SSH server answered (Connection closed by remote host); check that "
        "this port is sshd's and that sshd accepts this machine (MaxStartups, fail2ban, TCP "
        "wrappers)",
    ),
    (
        "key-unknown-batch",
        "Host key verification failed.\r\n",
        "proxmox: host key unknown via ssh (127.0.0.1): [127.0.0.1]:2222 is not in "
        f"~/.ssh/known_hosts and new keys are not accepted; {UNKNOWN}",
    ),
    (
        "key-unknown-strict",
        "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict "
        "checking.\r\nHost key verification failed.\r\n",
        "proxmox: host key unknown via ssh (127.0.0.1): [127.0.0.1]:2222 is not in "
        f"~/.ssh/known_hosts and new keys are not accepted; {UNKNOWN}",
    ),
    (
        "key-changed",
        CHANGED_STDERR.replace("\n", "\r\n"),
        "proxmox: HOST KEY CHANGED via ssh (127.0.0.1): the key [127.0.0.1]:2222 offers "
        "(ED25519 SHA256:A1wwKW4qjHGVKWCYdQsrfZq4gxqvOXCvF9enep4rbtg) is not the one in "
        f"/tmp/kh2; {ATTACK} If the host was reinstalled, confirm its new key out of band, "
        "then: ssh-keygen -R '[127.0.0.1]:2222' -f /tmp/kh2",
    ),
    (
        "auth-refused",
        "pvelab@127.0.0.1: Permission denied (publickey).\r\n",
        "proxmox: authentication failed via ssh (127.0.0.1): user pvelab: the host refused "
        f"every key offered (Permission denied (publickey)); {AUTH}",
    ),
    (
        "auth-key-too-open",
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
        "@         WARNING: UNPROTECTED PRIVATE KEY FILE!          @\r\n"
        'Load key "/root/k": bad permissions\r\n'
        "pvelab@127.0.0.1: Permission denied (publickey,password).\r\n",
        "proxmox: authentication failed via ssh (127.0.0.1): user pvelab: the host refused "
        "every key offered (Permission denied (publickey,password)); ssh ignored a key file "
        f"readable by others (chmod 600 it); {AUTH}",
    ),
    (
        "auth-too-many-keys",
        "Received disconnect from 127.0.0.1 port 2222:2: Too many authentication failures\r\n",
        "proxmox: authentication failed via ssh (127.0.0.1): user pvelab: too many keys "
        "offered before the right one (Too many authentication failures); set IdentitiesOnly "
        "yes and the IdentityFile for this host in the ssh config",
    ),
    (
        "config-error",
        "/tmp/cfg: line 2: Bad configuration option: foo\r\n"
        "/tmp/cfg: terminating, 1 bad configuration options\r\n",
        "proxmox: cannot connect via ssh (127.0.0.1): the ssh config is not usable: /tmp/cfg: "
        "line 2: Bad configuration option: foo; fix the ssh config",
    ),
    (
        "no-common-algorithm",
        "Unable to negotiate with 127.0.0.1 port 2222: no matching host key type found. "
        "Their offer: ssh-dss\r\n",
        "proxmox: cannot connect via ssh (127.0.0.1): Unable to negotiate with 127.0.0.1 port "
        "2222: no matching host key type found. Their offer: ssh-dss; the host and this ssh "
        "share no algorithm: update one",
    ),
    (
        "unknown-error",
        "Warning: Permanently added '[127.0.0.1]:2222' (ED25519) to the list of known hosts.\r\n"
        "mux_client_request_session: read from master failed: Broken pipe\r\n",
        "proxmox: cannot connect via ssh (127.0.0.1): ssh failed: mux_client_request_session: "
        "read from master failed: Broken pipe; run ssh -v [127.0.0.1]:2222 true to see why",
    ),
]


@pytest.mark.parametrize(("stderr", "line"), [c[1:] for c in OPENSSH], ids=[c[0] for c in OPENSSH])
def test_openssh_exit_255_is_one_exact_line(stderr, line):
    assert ce.from_ssh(stderr, SSH).line(SSH) == line


def test_ansible_host_key_advice_names_the_inventory_setting():
    line = ce.from_ssh("Host key verification failed.\r\n", ANSIBLE).line(ANSIBLE)
    assert line == (
        "pve: host key unknown via ansible (ssh) (10.0.0.5): 10.0.0.5 is not in /tmp/kh and "
        "new keys are not accepted; compare its fingerprint with the host's own (ssh-keygen "
        "-lf on the host), then add it: ssh-keyscan 10.0.0.5 >> /tmp/kh, or add -o "
        "StrictHostKeyChecking=accept-new to its ansible_ssh_common_args"
    )


def test_known_hosts_dev_null_says_where_a_key_could_go():
    at = Endpoint("proxmox", "ssh", "127.0.0.1", 22, "root", "/dev/null")
    line = ce.from_ssh("Host key verification failed.\r\n", at).line(at)
    assert ">> ~/.ssh/known_hosts (and set UserKnownHostsFile to it: it is /dev/null)" in line


@pytest.fixture(scope="module")
def host_keys(tmp_path_factory):
    """Two ed25519 keys (the host's real one and the one known_hosts expects)."""
    import subprocess

    keys = []
    for name in ("got", "expected"):
        path = tmp_path_factory.mktemp("keys") / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
        keys.append(paramiko.Ed25519Key.from_private_key_file(str(path)))
    return keys


def _refused() -> NoValidConnectionsError:
    return NoValidConnectionsError(
        {("127.0.0.1", 2222): ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")}
    )


PARAMIKO_CASES = [
    (
        "refused",
        _refused(),
        "proxmox: host unreachable via paramiko (127.0.0.1): connection refused by 127.0.0.1 "
        f"port 2222; {REFUSED}",
    ),
    (
        "timed-out",
        TimeoutError("timed out"),
        "proxmox: host unreachable via paramiko (127.0.0.1): no answer from 127.0.0.1 port "
        f"2222 (timed out); {PATH}",
    ),
    (
        "no-route",
        NoValidConnectionsError(
            {("127.0.0.1", 2222): OSError(errno.EHOSTUNREACH, "No route to host")}
        ),
        "proxmox: host unreachable via paramiko (127.0.0.1): no route to host: 127.0.0.1 port "
        f"2222; {PATH}",
    ),
    (
        "not-resolved",
        socket.gaierror(-2, "Name or service not known"),
        "proxmox: host unreachable via paramiko (127.0.0.1): name 127.0.0.1 not resolved (Name "
        "or service not known); check HostName in the ssh config (or the name in --hosts) and "
        "DNS",
    ),
    (
        "no-banner",
        paramiko.SSHException("Error reading SSH protocol banner"),
        "proxmox: host unreachable via paramiko (127.0.0.1): 127.0.0.1 port 2222 took the "
        "connection but no SSH server answered (Error reading SSH protocol banner); check that "
        "this port is sshd's and that sshd accepts this machine (MaxStartups, fail2ban, TCP "
        "wrappers)",
    ),
    (
        "no-auth-methods",
        paramiko.SSHException("No authentication methods available"),
        "proxmox: authentication failed via paramiko (127.0.0.1): user nobody: no key, agent or "
        f"password to offer (No authentication methods available); {AUTH}",
    ),
    (
        "auth-refused",
        paramiko.AuthenticationException("Authentication failed."),
        "proxmox: authentication failed via paramiko (127.0.0.1): user nobody: the host refused "
        f"every key offered (Authentication failed.); {AUTH}",
    ),
    (
        "auth-type",
        paramiko.BadAuthenticationType("Bad authentication type", ["password"]),
        "proxmox: authentication failed via paramiko (127.0.0.1): user nobody: the host accepts "
        f"only password, which was not offered; {AUTH}",
    ),
    (
        "key-encrypted",
        paramiko.PasswordRequiredException("Private key file is encrypted"),
        "proxmox: authentication failed via paramiko (127.0.0.1): user nobody: the key /k is "
        "encrypted and no passphrase was given; load it into ssh-agent (ssh-add), or use a key "
        "without a passphrase for the suite",
    ),
    (
        "key-file-missing",
        FileNotFoundError(errno.ENOENT, "No such file or directory"),
        "proxmox: authentication failed via paramiko (127.0.0.1): user nobody: identity file "
        "/k: not found; fix IdentityFile in the ssh config",
    ),
    (
        "key-unknown",
        ce.UnknownHostKey("[127.0.0.1]:2222", "ssh-ed25519 SHA256:abc"),
        "proxmox: host key unknown via paramiko (127.0.0.1): [127.0.0.1]:2222 is not in "
        f"~/.ssh/known_hosts and new keys are not accepted; {UNKNOWN}",
    ),
    (
        "proxyjump",
        ce.ProxyJumpUnsupported("bastion"),
        "proxmox: cannot connect via paramiko (127.0.0.1): the ssh config says ProxyJump "
        "bastion, which paramiko does not follow (it would connect to HostName directly); use "
        "--hosts=ssh://proxmox (OpenSSH), or give this host ProxyCommand ssh -W %h:%p bastion "
        "in the ssh config",
    ),
    (
        "proxycommand-failed",
        ProxyCommandFailure("ssh -W 127.0.0.1:2222 bastion", "Broken pipe"),
        "proxmox: host unreachable via paramiko (127.0.0.1): the ProxyCommand failed (Broken "
        "pipe); run it by hand to see why: ssh -W 127.0.0.1:2222 bastion",
    ),
]


@pytest.mark.parametrize(
    ("error", "line"), [c[1:] for c in PARAMIKO_CASES], ids=[c[0] for c in PARAMIKO_CASES]
)
def test_paramiko_failure_is_one_exact_line(error, line):
    assert ce.from_exception(error, PARAMIKO, key_file="/k").line(PARAMIKO) == line


def test_paramiko_changed_key_warns_of_an_attack(host_keys):
    got, expected = host_keys
    error = paramiko.BadHostKeyException("[127.0.0.1]:2222", got, expected)
    error.known_hosts = "/tmp/kh"  # type: ignore[attr-defined]  # set by the transport
    line = ce.from_exception(error, PARAMIKO).line(PARAMIKO)
    assert line == (
        "proxmox: HOST KEY CHANGED via paramiko (127.0.0.1): the key [127.0.0.1]:2222 offers "
        f"(ssh-ed25519 {got.fingerprint}) is not the one in /tmp/kh; {ATTACK} If the host was "
        "reinstalled, confirm its new key out of band, then: ssh-keygen -R '[127.0.0.1]:2222' "
        "-f /tmp/kh"
    )


def _login(uid: str, name: str, after: str = "") -> str:
    return f"{ce.LOGIN_MARK} {uid} {name}\n{after}"


NOT_ROOT = (
    "the audit reads root-only files and --fix changes them: log in as root, or pass --sudo "
    "for a user with passwordless sudo"
)
LOGINS = [
    ("root", (0, _login("0", "root"), "", False, None), None),
    ("root-with-sudo", (0, _login("0", "root", "0\n"), "", True, None), None),
    ("admin-with-sudo", (0, _login("1001", "admin", "0\n"), "", True, None), None),
    (
        "non-root-without-sudo",
        (0, _login("1001", "admin"), "", False, None),
        "proxmox: not root via ssh (127.0.0.1): logged in as admin (uid 1001) without --sudo; "
        + NOT_ROOT,
    ),
    (
        "sudo-asks-for-a-password",
        (1, _login("1002", "pw"), "sudo: a password is required\n", True, None),
        "proxmox: sudo asks for a password via ssh (127.0.0.1): logged in as pw (uid 1002); "
        "sudo -n /bin/sh -c 'id -u' said: sudo: a password is required; the suite cannot type "
        "a password (or the user may not use sudo at all): give it passwordless sudo (NOPASSWD "
        "in sudoers), or log in as root",
    ),
    (
        "sudo-unknown-user",
        (1, _login("1001", "admin"), "sudo: unknown user nosuch\n", True, "nosuch"),
        "proxmox: sudo refused via ssh (127.0.0.1): logged in as admin (uid 1001); sudo -n -u "
        "nosuch /bin/sh -c 'id -u' said: sudo: unknown user nosuch; --sudo-user nosuch is no "
        "user on the host: fix it, or drop it for root",
    ),
    (
        "sudo-not-allowed",
        (
            1,
            _login("1001", "admin"),
            "Sorry, user admin is not allowed to execute '/bin/sh -c id -u' as root on pve.\n",
            True,
            None,
        ),
        "proxmox: sudo refused via ssh (127.0.0.1): logged in as admin (uid 1001); sudo -n "
        "/bin/sh -c 'id -u' said: Sorry, user admin is not allowed to execute '/bin/sh -c id "
        "-u' as root on pve.; allow this user passwordless sudo to run /bin/sh as root, or log "
        "in as root",
    ),
    (
        "sudo-not-installed",
        (127, _login("1001", "admin"), "sh: 2: exec: sudo: not found\n", True, None),
        "proxmox: sudo refused via ssh (127.0.0.1): logged in as admin (uid 1001); sudo is not "
        "installed (sh: 2: exec: sudo: not found); install sudo on the host, or log in as root "
        "without --sudo",
    ),
    (
        "sudo-to-a-plain-user",
        (0, _login("1001", "admin", "1002\n"), "", True, "pw"),
        "proxmox: not root via ssh (127.0.0.1): sudo -n -u pw /bin/sh -c 'id -u' runs as uid "
        "1002 (--sudo-user pw); the audit needs root: drop --sudo-user, or name root",
    ),
    (
        "no-shell",
        (1, "", "This account is currently not available.\n", False, None),
        "proxmox: cannot connect via ssh (127.0.0.1): logged in, but the login ran no command "
        "(This account is currently not available.); give the user a POSIX login shell (not "
        "nologin) on the host",
    ),
]


@pytest.mark.parametrize(("result", "line"), [c[1:] for c in LOGINS], ids=[c[0] for c in LOGINS])
def test_login_check_is_one_exact_line_or_none(result, line):
    rc, stdout, stderr, sudo, sudo_user = result
    failure = ce.from_login(rc, stdout, stderr, SSH, sudo, sudo_user)
    assert (failure.line(SSH) if failure else None) == line


def test_login_script_runs_sudo_without_a_prompt():
    assert "sudo" not in ce.login_script(False, None)
    assert ce.login_script(True, "a b").endswith("exec sudo -n -u 'a b' /bin/sh -c 'id -u'")


def test_a_command_result_repr_is_reduced_to_its_stderr():
    """testinfra's ssh backend raises RuntimeError(CommandResult): its text holds the whole
    command (the fact script); only ssh's reason may reach the user."""
    script = b"printf '@@abc nginx_t'\n( nginx -t\n)"
    result = CommandResult(None, 255, script, b"", b"Host key verification failed.\r\n")
    text = ce.one_line(str(RuntimeError(result)))
    assert text == "Host key verification failed."
    assert ce.one_line("a\nb   c") == "a b c"
    assert len(ce.one_line("x" * 1000)) == 400


def test_an_unforeseen_error_is_one_line_without_the_command():
    """E.g. force_ansible's runner raising with its CommandResult: the reason, not the script."""
    script = b"printf '@@abc nginx_t'\n( nginx -t\n)"
    result = CommandResult(None, 4, script, b"", b"UNREACHABLE! => refused\n")
    at = Endpoint("pve", "ansible", "10.0.0.5", 0)
    line = ce.from_exception(AssertionError(f"Unexpected exit code 4 for {result}"), at).line(at)
    assert line == (
        "pve: cannot connect via ansible (10.0.0.5): AssertionError: UNREACHABLE! => refused; "
        "run it with -v to see why"
    )

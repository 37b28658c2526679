"""Why a host could not be used, as one line: what failed, via which transport, the cause
and what to do.

    <host>: <what failed> via <transport> (<address>): <cause>; <what to do>

The sources are paramiko's exceptions, OpenSSH's stderr when it exits 255, and the output of
the login check the preflight runs on every host (`id -u`, and `sudo -n` under --sudo).
Nothing here connects anywhere: every function maps text or an exception to a `Failure`.
"""

from __future__ import annotations

import errno
import re
import shlex
import socket
from dataclasses import dataclass

UNREACHABLE = "host unreachable"
KEY_UNKNOWN = "host key unknown"
KEY_CHANGED = "HOST KEY CHANGED"
AUTH_FAILED = "authentication failed"
SUDO_PASSWORD = "sudo asks for a password"
SUDO_REFUSED = "sudo refused"
NOT_ROOT = "not root"
CANNOT = "cannot connect"

LOGIN_MARK = "@@ollama-compliance-login"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


@dataclass(frozen=True)
class Endpoint:
    """Where a host is reached, as the line and its advice name it."""

    label: str  # the host's name in the run (test ids, reports)
    transport: str  # paramiko | ssh | ansible (ssh) | local ...
    address: str  # the HostName connected to
    port: int = 22  # 0: not known (a transport that does not say)
    user: str = ""
    known_hosts: str = DEFAULT_KNOWN_HOSTS  # the user's known_hosts file in effect

    @property
    def host_id(self) -> str:
        """The host as known_hosts and ssh-keygen -R name it."""
        return self.address if self.port in (0, 22) else f"[{self.address}]:{self.port}"


@dataclass(frozen=True)
class Failure:
    kind: str  # one of the constants above
    cause: str
    advice: str

    def line(self, at: Endpoint) -> str:
        where = f"{at.label}: {self.kind} via {at.transport} ({at.address})"
        return f"{where}: {self.cause}; {self.advice}"


# -- the classes of failure, with their advice ---------------------------------------------

_CHECK_PORT = (
    "check that the host is up and its sshd listens on that port "
    "(Port in the ssh config, or host:port in --hosts)"
)
_CHECK_PATH = "check the address, the network path and firewalls"


def _where(at: Endpoint, host: str | None = None, port: int | None = None) -> str:
    """`127.0.0.1 port 2222`, marked when it is not the target itself (a jump host, a proxy)."""
    host, port = host or at.address, port or at.port
    same = (host, port) == (at.address, at.port) or (host == at.address and not at.port)
    hop = "" if same else " (a jump host or proxy on the way)"
    return f"{host} port {port}{hop}"


def refused(at: Endpoint, host: str | None = None, port: int | None = None) -> Failure:
    return Failure(UNREACHABLE, f"connection refused by {_where(at, host, port)}", _CHECK_PORT)


def timed_out(at: Endpoint, host: str | None = None, port: int | None = None) -> Failure:
    return Failure(UNREACHABLE, f"no answer from {_where(at, host, port)} (timed out)", _CHECK_PATH)


def no_route(at: Endpoint, why: str, host: str | None = None, port: int | None = None) -> Failure:
    return Failure(UNREACHABLE, f"{why.lower()}: {_where(at, host, port)}", _CHECK_PATH)


def not_resolved(at: Endpoint, name: str, why: str) -> Failure:
    hop = "" if name == at.address else " (a jump host or proxy on the way)"
    return Failure(
        UNREACHABLE,
        f"name {name}{hop} not resolved ({why})",
        "check HostName in the ssh config (or the name in --hosts) and DNS",
    )


def no_banner(at: Endpoint, detail: str = "") -> Failure:
    return Failure(
        UNREACHABLE,
        f"{_where(at)} took the connection but no SSH server answered{_paren(detail)}",
        "check that this port is sshd's and that sshd accepts this machine "
        "(MaxStartups, fail2ban, TCP wrappers)",
    )


def key_unknown(at: Endpoint, host_id: str | None = None) -> Failure:
    host_id = host_id or at.host_id
    keyscan = f"ssh-keyscan {'' if at.port in (0, 22) else f'-p {at.port} '}{at.address}"
    into = at.known_hosts
    if into == "/dev/null":  # nothing can ever be known: say where a key could go
        into = f"{DEFAULT_KNOWN_HOSTS} (and set UserKnownHostsFile to it: it is /dev/null)"
    accept_new = {
        "ansible (ssh)": "add -o StrictHostKeyChecking=accept-new to its ansible_ssh_common_args",
        "ansible (paramiko)": "set StrictHostKeyChecking accept-new for it in the ssh config",
    }.get(at.transport, "set StrictHostKeyChecking accept-new for this host in the ssh config")
    return Failure(
        KEY_UNKNOWN,
        f"{host_id} is not in {at.known_hosts} and new keys are not accepted",
        "compare its fingerprint with the host's own (ssh-keygen -lf on the host), then add "
        f"it: {keyscan} >> {into}, or {accept_new}",
    )


def key_changed(at: Endpoint, fingerprint: str = "", known_hosts: str = "") -> Failure:
    known_hosts = known_hosts or at.known_hosts
    remove = f"ssh-keygen -R {shlex.quote(at.host_id)}"
    if known_hosts != DEFAULT_KNOWN_HOSTS:
        remove += f" -f {known_hosts}"
    return Failure(
        KEY_CHANGED,
        f"the key {at.host_id} offers{_paren(fingerprint)} is not the one in {known_hosts}",
        "this may be an attack (a machine in the middle): stopped before logging in. "
        f"If the host was reinstalled, confirm its new key out of band, then: {remove}",
    )


def auth_failed(at: Endpoint, why: str, advice: str = "") -> Failure:
    return Failure(
        AUTH_FAILED,
        f"user {at.user or '?'}: {why}",
        advice
        or "check User and IdentityFile for this host in the ssh config (or "
        "--ssh-identity-file, or the ssh agent), and that the key is in that user's "
        "authorized_keys",
    )


def cannot(why: str, advice: str) -> Failure:
    return Failure(CANNOT, why, advice)


def _paren(text: str) -> str:
    return f" ({text})" if text else ""


# -- paramiko and socket exceptions --------------------------------------------------------


class UnknownHostKey(Exception):
    """Raised by the paramiko transport when the host's key is not in known_hosts."""

    def __init__(self, host_id: str, fingerprint: str) -> None:
        super().__init__(f"{host_id} is not in known_hosts ({fingerprint})")
        self.host_id = host_id
        self.fingerprint = fingerprint


class ProxyJumpUnsupported(Exception):
    """Raised by the paramiko transport for a host whose ssh config says ProxyJump."""

    def __init__(self, jump: str) -> None:
        super().__init__(f"ProxyJump {jump}")
        self.jump = jump


def _os_error(exc: OSError, at: Endpoint, host: str | None, port: int | None) -> Failure:
    code = exc.errno
    if isinstance(exc, ConnectionRefusedError) or code == errno.ECONNREFUSED:
        return refused(at, host, port)
    if isinstance(exc, TimeoutError) or code == errno.ETIMEDOUT:
        return timed_out(at, host, port)
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return no_route(at, exc.strerror or "no route", host, port)
    if isinstance(exc, ConnectionError):
        return no_banner(at, exc.strerror or type(exc).__name__)
    return cannot(f"{type(exc).__name__}: {exc}", _CHECK_PATH)


def from_exception(exc: BaseException, at: Endpoint, key_file: str = "") -> Failure:
    """A paramiko (or socket) connection failure as a `Failure`."""
    import paramiko  # already loaded when paramiko raised; the ssh:// path never gets here

    if isinstance(exc, UnknownHostKey):
        return key_unknown(at, exc.host_id)
    if isinstance(exc, paramiko.BadHostKeyException):
        known = getattr(exc, "known_hosts", "")
        return key_changed(at, f"{exc.key.get_name()} {exc.key.fingerprint}", known)
    if isinstance(exc, ProxyJumpUnsupported):
        return cannot(
            f"the ssh config says ProxyJump {exc.jump}, which paramiko does not follow "
            "(it would connect to HostName directly)",
            f"use --hosts=ssh://{at.label} (OpenSSH), or give this host "
            f"ProxyCommand ssh -W %h:%p {exc.jump} in the ssh config",
        )
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        (host, port, *_), first = next(iter(exc.errors.items()))
        if isinstance(first, OSError):
            return _os_error(first, at, host, port)
    if isinstance(exc, socket.gaierror):
        return not_resolved(at, at.address, exc.strerror or str(exc))
    if isinstance(exc, paramiko.ssh_exception.ProxyCommandFailure):
        return Failure(
            UNREACHABLE,
            f"the ProxyCommand failed ({exc.error})",
            f"run it by hand to see why: {exc.command}",
        )
    if isinstance(exc, paramiko.PasswordRequiredException):
        return auth_failed(
            at,
            f"the key {key_file or '(identity file)'} is encrypted and no passphrase was given",
            "load it into ssh-agent (ssh-add), or use a key without a passphrase for the suite",
        )
    if isinstance(exc, paramiko.BadAuthenticationType):
        allowed = ", ".join(exc.allowed_types)
        return auth_failed(at, f"the host accepts only {allowed}, which was not offered")
    if isinstance(exc, paramiko.AuthenticationException):
        return auth_failed(at, f"the host refused every key offered ({exc})")
    if isinstance(exc, paramiko.SSHException):
        text = str(exc)
        if "No authentication methods available" in text:
            return auth_failed(
                at, "no key, agent or password to offer (No authentication methods available)"
            )
        if text.startswith(("Error reading SSH protocol banner", "Indecipherable protocol")):
            return no_banner(at, text)
        if isinstance(exc, paramiko.ssh_exception.IncompatiblePeer):
            return cannot(f"no common algorithm with the host ({text})", "update either side")
        return cannot(f"SSH error: {text}", f"run ssh -v {at.host_id} to see why")
    if isinstance(exc, FileNotFoundError) and key_file:
        return auth_failed(
            at, f"identity file {key_file}: not found", "fix IdentityFile in the ssh config"
        )
    if isinstance(exc, OSError):
        return _os_error(exc, at, None, None)
    if isinstance(exc, EOFError):
        return no_banner(at, "the connection was closed")
    return cannot(f"{type(exc).__name__}: {one_line(str(exc), 300)}", "run it with -v to see why")


# -- OpenSSH's stderr (exit 255) -----------------------------------------------------------

_CONNECT = re.compile(r"connect to host (\S+) port (\d+): (.+)")
_TIMEOUT = re.compile(r"Connection to (\S+) port (\d+) timed out|timed out during banner exchange")
_RESOLVE = re.compile(r"Could not resolve hostname (\S+?):? (.+)")
_NOT_KNOWN = re.compile(r"No \S+ host key is known for (\S+) and you have requested strict")
_FINGERPRINT = re.compile(r"The fingerprint for the (\S+) key sent by the remote host is\s+(\S+)")
_OFFENDING = re.compile(r"Offending \S+ key in (\S+):\d+")
_DENIED = re.compile(r"Permission denied \(([^)]*)\)")
_CHANNEL = re.compile(r"channel \d+: open failed: (.+)")
_CONFIG = re.compile(r"(.*: line \d+: .+|Bad owner or permissions on .+|Can't open user config .+)")
_NOISE = re.compile(r"^(Warning: Permanently added|Connection closed by|Pseudo-terminal)")


def from_ssh(stderr: str, at: Endpoint) -> Failure:
    """OpenSSH's own error (it exited 255) as a `Failure`."""
    text = stderr.replace("\r", "")
    if found := _CONFIG.search(text):
        return cannot(f"the ssh config is not usable: {found[0].strip()}", "fix the ssh config")
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "has changed and you have" in text:
        found = _FINGERPRINT.search(text)
        offending = _OFFENDING.search(text)
        fingerprint = f"{found[1]} {found[2].rstrip('.')}" if found else ""
        return key_changed(at, fingerprint, offending[1] if offending else "")
    if found := _NOT_KNOWN.search(text):
        return key_unknown(at, found[1])
    if "Host key verification failed" in text:
        return key_unknown(at)
    if found := _CONNECT.search(text):
        host, port, why = found[1], int(found[2]), found[3].strip()
        if "refused" in why:
            return refused(at, host, port)
        if "timed out" in why:
            return timed_out(at, host, port)
        return no_route(at, why, host, port)
    if found := _TIMEOUT.search(text):
        return timed_out(at, found[1], int(found[2])) if found[1] else timed_out(at)
    if found := _RESOLVE.search(text):
        return not_resolved(at, found[1], found[2].strip())
    if found := _CHANNEL.search(text):
        return Failure(
            UNREACHABLE,
            f"the jump host could not open a connection to {_where(at)} ({found[1].strip()})",
            "check HostName and Port as the jump host sees them, and its AllowTcpForwarding "
            "and PermitOpen",
        )
    if found := _DENIED.search(text):
        why = f"the host refused every key offered (Permission denied ({found[1]}))"
        if "UNPROTECTED PRIVATE KEY FILE" in text or "bad permissions" in text:
            why += "; ssh ignored a key file readable by others (chmod 600 it)"
        return auth_failed(at, why)
    if "Too many authentication failures" in text:
        return auth_failed(
            at,
            "too many keys offered before the right one (Too many authentication failures)",
            "set IdentitiesOnly yes and the IdentityFile for this host in the ssh config",
        )
    if found := re.search(r"Unable to negotiate with .+", text):
        return cannot(found[0].strip(), "the host and this ssh share no algorithm: update one")
    if "UNKNOWN port 65535" in text:  # a ProxyJump / ProxyCommand that gave up
        return Failure(
            UNREACHABLE,
            "the ProxyJump / ProxyCommand connection closed before the host's sshd answered",
            "check the jump host on its own: ssh -v <jump host> true",
        )
    if found := re.search(r"kex_exchange_identification: (.+)", text):
        return no_banner(at, found[1].strip())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not _NOISE.match(ln)]
    if not lines and "Connection closed by" in text:
        return no_banner(at, "the connection was closed")
    last = lines[-1] if lines else "ssh exited 255 without a message"
    return cannot(f"ssh failed: {last}"[:300], f"run ssh -v {at.host_id} true to see why")


# -- the login check: id -u, and sudo -n under --sudo --------------------------------------


def login_script(sudo: bool, sudo_user: str | None) -> str:
    """What the preflight runs on each host as the login user (never wrapped in sudo)."""
    script = f'printf "{LOGIN_MARK} %s %s\\n" "$(id -u)" "$(id -un)"'
    if sudo:
        as_user = f"-u {shlex.quote(sudo_user)} " if sudo_user else ""
        script += f"\nexec sudo -n {as_user}/bin/sh -c 'id -u'"
    return script


_SUDO_ASKS = ("password is required", "terminal is required", "askpass")


def from_login(
    rc: int, stdout: str, stderr: str, at: Endpoint, sudo: bool, sudo_user: str | None
) -> Failure | None:
    """The login check's result: None when commands will run as root."""
    found = re.search(rf"{LOGIN_MARK} (\d+) (\S*)", stdout)
    if not found:
        said = _first_line(stderr) or _first_line(stdout) or f"exit {rc}, no output"
        return cannot(
            f"logged in, but the login ran no command ({said})",
            "give the user a POSIX login shell (not nologin) on the host",
        )
    uid, name = found[1], found[2] or "?"
    who = f"{name} (uid {uid})"
    if not sudo:
        if uid == "0":
            return None
        return Failure(
            NOT_ROOT,
            f"logged in as {who} without --sudo",
            "the audit reads root-only files and --fix changes them: log in as root, "
            "or pass --sudo for a user with passwordless sudo",
        )
    command = f"sudo -n {f'-u {sudo_user} ' if sudo_user else ''}/bin/sh -c 'id -u'"
    after = stdout[found.end() :].split()
    if rc == 0:
        if after[:1] == ["0"]:
            return None
        return Failure(
            NOT_ROOT,
            f"{command} runs as uid {after[0] if after else '?'} (--sudo-user {sudo_user})",
            "the audit needs root: drop --sudo-user, or name root",
        )
    said = _first_line(stderr) or f"exit {rc}"
    if any(phrase in stderr for phrase in _SUDO_ASKS):
        return Failure(
            SUDO_PASSWORD,
            f"logged in as {who}; {command} said: {said}",
            "the suite cannot type a password (or the user may not use sudo at all): give "
            "it passwordless sudo (NOPASSWD in sudoers), or log in as root",
        )
    if rc == 127 or "not found" in stderr:
        return Failure(
            SUDO_REFUSED,
            f"logged in as {who}; sudo is not installed ({said})",
            "install sudo on the host, or log in as root without --sudo",
        )
    if "unknown user" in stderr:
        advice = f"--sudo-user {sudo_user} is no user on the host: fix it, or drop it for root"
    else:
        advice = "allow this user passwordless sudo to run /bin/sh as root, or log in as root"
    return Failure(SUDO_REFUSED, f"logged in as {who}; {command} said: {said}", advice)


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.replace("\r", "").splitlines() if ln.strip()]
    return lines[0][:200] if lines else ""


def one_line(text: str, limit: int = 400) -> str:
    """Any error text on one line, a CommandResult's repr reduced to its stderr: a transport
    error must never print the command (the fact script) it was running."""
    found = re.search(r"_stderr=b?(['\"])(.*?)(?<!\\)\1", text, re.S)
    if "CommandResult(" in text and found:
        text = found[2].encode().decode("unicode_escape", "replace")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

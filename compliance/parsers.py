"""Pure parsers for what the probes print. No I/O here: each is unit-tested on samples."""

from __future__ import annotations

import contextlib
import ipaddress
import posixpath
import re
from dataclasses import dataclass, field

OLLAMA_PORT = 11434


# -- systemctl show ---------------------------------------------------------------


def systemctl_show(text: str) -> dict[str, str]:
    """`systemctl show -p A -p B` output as {property: value} (first '=' splits)."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key and key not in props:
            props[key] = value
    return props


def exec_start_path(value: str) -> tuple[str, str]:
    """(path, argv) from systemctl's ExecStart `{ path=/x ; argv[]=/x serve ; ... }`."""
    path = re.search(r"path=(\S+)", value)
    argv = re.search(r"argv\[\]=(.*?) ;", value)
    return (path.group(1) if path else "", argv.group(1).strip() if argv else "")


def environment(value: str) -> dict[str, str]:
    """systemd's Environment= property (space-separated, possibly quoted) as a dict."""
    env: dict[str, str] = {}
    for token in re.findall(r'"[^"]*"|\S+', value):
        key, sep, val = token.strip('"').partition("=")
        if sep:
            env[key] = val
    return env


def timespan_seconds(value: str) -> float | None:
    """systemd timespans like `3s`, `100ms`, `1min 30s` in seconds."""
    if value.strip() == "0":
        return 0.0
    units = {
        "us": 1e-6,
        "ms": 1e-3,
        "s": 1.0,
        "min": 60.0,
        "h": 3600.0,
        "d": 86400.0,
        "w": 604800.0,
        "M": 2629800.0,
        "y": 31557600.0,
    }
    total, found = 0.0, False
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(us|ms|min|s|h|d|w|M|y)\b", value):
        total += float(number) * units[unit]
        found = True
    return total if found else None


# -- OLLAMA_HOST ------------------------------------------------------------------


@dataclass(frozen=True)
class OllamaHost:
    """Where Ollama binds for a given OLLAMA_HOST value."""

    scheme: str
    host: str
    port: int

    @property
    def all_interfaces(self) -> bool:
        if self.host == "":
            return True
        try:
            return ipaddress.ip_address(self.host).is_unspecified
        except ValueError:
            return False


def ollama_host(value: str) -> OllamaHost:
    """Parse OLLAMA_HOST as ollama's envconfig.Host() does."""
    raw = value.strip().strip("\"'").strip()
    scheme, default_port = "http", OLLAMA_PORT
    if "://" in raw:
        scheme, _, raw = raw.partition("://")
        default_port = {"http": 80, "https": 443}.get(scheme, OLLAMA_PORT)
    raw = raw.split("/", 1)[0]
    if not raw:
        return OllamaHost(scheme, "127.0.0.1", default_port)
    host, port_text = raw, ""
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
    port = default_port if not port_text else _port_or(port_text, default_port)
    with contextlib.suppress(ValueError):  # like net.ParseIP(host).String(): 0:0:0:0:0:0:0:0 -> ::
        host = str(ipaddress.ip_address(host))
    return OllamaHost(scheme, host, port)


def _port_or(text: str, fallback: int) -> int:
    return int(text) if text.isdigit() and 0 <= int(text) <= 65535 else fallback


# -- ss ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    """One listening TCP socket from `ss -H -tlnp`."""

    address: str  # '*', '0.0.0.0', '[::]', '127.0.0.1', ...
    port: int
    pids: tuple[int, ...]

    @property
    def all_interfaces(self) -> bool:
        return self.address in ("*", "0.0.0.0", "[::]", "::")

    @property
    def stacks(self) -> str:
        """'dual' for `*`, 'ipv4' for 0.0.0.0, 'ipv6' for [::], else 'one address'."""
        return {"*": "dual", "0.0.0.0": "ipv4", "[::]": "ipv6", "::": "ipv6"}.get(
            self.address, "one address"
        )


def ss_listeners(text: str) -> list[Listener]:
    """Parse `ss -H -tlnp` lines (State Recv-Q Send-Q Local Peer [Process])."""
    listeners = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] != "LISTEN":
            continue
        local = fields[3]
        address, _, port = local.rpartition(":")
        address = re.sub(r"%\S+$", "", address)  # drop an interface scope like %lo
        pids = tuple(int(p) for p in re.findall(r"pid=(\d+)", line))
        if port.isdigit():
            listeners.append(Listener(address, int(port), pids))
    return listeners


# -- nginx ------------------------------------------------------------------------


@dataclass(frozen=True)
class NginxTest:
    """The verdict of `nginx -t` and the file:line of its first error, if any."""

    ok: bool
    error: str
    error_file: str
    warnings: tuple[str, ...]


def nginx_test(rc: int, text: str) -> NginxTest:
    """Parse `nginx -t` (stderr merged): success needs exit 0 and 'test is successful'."""
    error = next((ln for ln in text.splitlines() if "[emerg]" in ln or "[crit]" in ln), "")
    # A file nginx could not open is the culprit, not the file that includes it:
    # `open() "/etc/nginx/sites-enabled/x" failed (2: ...) in /etc/nginx/nginx.conf:60`.
    where = re.search(r'open\(\) "([^"]+)" failed', error) or re.search(r" in (/\S+?):\d+", error)
    warnings = tuple(ln for ln in text.splitlines() if "[warn]" in ln)
    ok = rc == 0 and "test is successful" in text
    return NginxTest(ok, error, where.group(1) if where else "", warnings)


@dataclass(frozen=True)
class SiteFile:
    """The parts of our nginx site the checks look at.

    `directives` are the /ollama/ location's own one-line directives (not nested blocks');
    `manage_guards` the regexes of nested `location ~` blocks that end in `deny all;`, with
    the networks they `allow` first.
    """

    server_names: tuple[str, ...]
    listens: tuple[str, ...]
    location_ollama: bool
    rewrite: bool
    proxy_pass: str
    placeholders: tuple[str, ...]
    directives: dict[str, str] = field(default_factory=dict)
    manage_guards: tuple[str, ...] = ()
    manage_allow: tuple[str, ...] = ()

    @property
    def manage_guarded(self) -> bool:
        return bool(self.manage_guards)

    def guards(self, path: str) -> bool:
        """Whether a guarding regex location matches `path` (nginx's PCRE, read as Python's)."""
        for pattern in self.manage_guards:
            try:
                if re.search(pattern, path):
                    return True
            except re.error:
                continue
        return False


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def _block(body: str, opener: str) -> str | None:
    """The text inside the braces that `opener` (ending in `{`) starts, nesting respected."""
    match = re.search(opener, body)
    if not match:
        return None
    depth, start = 1, match.end()
    for index in range(start, len(body)):
        depth += {"{": 1, "}": -1}.get(body[index], 0)
        if depth == 0:
            return body[start:index]
    return body[start:]


def site_file(text: str) -> SiteFile:
    """Read server_name, listen, the /ollama/ location, rewrite and proxy_pass."""
    body = _strip_comments(text)
    names = re.findall(r"\bserver_name\s+([^;]+);", body)
    location = _block(body, r"\blocation\s+/ollama/\s*\{")
    inner = location or ""
    rewrite = re.search(r"\brewrite\s+\^/ollama/\(\.\*\)\$\s+/\$1\s+break\s*;", inner)
    proxy = re.search(r"\bproxy_pass\s+([^;\s]+)\s*;", inner)
    guards, allows = _guards(inner)
    return SiteFile(
        server_names=tuple(n for group in names for n in group.split()),
        listens=tuple(v.strip() for v in re.findall(r"\blisten\s+([^;]+);", body)),
        location_ollama=location is not None,
        rewrite=rewrite is not None,
        proxy_pass=proxy.group(1) if proxy else "",
        placeholders=tuple(sorted(set(re.findall(r"<[A-Z0-9_]+>", text)))),
        directives=_own_directives(inner),
        manage_guards=guards,
        manage_allow=allows,
    )


def _nested(body: str) -> list[tuple[str, str, str]]:
    """(modifier, pattern, body) of each `location` block directly inside `body`."""
    found = []
    for match in re.finditer(r"\blocation\s+(~\*?|=|\^~)?\s*(\S+)\s*\{", body):
        inner = _block(body[match.start() :], re.escape(match.group(0)))
        found.append((match.group(1) or "", match.group(2), inner or ""))
    return found


def _own_directives(body: str) -> dict[str, str]:
    """`name value;` directives of a block, nested blocks left out (the last one wins)."""
    flat, depth = [], 0
    for char in body:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0 and char not in "{}":
            flat.append(char)
    own = {}
    for name, value in re.findall(r"(?:^|;|\})\s*([a-z_]+)\s+([^;{}]*?)\s*(?=;)", "".join(flat)):
        own[name] = value
    return own


def _guards(location: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Regex locations inside /ollama/ that end in `deny all;`, and the networks they allow."""
    patterns, allows = [], []
    for modifier, pattern, body in _nested(location):
        if modifier.startswith("~") and re.search(r"\bdeny\s+all\s*;", body):
            patterns.append(pattern.strip("\"'"))
            allows += re.findall(r"\ballow\s+([^;\s]+)\s*;", body)
    return tuple(patterns), tuple(allows)


def nginx_seconds(value: str) -> float | None:
    """nginx time values (`600`, `600s`, `10m`, `1h 30m`) in seconds; None if unreadable."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "": 1}
    total, found = 0.0, False
    for number, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|)\b", value.strip()):
        total += int(number) * units[unit]
        found = True
    return total if found else None


def link_target(text: str, link: str) -> tuple[str, str]:
    """(kind, resolved target) from the site_link probe: `link <target>`, `missing`, ...

    A relative target is resolved against the link's directory, as the kernel does.
    """
    kind, _, target = text.strip().partition(" ")
    if kind != "link":
        return kind or "(no answer)", ""
    return kind, posixpath.normpath(posixpath.join(posixpath.dirname(link), target))


def listen_ports(listens: tuple[str, ...]) -> set[int]:
    """TCP ports of nginx `listen` values (`80`, `[::]:80`, `10.0.0.1:8080 ssl`, `10.0.0.1`).

    No listen directive means nginx's default, port 80 (as root); unix sockets have no port.
    """
    if not listens:
        return {80}
    ports = set()
    for value in listens:
        address = value.split()[0]
        if address.startswith("unix:"):
            continue
        tail = address.rsplit("]", 1)[-1]  # an IPv6 literal's colons are not a port
        port = tail.rsplit(":", 1)[-1] if ":" in tail else tail
        ports.add(int(port) if port.isdigit() else 80)  # a bare address listens on 80
    return ports


def proxy_target(proxy_pass: str) -> tuple[str, int] | None:
    """(host, port) of `http://host:port` (no URI part), else None."""
    match = re.fullmatch(r"http://([^/:\[\]]+|\[[^\]]+\]):(\d+)", proxy_pass)
    if not match:
        return None
    return match.group(1).strip("[]"), int(match.group(2))


@dataclass(frozen=True)
class NginxState:
    """Master/worker liveness and whether any config file is newer than the workers."""

    master_pid: int | None
    workers_started: float | None  # epoch seconds of the oldest serving worker
    config_mtimes: dict[str, float]

    @property
    def running(self) -> bool:
        return self.master_pid is not None and self.workers_started is not None

    def stale_files(self) -> list[str]:
        """Config files changed after the running workers were started (reload pending)."""
        if self.workers_started is None:
            return []
        limit = self.workers_started + 0.05  # /proc/uptime and jiffies: 10 ms resolution
        return sorted(p for p, m in self.config_mtimes.items() if m > limit)


def nginx_state(text: str) -> NginxState:
    """Parse the nginx_state probe: `master PID`, `clock NOW UPTIME`, `hz`, `worker PID TICKS`,
    `mtime EPOCH PATH`. Boot time = now - uptime (10 ms resolution, unlike /proc/stat btime)."""
    master = None
    boot = hz = 0.0
    ticks: list[float] = []
    mtimes: dict[str, float] = {}
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        if word == "master" and rest.strip().isdigit():
            master = int(rest)
        elif word == "clock":
            now, _, uptime = rest.partition(" ")
            boot = float(now) - float(uptime)
        elif word == "hz":
            hz = float(rest)
        elif word == "worker":
            parts = rest.split()
            if len(parts) == 2 and parts[1].isdigit():
                ticks.append(float(parts[1]))
        elif word == "mtime":
            stamp, _, path = rest.partition(" ")
            mtimes[path] = float(stamp)
    # The oldest serving worker: a worker respawned after a crash runs the master's (old)
    # config but starts late, so the newest one can hide a pending reload.
    started = boot + min(ticks) / hz if ticks and hz else None
    return NginxState(master, started if master else None, mtimes)


# -- Proxmox ----------------------------------------------------------------------


def pct_config(text: str) -> dict[str, str]:
    """`pct config` key: value lines as a dict."""
    config = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key and not key.startswith("#"):
            config[key.strip()] = value.strip()
    return config


def net0(value: str) -> dict[str, str]:
    """`name=eth0,bridge=vmbr0,ip=10.0.0.5/24,...` as a dict."""
    return dict(part.split("=", 1) for part in value.split(",") if "=" in part)


def static_ipv4(net: dict[str, str]) -> str | None:
    """The static IPv4 of a net0 entry (CIDR stripped), or None for dhcp/manual/absent."""
    value = net.get("ip", "")
    try:
        return str(ipaddress.IPv4Interface(value).ip)
    except ValueError:
        return None


def ipv4_interfaces(text: str) -> list[tuple[str, ipaddress.IPv4Interface]]:
    """[(interface, address/prefix)] from `ip -4 -o addr show` lines."""
    found = []
    for line in text.splitlines():
        match = re.match(r"\d+:\s+(\S+)\s+inet\s+(\d+\.\d+\.\d+\.\d+/\d+)", line)
        if match:
            found.append((match.group(1).split("@")[0], ipaddress.IPv4Interface(match.group(2))))
    return found


def ipv4_addresses(text: str) -> list[tuple[str, str]]:
    """[(interface, address)] from `ip -4 -o addr show` lines."""
    return [(name, str(iface.ip)) for name, iface in ipv4_interfaces(text)]


def pct_status(text: str) -> str:
    """'running', 'stopped', or '' when the container does not exist."""
    match = re.search(r"^status:\s*(\S+)", text, re.M)
    return match.group(1) if match else ""


# -- HTTP through curl ------------------------------------------------------------


@dataclass(frozen=True)
class HttpReply:
    """Status, content type and body of one HTTP exchange."""

    status: int
    content_type: str
    body: str


def curl_reply(text: str, marker: str = "@@http") -> HttpReply | None:
    """Parse `curl -w '\\n@@http %{http_code} %{content_type}'` output (None if no reply)."""
    body, sep, trailer = text.rpartition("\n" + marker + " ")
    if not sep:
        return None
    code, _, ctype = trailer.strip().partition(" ")
    if not code.isdigit() or code == "000":
        return None
    return HttpReply(int(code), ctype.strip(), body)


# -- journal ----------------------------------------------------------------------

JOURNAL_ERRORS = re.compile(
    r"bind: address already in use|panic|permission denied|level=ERROR|^Error: ", re.I
)


def journal_problems(text: str) -> tuple[bool, list[str]]:
    """(has the `Listening on` line, the error lines) of one service start's journal."""
    lines = text.splitlines()
    listening = any("Listening on " in ln for ln in lines)
    return listening, [ln for ln in lines if JOURNAL_ERRORS.search(ln)]

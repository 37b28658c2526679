"""Typed facts: what each probe observed, parsed from its output (no I/O here).

Each `*_of(rc, output)` function is the parser one probe in `compliance/probes.py` names; the
checks and the fix planners read only these values, never a probe's raw output.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Interface

from compliance import parsers
from compliance.parsers import HttpReply, Listener, SiteFile

END = "@@eof-3c1d"  # ends a file's exact content (a file may lack its final newline)
FILE_HEAD = "@@file "
MISSING = "missing"


# -- files the plan owns ------------------------------------------------------------------


@dataclass(frozen=True)
class FileState:
    """A file of the plan: whether it exists, `user:group`, permission bits, exact content."""

    exists: bool
    owner: str = ""
    mode: int = 0
    text: str = ""

    def unsafe(self) -> list[str]:
        """Why anyone but root could change it (empty when root-owned and not g/o-writable)."""
        problems = []
        if self.owner.split(":", 1)[0] != "root":
            problems.append(f"owner {self.owner or '?'} (want root)")
        if self.mode & 0o022:
            problems.append(f"mode {self.mode:o} is group/world-writable")
        return problems


def file_state_of(rc: int, output: str) -> FileState:
    """`stat -c '%U:%G %a'` then the content framed by END, or `missing`."""
    head, sep, rest = output.partition("\n")
    if rc != 0 or not sep or END not in rest:
        return FileState(False)
    owner, _, mode = head.partition(" ")
    bits = int(mode, 8) if re.fullmatch(r"[0-7]{3,4}", mode) else 0o777
    return FileState(True, owner, bits, rest.rsplit(END, 1)[0])


def files_of(rc: int, output: str) -> dict[str, FileState]:
    """Several files: `@@file OWNER MODE PATH` lines, each content then ended by END."""
    files = {}
    for chunk in output.split(FILE_HEAD)[1:]:
        head, _, body = chunk.partition("\n")
        owner, _, rest = head.partition(" ")
        mode, _, path = rest.partition(" ")
        if END in body and path:
            files[path] = file_state_of(0, f"{owner} {mode}\n{body}")
    return files


@dataclass(frozen=True)
class SiteState:
    """Our nginx site file on the host: the file and what its directives say."""

    file: FileState
    site: SiteFile


def site_state_of(rc: int, output: str) -> SiteState:
    state = file_state_of(rc, output)
    return SiteState(state, parsers.site_file(state.text))


@dataclass(frozen=True)
class LinkState:
    """The sites-enabled entry: `link` (with its resolved target), `not-a-link` or `missing`."""

    kind: str
    target: str = ""
    dangling: bool = False


def link_state_parser(link: str) -> Callable[[int, str], LinkState]:
    """The parser of one link's probe (a relative target resolves against the link's dir)."""

    def parse(rc: int, output: str) -> LinkState:
        first, _, rest = output.partition("\n")
        kind, target = parsers.link_target(first, link)
        return LinkState(kind, target, dangling=kind == "link" and rest.strip() == "dangling")

    return parse


# -- login shell --------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginShell:
    """What a fresh login shell (`env -i bash -lc`) printed: its PATH entries."""

    started: bool
    path: tuple[str, ...]
    raw: str


def login_shell_of(rc: int, output: str) -> LoginShell:
    text = output.strip()
    return LoginShell(rc == 0, tuple(text.split(":")) if text else (), text)


@dataclass(frozen=True)
class Which:
    """`command -v ollama` in a login shell, and whether that path is an executable file."""

    found: str
    executable: bool


def which_of(rc: int, output: str) -> Which:
    found, *rest = output.splitlines() or [""]
    return Which(found.strip(), "executable" in rest)


def exists_of(rc: int, output: str) -> bool:
    return rc == 0


def stripped_of(rc: int, output: str) -> str:
    return output.strip()


# -- systemd ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitState:
    """`systemctl show` of ollama.service (drop-ins applied) and the target's clock."""

    props: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        return self.props.get(key, default)

    @property
    def loaded(self) -> bool:
        return self.get("LoadState") == "loaded"

    @property
    def state(self) -> str:
        return f"{self.get('ActiveState')} ({self.get('SubState')})"

    @property
    def main_pid(self) -> int:
        value = self.get("MainPID", "0")
        return int(value) if value.isdigit() else 0

    @property
    def restarts(self) -> int:
        value = self.get("NRestarts", "0")
        return int(value) if value.isdigit() else 0

    @property
    def started_ago(self) -> int | None:
        """Seconds since the main process started (None when unknown)."""
        started, now = self.get("ExecMainStartTimestamp").lstrip("@"), self.get("Now").lstrip("@")
        if started.isdigit() and now.isdigit():
            return int(now) - int(started)
        return None

    @property
    def exec_start(self) -> tuple[str, str]:
        """(executable path, argv) of ExecStart."""
        return parsers.exec_start_path(self.get("ExecStart"))

    @property
    def environment(self) -> dict[str, str]:
        return parsers.environment(self.get("Environment"))

    @property
    def restart_sec(self) -> float | None:
        return parsers.timespan_seconds(self.get("RestartUSec"))

    @property
    def dropins(self) -> tuple[str, ...]:
        return tuple(self.get("DropInPaths").split())


def unit_state_of(rc: int, output: str) -> UnitState:
    return UnitState(parsers.systemctl_show(output))


def main_env_of(rc: int, output: str) -> dict[str, str] | None:
    """The running main process's OLLAMA_* environment (None when no process runs)."""
    if rc != 0 or not output.startswith("pid "):
        return None
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


@dataclass(frozen=True)
class JournalStart:
    """The journal of the unit's current invocation: its `Listening on` line and errors."""

    recorded: bool
    listening: bool
    errors: tuple[str, ...]


def journal_of(rc: int, output: str) -> JournalStart:
    recorded = rc == 0 or "no invocation" not in output
    listening, errors = parsers.journal_problems(output)
    return JournalStart(recorded, listening, tuple(errors))


def listeners_of(rc: int, output: str) -> tuple[Listener, ...]:
    return tuple(item for item in parsers.ss_listeners(output) if item.port == parsers.OLLAMA_PORT)


def http_of(rc: int, output: str) -> HttpReply | None:
    """A curl exchange (body, then the `@@http STATUS TYPE` trailer)."""
    return parsers.curl_reply(output)


def runner_http_of(rc: int, output: str) -> HttpReply | None:
    """An exchange made with requests on the runner: `HTTP STATUS TYPE` line, then the body."""
    head, _, body = output.partition("\n")
    match = re.fullmatch(r"HTTP (\d{3}) ?(.*)", head)
    if rc != 0 or not match:
        return None
    return HttpReply(int(match.group(1)), match.group(2), body)


def addresses_of(rc: int, output: str) -> tuple[tuple[str, str], ...]:
    return tuple(parsers.ipv4_addresses(output))


def interfaces_of(rc: int, output: str) -> tuple[tuple[str, IPv4Interface], ...]:
    """[(interface, address/prefix)] from `ip -4 -o addr show` (the host's own networks)."""
    return tuple(parsers.ipv4_interfaces(output))


# -- the host -----------------------------------------------------------------------------


def nginx_test_of(rc: int, output: str) -> parsers.NginxTest:
    return parsers.nginx_test(rc, output)


def nginx_state_of(rc: int, output: str) -> parsers.NginxState:
    return parsers.nginx_state(output)


def ct_status_of(rc: int, output: str) -> str:
    """'running', 'stopped', ... or '' when the container does not exist."""
    return parsers.pct_status(output)


def ct_config_of(rc: int, output: str) -> dict[str, str]:
    return parsers.pct_config(output)


def http_code_of(rc: int, output: str) -> int | None:
    """curl's `-w '%{http_code}'`: the status of an answer, None when nothing answered."""
    text = output.strip()
    return int(text) if rc == 0 and text.isdigit() and text != "000" else None


@dataclass(frozen=True)
class GuardState:
    """The hardened firewall in the CT: its files' contents, nft present, the table loaded."""

    files: dict[str, str]
    nft: bool
    loaded: bool


def guard_of(rc: int, output: str) -> GuardState:
    files = {path: state.text for path, state in files_of(rc, output).items()}
    lines = output.splitlines()
    return GuardState(files, "@@nft" in lines, "@@loaded" in lines)

"""Facts of plan section 4 in the container: what systemd runs for ollama.service."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from shlex import quote
from typing import Self

from compliance import plan
from compliance.facts import Fact, Scope
from compliance.facts.files import FileState, file_states, files_command
from compliance.syntax import systemd
from compliance.syntax.systemd_env import Setting, Sources, env_files, in_force

UNIT = quote(plan.UNIT_NAME)
DROPIN_DIRS = (
    f"/etc/systemd/system/{plan.UNIT_NAME}.d",
    f"/run/systemd/system/{plan.UNIT_NAME}.d",
)
PROPERTIES = (
    "LoadState",
    "FragmentPath",
    "DropInPaths",
    "ExecStart",
    "Environment",
    "Restart",
    "RestartUSec",
    "User",
    "Group",
    "NeedDaemonReload",
    "UnitFileState",
    "ActiveState",
    "SubState",
    "Result",
    "MainPID",
    "NRestarts",
    "InvocationID",
    "ExecMainStartTimestamp",
    "ExecMainCode",
    "ExecMainStatus",
)
# What drift compares of UnitState: settings a person or a package changes, not run state.
# ExecStart is shown by systemd with the last run's pid and times: its path and argv only.
SETTINGS = ("FragmentPath", "DropInPaths", "Environment", "Restart", "RestartUSec", "User", "Group")
RESTART_SCHEDULED = "5eb03494b6584870a536b337290809b3"  # SD_MESSAGE_UNIT_RESTART_SCHEDULED
PROCESS_EXITED = "98e322203f7a4ed290d09fe03c09fe15"  # SD_MESSAGE_UNIT_PROCESS_EXIT
UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"  # SD_MESSAGE_UNIT_STARTED
UNIT_STOP_MESSAGES = (
    "de5b426a63be47a7b6ac3eaac82e2f6f",  # SD_MESSAGE_UNIT_STOPPING
    "9d1aaa27d60140bd96365438aad20286",  # SD_MESSAGE_UNIT_STOPPED
)
HISTORY_LINES = 60


@dataclass(frozen=True)
class UnitState(Fact):
    """`systemctl show` of ollama.service (drop-ins applied), and the container's clock."""

    props: dict[str, str] = field(default_factory=dict)
    label = "systemctl show ollama.service -p <the plan's settings and its state>"
    observes = "unit"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        shown = " ".join(f"-p {p}" for p in PROPERTIES)
        return f"systemctl show --timestamp=unix {UNIT} {shown}; echo Now=@$(date +%s)"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(systemd.systemctl_show(output))

    def get(self, key: str, default: str = "") -> str:
        return self.props.get(key, default)

    def drift(self) -> dict[str, str]:
        """The unit's settings as systemd loaded them (its state changes by itself)."""
        settings = {key: self.get(key) for key in SETTINGS if key in self.props}
        if "ExecStart" in self.props:
            settings["ExecStart"] = self.exec_start[1] or self.exec_start[0]
        return settings

    @property
    def loaded(self) -> bool:
        return self.get("LoadState") == "loaded"

    @property
    def state(self) -> str:
        return f"{self.get('ActiveState')} ({self.get('SubState')})"

    @property
    def running(self) -> bool:
        return self.state == "active (running)"

    @property
    def main_pid(self) -> int:
        value = self.get("MainPID", "0")
        return int(value) if value.isdigit() else 0

    @property
    def restarts(self) -> int:
        value = self.get("NRestarts", "0")
        return int(value) if value.isdigit() else 0

    @property
    def now(self) -> int | None:
        now = self.get("Now").lstrip("@")
        return int(now) if now.isdigit() else None

    @property
    def started_ago(self) -> int | None:
        """Seconds since the main process started (None when unknown)."""
        started = self.get("ExecMainStartTimestamp").lstrip("@")
        if started.isdigit() and self.now is not None:
            return self.now - int(started)
        return None

    @property
    def last_exit(self) -> str:
        """How the last main process ended (`exited, status 1`), '' if it did not."""
        code, status = self.get("ExecMainCode"), self.get("ExecMainStatus")
        names = {"1": "exited", "2": "killed", "3": "dumped core"}
        if code in ("", "0"):
            return ""
        return f"{names.get(code, 'code ' + code)}, status {status or '?'}"

    @property
    def exec_start(self) -> tuple[str, str]:
        """(executable path, argv) of ExecStart."""
        return systemd.exec_start_path(self.get("ExecStart"))

    @property
    def environment(self) -> dict[str, str]:
        return systemd.environment(self.get("Environment"))

    @property
    def restart_sec(self) -> float | None:
        return systemd.timespan_seconds(self.get("RestartUSec"))

    @property
    def dropins(self) -> tuple[str, ...]:
        return tuple(self.get("DropInPaths").split())


@dataclass(frozen=True)
class UnitFiles(Fact):
    """The unit file and every drop-in systemd reads for it: owner, mode, exact content."""

    files: dict[str, FileState] = field(default_factory=dict)
    label = "cat the unit and every drop-in systemd reads for it"
    observes = "unit"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return files_command(
            quote(plan.UNIT_PATH),
            *(f"{quote(d)}/*.conf" for d in DROPIN_DIRS),
            f"$(systemctl show -p DropInPaths --value {UNIT})",
        )

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(file_states(output))

    def drift(self) -> dict[str, str]:
        return {path: state.described() for path, state in sorted(self.files.items())}


@dataclass(frozen=True)
class UnitEnabled(Fact):
    """`systemctl is-enabled ollama.service`: enabled, disabled, masked, ..."""

    state: str
    observes = "unit"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return f"systemctl is-enabled {UNIT}"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(output.strip())

    def drift(self) -> dict[str, str]:
        return {"is-enabled": self.state}


SYSTEM_CONF = (  # where DefaultEnvironment= of the system manager may be set
    "/etc/systemd/system.conf",
    "/etc/systemd/system.conf.d/*.conf",
    "/run/systemd/system.conf.d/*.conf",
    "/usr/local/lib/systemd/system.conf.d/*.conf",
    "/usr/lib/systemd/system.conf.d/*.conf",
)
ENV_FILE_MAX = 65536


@dataclass(frozen=True)
class MainProcessEnv(Fact):
    """The running main process's OLLAMA_* environment (`running` False: no process), and what
    systemd builds the next start's environment from beyond `Environment=`: the files the unit
    loads, Pass/UnsetEnvironment=, the manager's environment and where it is configured."""

    running: bool
    env: dict[str, str] = field(default_factory=dict)
    show: dict[str, str] = field(default_factory=dict)  # Pass/UnsetEnvironment, EnvironmentFiles
    manager: dict[str, str] = field(default_factory=dict)  # systemctl show-environment
    pid1: dict[str, str] = field(default_factory=dict)  # PID 1's own OLLAMA_* environment
    conf_lines: tuple[tuple[str, int, str], ...] = ()  # DefaultEnvironment= lines
    env_texts: dict[str, str | None] = field(default_factory=dict)  # each EnvironmentFile=
    systemd_version: int | None = None  # `systemctl --version`: how it reads those files
    observes = "unit"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        shown = "-p MainPID -p PassEnvironment -p UnsetEnvironment -p EnvironmentFiles"
        return (
            f"show=$(systemctl show {shown} {UNIT}); "
            """pid=$(printf '%s\\n' "$show" | sed -n 's/^MainPID=//p'); """
            '[ "${pid:-0}" -gt 0 ] && echo "pid $pid" && tr "\\0" "\\n" < /proc/$pid/environ '
            '| grep "^OLLAMA_"; '
            """echo @show; printf '%s\\n' "$show"; """
            "echo @manager; systemctl show-environment | grep '^OLLAMA_'; "
            "echo @version; systemctl --version; "
            "echo @pid1; tr '\\0' '\\n' < /proc/1/environ | grep '^OLLAMA_'; "
            "echo @conf; grep -Hn '^[[:space:]]*DefaultEnvironment=' "
            f"{' '.join(SYSTEM_CONF)} 2>/dev/null; "
            """printf '%s\\n' "$show" | sed -n 's/^EnvironmentFiles=\\([^ ]*\\).*/\\1/p' """
            "| while read -r f; do "
            '[ -n "$f" ] || continue; echo "@file $f"; '
            f'if [ -r "$f" ]; then head -c {ENV_FILE_MAX} -- "$f" | sed "s/^/|/"; echo; '
            "else echo @unreadable; fi; done; "
            '[ "${pid:-0}" -gt 0 ]'
        )

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        sections: dict[str, list[str]] = {"": []}
        files: dict[str, str | None] = {}
        current = ""
        for line in output.splitlines():
            if line in ("@show", "@manager", "@version", "@pid1", "@conf"):
                current = line
                sections[current] = []
            elif line.startswith("@file "):
                current = line
                files[line[6:]] = ""
            elif current.startswith("@file "):
                name = current[6:]
                if line == "@unreadable":
                    files[name] = None
                elif line.startswith("|") and files[name] is not None:
                    files[name] = f"{files[name]}{line[1:]}\n"
            else:
                sections.setdefault(current, []).append(line)
        show: dict[str, str] = {}
        for line in sections.get("@show", []):
            key, _, value = line.partition("=")
            show[key] = f"{show[key]}\n{value}" if key in show and value else value
        return cls(
            rc == 0 and output.startswith("pid "),
            _pairs(sections[""]),
            show,
            _pairs(sections.get("@manager", [])),
            _pairs(sections.get("@pid1", [])),
            tuple(_conf_line(line) for line in sections.get("@conf", []) if ":" in line),
            files,
            _systemd_version(sections.get("@version", [])),
        )


def _systemd_version(lines: list[str]) -> int | None:
    """`systemd 252 (252.39-1~deb12u2)` -> 252 (None: not shown)."""
    found = re.match(r"systemd (\d+)", lines[0]) if lines else None
    return int(found.group(1)) if found else None


def _pairs(lines: list[str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _conf_line(line: str) -> tuple[str, int, str]:
    """`grep -Hn` output: (path, line, text)."""
    path, _, rest = line.partition(":")
    number, _, text = rest.partition(":")
    return path, int(number) if number.isdigit() else 0, text


def env_sources(unit: UnitState, files: UnitFiles, env: MainProcessEnv) -> Sources:
    """What systemd merges into the next start's environment (compliance/syntax/systemd_env)."""
    fragment = unit.get("FragmentPath") or plan.UNIT_PATH
    order = [fragment, *unit.dropins]
    return Sources(
        environment=unit.environment,
        env_files=env_files(env.show.get("EnvironmentFiles", "")),
        env_texts=env.env_texts,
        passed=env.show.get("PassEnvironment", "").split(),
        unset=env.show.get("UnsetEnvironment", "").split(),
        manager=env.manager,
        manager_lines=env.conf_lines,
        pid1=env.pid1,
        files=[(path, files.files[path].text) for path in order if path in files.files],
        unit_path=plan.UNIT_PATH,
        systemd_version=env.systemd_version,
    )


# Ollama's own error lines (not what a client can put in a line: gin logs every request's
# path, `[GIN] ... | 404 | ... | GET "/ollama/panic"`). A slog line (`level=...`) counts only
# at level=ERROR; gin's lines (`[GIN]`, `[GIN-debug]`) never; any other line when it starts as
# Go, cobra or gin's recovery report a failure (`panic: `, `fatal error: `, `Error: `,
# `[Recovery] ... panic recovered`) or carries the bind/permission errors of a runner's stderr.
_SLOG_LEVEL = re.compile(r"(?:^|\s)level=(\S+)")
_REQUEST_LOG = re.compile(r"^\[GIN(?:-debug)?\]")
_OWN_ERROR = re.compile(
    r"^(?:panic: |fatal error: |Error: |\[Recovery\] .*panic recovered)"
    r"|bind: address already in use|permission denied"
)
# The probe's prefilter (grep -E), before `tail`: request-log lines out first, so a flood of
# requests cannot push the server's own lines out of the tail.
JOURNAL_PREFILTER = "Listening on|bind:|panic|permission denied|level=ERROR|^Error: |^fatal error: "


def ollama_error(line: str) -> bool:
    """Whether a journal line is one of Ollama's own errors (see above)."""
    if _REQUEST_LOG.match(line):
        return False
    level = _SLOG_LEVEL.search(line)
    if level is not None:
        return level.group(1).strip('"').upper() == "ERROR"
    return _OWN_ERROR.search(line) is not None


@dataclass(frozen=True)
class Journal(Fact):
    """The service's own journal lines of its current invocation: `Listening on`, errors."""

    recorded: bool
    listening: bool
    errors: tuple[str, ...]
    observes = "unit"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return (
            f"inv=$(systemctl show -p InvocationID --value {UNIT}); "
            '[ -n "$inv" ] || { echo "no invocation of the unit"; exit 1; }; '
            'journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$inv" '
            f"| grep -av '^\\[GIN' | grep -aE {quote(JOURNAL_PREFILTER)} | tail -n 40"
        )

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        lines = output.splitlines()
        recorded = rc == 0 or "no invocation" not in output
        listening = any("Listening on " in line for line in lines)
        errors = tuple(line for line in lines if ollama_error(line))
        return cls(recorded, listening, errors)


@dataclass(frozen=True)
class UnitEvent:
    """One of systemd's own journal messages about the unit."""

    at: float  # epoch seconds
    invocation: str
    message_id: str
    message: str
    exit_status: str = ""


@dataclass(frozen=True)
class UnitHistory(Fact):
    """systemd's latest messages about the unit (starts, exits, scheduled restarts), each with
    the invocation it belongs to: how the current invocation came to be."""

    events: tuple[UnitEvent, ...] = ()
    label = f"journalctl _PID=1 UNIT={plan.UNIT_NAME} -n {HISTORY_LINES} -o json"
    observes = "unit"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return (
            f"journalctl --no-pager -o json -n {HISTORY_LINES} _PID=1 UNIT={UNIT} "
            "--output-fields=MESSAGE,MESSAGE_ID,INVOCATION_ID,EXIT_STATUS"
        )

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        events = []
        for line in output.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict):
                continue
            stamp = str(entry.get("__REALTIME_TIMESTAMP", "0"))
            events.append(
                UnitEvent(
                    int(stamp) / 1e6 if stamp.isdigit() else 0.0,
                    str(entry.get("INVOCATION_ID") or ""),
                    str(entry.get("MESSAGE_ID") or ""),
                    _text(entry.get("MESSAGE")),
                    str(entry.get("EXIT_STATUS") or ""),
                )
            )
        return cls(tuple(events))

    def started_by_restart(self, invocation: str) -> bool | None:
        """Whether systemd's Restart= started `invocation` (True), a job did (a person, a
        fix, boot: False), or the journal does not say (None).

        Restart= logs `Scheduled restart job` right before its start (only the old
        invocation's `Stopped` between); any other last word (`Failed to start` after the
        start limit, `Failed with result` of a process a person restarted during RestartSec)
        means a job started it, however many restarts came before.
        """
        mine = next((i for i, e in enumerate(self.events) if e.invocation == invocation), None)
        if mine is None:
            return None
        before = [e for e in self.events[:mine] if e.message_id not in UNIT_STOP_MESSAGES]
        if not before:
            return None
        return before[-1].message_id == RESTART_SCHEDULED

    def failures_since(self, since: float) -> list[UnitEvent]:
        """The main process's exits with a failure status at or after `since`."""
        return [
            e
            for e in self.events
            if e.message_id == PROCESS_EXITED and e.at >= since and e.exit_status not in ("0", "")
        ]


def _text(message: object) -> str:
    """journalctl's MESSAGE: a string, or a byte list when it was not valid UTF-8."""
    if isinstance(message, list):
        return bytes(b for b in message if isinstance(b, int) and 0 <= b < 256).decode(
            "utf-8", "replace"
        )
    return str(message or "")


def host_in_force(unit: UnitState, files: UnitFiles, env: MainProcessEnv) -> Setting:
    """OLLAMA_HOST as systemd would start the unit now, with the file or mechanism deciding it."""
    return in_force("OLLAMA_HOST", env_sources(unit, files, env))

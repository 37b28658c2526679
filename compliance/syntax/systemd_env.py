"""Where a variable in a service's environment comes from, as systemd builds that environment.

systemd (`exec_invoke`, systemd.exec(5)) merges, each later source winning: the manager's
environment (`DefaultEnvironment=` of system.conf and system.conf.d, `systemctl
set-environment`: what `systemctl show-environment` prints), then the manager's own process
environment for the names in `PassEnvironment=`, then `Environment=` of the unit file and its
drop-ins, then the files of `EnvironmentFile=` in their order; `UnsetEnvironment=` then removes a
name (or one exact `NAME=VALUE`). The values come from systemd's loaded unit (`systemctl show`);
the unit's files on disk only name the line that set them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from compliance.syntax import systemd

# Where a value came from: the plan's unit file, one of its drop-ins, a file the unit loads,
# the manager (its environment, or PID 1's for PassEnvironment=), or none of them.
UNIT, DROPIN, ENV_FILE, MANAGER, PASSED, UNSET, DEFAULT = (
    "unit",
    "drop-in",
    "environment file",
    "manager",
    "passed",
    "unset",
    "default",
)
_ASSIGN = re.compile(r"^\s*([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class Setting:
    """One variable as systemd would start the unit now, and what decided it."""

    name: str
    value: str | None  # None: not in the environment
    kind: str  # UNIT, DROPIN, ENV_FILE, MANAGER, PASSED, UNSET or DEFAULT
    origin: str  # `path:line` (and through what), or the mechanism
    path: str = ""  # the file that decides it ("" for a mechanism)

    @property
    def shown(self) -> str:
        if self.kind == DEFAULT:
            return f"{self.name} unset (no Environment=, EnvironmentFile= or manager value)"
        value = "(unset)" if self.value is None else self.value
        return f"{self.name}={value} from {self.origin}"


@dataclass(frozen=True)
class Sources:
    """What systemd merges for one unit: its loaded properties, its files' text, the rest."""

    environment: Mapping[str, str]  # systemctl show -p Environment (loaded, drop-ins merged)
    env_files: Sequence[tuple[str, bool]]  # EnvironmentFiles: (path, `-`: missing is fine)
    env_texts: Mapping[str, str | None]  # each environment file's text (None: unreadable)
    passed: Sequence[str]  # PassEnvironment
    unset: Sequence[str]  # UnsetEnvironment
    manager: Mapping[str, str]  # systemctl show-environment
    manager_lines: Sequence[tuple[str, int, str]]  # DefaultEnvironment= lines: path, line, text
    pid1: Mapping[str, str]  # the manager's own process environment
    files: Sequence[tuple[str, str]]  # the unit file then its drop-ins, in systemd's order
    unit_path: str  # the plan's unit file
    systemd_version: int | None = None  # the CT's systemd (how it reads environment files)


def in_force(name: str, src: Sources) -> Setting:
    """`name` as systemd would start the unit now (see the module's docstring)."""
    setting = Setting(name, None, DEFAULT, "")
    if name in src.manager:
        setting = Setting(name, src.manager[name], MANAGER, _manager_origin(name, src))
    if name in src.passed and name in src.pid1:
        where = _directive(src, "PassEnvironment", lambda v: name in v.split())
        setting = Setting(name, src.pid1[name], PASSED, f"PID 1's environment, passed by {where}")
    if name in src.environment:
        setting = _from_environment(name, src.environment[name], src)
    for path, _optional in src.env_files:
        found = _env_file_value(src.env_texts.get(path), name, src.systemd_version)
        if found is not None:
            line, value = found
            loaded = _directive(src, "EnvironmentFile", lambda v, p=path: v.lstrip("-") == p)
            setting = Setting(
                name, value, ENV_FILE, f"{path}:{line} (EnvironmentFile= of {loaded})", path
            )
    for entry in src.unset:
        if entry == name or entry == f"{name}={setting.value}":
            where = _directive(src, "UnsetEnvironment", lambda v, e=entry: e in v.split())
            setting = Setting(name, None, UNSET, f"UnsetEnvironment={entry} in {where}")
    return setting


def _from_environment(name: str, value: str, src: Sources) -> Setting:
    """An `Environment=` value systemd loaded, with the last line of the files that sets it."""
    found: tuple[str, int] | None = None
    for path, text in src.files:
        for number, key, val in service_lines(text):
            if key != "Environment":
                continue
            if not val.strip():
                found = None  # an empty Environment= resets the list
            elif systemd.environment(val).get(name) is not None:
                found = (path, number) if systemd.environment(val)[name] == value else None
    if found is None:
        return Setting(name, value, DROPIN, "Environment= as systemd loaded it (systemctl show)")
    path, number = found
    kind = UNIT if path == src.unit_path else DROPIN
    return Setting(name, value, kind, f"{path}:{number}", path)


def _directive(src: Sources, key: str, match: object) -> str:
    """`path:line` of the last `key=` line in the unit's files whose value matches."""
    test = match if callable(match) else (lambda _v: True)
    where = f"{key}= (systemctl show)"
    for path, text in src.files:
        for number, found, value in service_lines(text):
            if found == key and test(value):
                where = f"{path}:{number}"
    return where


def _manager_origin(name: str, src: Sources) -> str:
    for path, number, text in src.manager_lines:
        if re.search(rf"(?:^|[\s\"'=]){re.escape(name)}=", text):
            return f"DefaultEnvironment= in {path}:{number} (the manager's environment)"
    return "the manager's environment (systemctl set-environment; systemctl show-environment)"


def service_lines(text: str) -> list[tuple[int, str, str]]:
    """(line number, key, value) of each assignment in the [Service] section of a unit file."""
    out, section = [], ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
            continue
        if section != "[Service]" or stripped.startswith(("#", ";")):
            continue
        match = _ASSIGN.match(line)
        if match:
            out.append((number, match.group(1), match.group(2)))
    return out


def _env_file_value(text: str | None, name: str, version: int | None) -> tuple[int, str] | None:
    """The last assignment of `name` in an EnvironmentFile= file: (line, value), or None."""
    found = None
    for number, key, value in env_file_assignments(text or "", version):
        if key == name:
            found = (number, value)
    return found


# The escape after a comment: systemd before v254 reads the next line as more of the comment,
# v254 and later as a line of its own (env-file.c's COMMENT_ESCAPE).
COMMENT_CONTINUES_BEFORE = 254
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # env_name_is_valid: the others are dropped
_NEED_ESCAPE = '"\\`$'  # what a backslash unescapes inside double quotes


def env_file_assignments(text: str, version: int | None = None) -> list[tuple[int, str, str]]:
    """(line, name, value) of each assignment systemd takes from an EnvironmentFile= file, in
    order, read as its env-file parser reads one: a character at a time, so a backslash before
    a newline joins lines, quotes may span lines, whitespace around the name and the `=` and
    after an unquoted value goes, `export NAME=` or `A.B=` is no name (dropped, as systemd drops
    it), and a comment ending in a backslash swallows the next line before v254 (`version`
    None: as v254 and later)."""
    continues = version is not None and version < COMMENT_CONTINUES_BEFORE
    found: list[tuple[int, str, str]] = []
    state, key, value, start = "pre_key", "", "", 0
    trail = -1  # where trailing whitespace of the unquoted value began (-1: none)

    def push() -> None:
        name = key.rstrip(" \t")
        end = trail if state == "value" and trail >= 0 else len(value)
        if _NAME.fullmatch(name):
            found.append((text.count("\n", 0, start) + 1, name, value[:end]))

    for at, c in enumerate(text):
        newline = c in "\n\r"
        if state == "pre_key":
            if c in "#;":
                state = "comment"
            elif c not in " \t\n\r":
                state, key, value, start = "key", c, "", at
        elif state == "key":
            if newline:
                state = "pre_key"
            elif c == "=":
                state, trail = "pre_value", -1
            else:
                key += c
        elif state in ("pre_value", "value"):
            if newline:
                push()
                state = "pre_key"
            elif c == "\\":
                state, trail = "value_escape", -1
            elif state == "pre_value" and c in "'\"":
                state = "single" if c == "'" else "double"
            elif state == "value" or c not in " \t":
                if c not in " \t":
                    trail = -1
                elif trail < 0:
                    trail = len(value)
                state, value = "value", value + c
        elif state == "value_escape":
            state, value = "value", value + ("" if newline else c)
        elif state == "single":
            state, value = ("pre_value", value) if c == "'" else ("single", value + c)
        elif state == "double":
            if c == '"':
                state = "pre_value"
            elif c == "\\":
                state = "double_escape"
            else:
                value += c
        elif state == "double_escape":
            state = "double"
            value += c if c in _NEED_ESCAPE else "" if c == "\n" else "\\" + c
        elif state == "comment":
            state = "comment_escape" if c == "\\" else "pre_key" if newline else "comment"
        else:  # comment_escape
            state = "pre_key" if newline and not continues else "comment"
    if state not in ("pre_key", "key", "comment", "comment_escape"):
        push()
    return found


def env_files(value: str) -> list[tuple[str, bool]]:
    """systemctl show's EnvironmentFiles (`/etc/x (ignore_errors=no)` a line): (path, optional)."""
    out = []
    for line in value.splitlines():
        match = re.match(r"^\s*(\S+)(?:\s+\(ignore_errors=(yes|no)\))?\s*$", line)
        if match:
            out.append((match.group(1), match.group(2) == "yes"))
    return out

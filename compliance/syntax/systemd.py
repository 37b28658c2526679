"""systemd's formats: unit files, `systemctl show` output, timespans, Environment= values."""

from __future__ import annotations

import re

Assignments = tuple[tuple[str, str], ...]

_TIMESPAN_UNITS = {
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


def unit_file(text: str) -> dict[str, Assignments]:
    """A unit file (or drop-in) as {section: ((key, value), ...)}, in file order.

    Comments (`#`, `;`) and blank lines are skipped, a trailing backslash continues a line, and
    an assignment's value is kept as written (an empty one, `ExecStart=`, resets a list).
    """
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        if sep and current is not None:
            current.append((key.strip(), value.strip()))
    return {name: tuple(items) for name, items in sections.items()}


def last(assignments: Assignments, key: str) -> str | None:
    """The value a key ends up with (the last assignment wins), None if never assigned."""
    values = [value for name, value in assignments if name == key]
    return values[-1] if values else None


def systemctl_show(text: str) -> dict[str, str]:
    """`systemctl show -p A -p B` output as {property: value} (the first '=' splits)."""
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


def exec_status(value: str) -> tuple[str, str]:
    """(code, status) of the last run from systemctl's ExecStart/ExecMainStatus words
    (`code=exited ; status=1/FAILURE`), empty when not recorded."""
    code = re.search(r"code=([^ ;]+)", value)
    status = re.search(r"status=([^ ;]+)", value)
    return (code.group(1) if code else "", status.group(1) if status else "")


def environment(value: str) -> dict[str, str]:
    """An Environment= value (systemctl's, or a unit file's: space-separated, possibly
    quoted) as a dict; a later assignment of a variable wins."""
    env: dict[str, str] = {}
    for token in re.findall(r'"[^"]*"|\'[^\']*\'|\S+', value):
        key, sep, val = token.strip("\"'").partition("=")
        if sep:
            env[key] = val
    return env


def timespan_seconds(value: str) -> float | None:
    """systemd timespans like `3`, `3s`, `100ms`, `1min 30s` in seconds (None if unreadable).

    A bare number is seconds, as in unit files (`RestartSec=3`).
    """
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    total, found = 0.0, False
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(us|ms|min|s|h|d|w|M|y)\b", text):
        total += float(number) * _TIMESPAN_UNITS[unit]
        found = True
    return total if found else None

"""Drop-ins keep the operator's settings: only a plan setting given another value is removed.

A drop-in written the way Ollama's docs say (`systemctl edit ollama.service`) often carries
the operator's own settings beside OLLAMA_HOST (OLLAMA_MODELS, OLLAMA_KEEP_ALIVE, ...). The
fix removes only the assignments that contradict the plan and leaves the rest in effect.
"""

from __future__ import annotations

import re

from compliance import plan
from compliance.syntax import ollama, systemd

PLAN_VALUES = {  # the plan's [Service] settings, read from its unit (compliance/plan)
    "ExecStart": plan.UNIT.exec_start,
    "Restart": plan.UNIT.restart,
    "User": plan.UNIT.user,
    "Group": plan.UNIT.group,
}
PLAN_RESTART_SEC = plan.UNIT.restart_sec
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z]+)\s*=\s*(.*?)\s*$")
_TOKEN = re.compile(r'"[^"]*"|\S+')


def agrees(key: str, value: str) -> bool:
    """Whether one `[Service]` assignment agrees with the plan (keys the plan does not set do)."""
    if key == "ExecStart":
        return value == "" or " ".join(value.split()) == PLAN_VALUES[key]
    if key == "RestartSec":
        return systemd.timespan_seconds(value) == PLAN_RESTART_SEC
    if key in PLAN_VALUES:
        return value == PLAN_VALUES[key]
    return True


def _host_agrees(value: str) -> bool:
    bind = ollama.ollama_host(value)
    return bind.all_interfaces and bind.port == plan.PORT


def _environment(value: str) -> str | None:
    """The Environment= value without an OLLAMA_HOST that binds elsewhere (None: nothing left)."""
    kept = []
    for token in _TOKEN.findall(value):
        key, _, val = token.strip('"').partition("=")
        if key == "OLLAMA_HOST" and not _host_agrees(val):
            continue
        kept.append(token)
    return " ".join(kept) or None


def _unset(value: str) -> str | None:
    """The UnsetEnvironment= value without the names that would unset the plan's OLLAMA_HOST."""
    plan_value = f"OLLAMA_HOST={plan.UNIT.ollama_host}"
    kept = [t for t in _TOKEN.findall(value) if t.strip('"') not in ("OLLAMA_HOST", plan_value)]
    return " ".join(kept) or None


TOKEN_EDITS = {"Environment": _environment, "UnsetEnvironment": _unset}  # edited, not dropped


def without_overrides(text: str) -> str | None:
    """The drop-in minus the plan settings it contradicts; None when it contradicts none.

    `ExecStart=` (the reset a drop-in needs before its own command) goes with the command it
    precedes when that command is not the plan's.
    """
    lines = text.splitlines(keepends=True)
    section = ""
    contradicted = set()
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
            continue
        match = _ASSIGNMENT.match(line)
        if section == "[Service]" and match and not agrees(*match.groups()):
            contradicted.add(match.group(1))
    out, section, changed = [], "", False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
        match = _ASSIGNMENT.match(line) if section == "[Service]" else None
        if match and match.group(1) in contradicted:
            changed = True
            continue
        if match and match.group(1) in TOKEN_EDITS:
            key = match.group(1)
            value = TOKEN_EDITS[key](match.group(2))
            if value != match.group(2):
                changed = True
                if value is None:
                    continue
                ending = "\n" if line.endswith("\n") else ""
                line = f"{key}={value}{ending}"
        out.append(line)
    return "".join(out) if changed else None

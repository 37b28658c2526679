"""Plan sections 3 and 6.1.1: /usr/local/bin on every login shell's PATH in the container."""

from __future__ import annotations

import re

from compliance import plan
from compliance.catalogue import check
from compliance.catalogue.verdict import Subject, Verdict, failed, passed
from compliance.facts.shell import Binary, LoginPath, LoginWhich, ProfileScript

ORDER = 2


@check("ct", "6.1.1", "profile_d")
def profile_script(s: Subject) -> Verdict:
    """/etc/profile.d/ollama.sh exists, root-owned, not group/world-writable, adds the bin dir."""
    script = s[ProfileScript]
    if not script.exists:
        return failed(f"{plan.PROFILE_SCRIPT} exists", "it does not exist")
    if script.unsafe():
        return failed("owned by root, not group/world-writable", "; ".join(script.unsafe()))
    if not any(plan.BIN_DIR in value.split(":") for value in plan.path_exports(script.text)):
        exports = re.findall(r"^\s*export\s+PATH=(.*)$", script.text, re.M)
        return failed(
            f'an `export PATH="$PATH:{plan.BIN_DIR}"` line', f"PATH exports: {exports or 'none'}"
        )
    return passed()


@check("ct", "6.1.1", "profile_d")
def profile_is_file(s: Subject) -> Verdict:
    """/etc/profile.d/ollama.sh is a regular file of its own, not a symlink to one elsewhere."""
    script = s[ProfileScript]
    if script.link:
        target = f"{script.link}{'' if script.exists else ', which does not exist'}"
        return failed(f"{plan.PROFILE_SCRIPT} a regular file", f"a symlink to {target}")
    if not script.exists:
        return failed(f"{plan.PROFILE_SCRIPT} a regular file", "it does not exist")
    return passed()


@check("ct", "6.1.1", "profile_d")
def login_path(s: Subject) -> Verdict:
    """A fresh login shell (`env -i bash -lc`) has /usr/local/bin on its PATH."""
    shell = s[LoginPath]
    if not shell.started:
        return failed("a login shell starts", f"it failed: {shell.raw or '(no output)'}")
    if plan.BIN_DIR not in shell.path:
        return failed(f"{plan.BIN_DIR} on the login PATH", shell.raw)
    return passed()


@check("ct", "6.1.1", "profile_d")
def which_ollama(s: Subject) -> Verdict:
    """In a login shell `command -v ollama` is /usr/local/bin/ollama, an executable file."""
    which = s[LoginWhich]
    if which.found == plan.BINARY and which.executable:
        return passed()
    found = which.found or "ollama not found on the login PATH"
    if not s[Binary].present:
        found += f"; {plan.BINARY} is missing"
    return failed(f"{plan.BINARY}, executable", found)

"""Plan sections 3 and 6.1.1: /usr/local/bin on every login shell's PATH in the container."""

from __future__ import annotations

from compliance import plan
from compliance.catalogue import check
from compliance.catalogue.verdict import Subject, Verdict, failed, passed
from compliance.facts.shell import (
    CLEAN_PATH,
    EFFECT_SHELLS,
    Binary,
    LoginPath,
    LoginWhich,
    ProfileEffect,
    ProfileScript,
    ShellEffect,
)

ORDER = 2


@check("ct", "6.1.1", "profile_d")
def profile_script(s: Subject) -> Verdict:
    """/etc/profile.d/ollama.sh exists, root-owned, not group/world-writable, and sourced in a
    clean `sh` and `bash` (PATH=/usr/bin:/bin) adds exactly /usr/local/bin, nothing else."""
    script = s[ProfileScript]
    if not script.exists:
        return failed(f"{plan.PROFILE_SCRIPT} exists", "it does not exist")
    if script.unsafe():
        return failed("owned by root, not group/world-writable", "; ".join(script.unsafe()))
    effects = {effect.shell: effect for effect in s[ProfileEffect].shells}
    wrong = [
        f"in {shell}: {path_change(effects[shell]) if shell in effects else 'not run'}"
        for shell in EFFECT_SHELLS
        if shell not in effects or path_change(effects[shell])
    ]
    if wrong:
        return failed(
            f"sourced in a clean sh and bash (PATH={CLEAN_PATH}), exactly {plan.BIN_DIR} added",
            "; ".join(wrong),
        )
    return passed()


def path_change(effect: ShellEffect) -> str:
    """What sourcing the script did to a clean PATH beyond adding the bin dir once ("" when
    that is all it did)."""
    before = CLEAN_PATH.split(":")
    after = effect.path
    if after is None:
        return "the shell ended while sourcing it (no PATH printed)"
    if after.count(plan.BIN_DIR) == 1 and [e for e in after if e != plan.BIN_DIR] == before:
        return ""
    added = [e for e in after if e not in before and e != plan.BIN_DIR]
    removed = [e for e in before if e not in after]
    what = [f"PATH={':'.join(after)}"]
    if plan.BIN_DIR not in after:
        what.append(f"{plan.BIN_DIR} not added")
    elif after.count(plan.BIN_DIR) > 1:
        what.append(f"{plan.BIN_DIR} added {after.count(plan.BIN_DIR)} times")
    if added:
        what.append(f"also added {', '.join(repr(e) for e in added)}")
    if removed:
        what.append(f"removed {', '.join(removed)}")
    if len(what) == 1:
        what.append("reordered")
    return ": ".join(what[:1]) + " (" + "; ".join(what[1:]) + ")"


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

"""Facts of plan section 3 in the container: the profile script, login shells, the binary."""

from __future__ import annotations

from dataclasses import dataclass
from shlex import quote
from typing import Self

from compliance import plan
from compliance.facts import Fact, Scope
from compliance.facts.files import FileState, file_command, file_state


@dataclass(frozen=True)
class ProfileScript(FileState, Fact):
    """/etc/profile.d/ollama.sh: kind, owner, mode and exact content."""

    observes = "profile"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return file_command(plan.PROFILE_SCRIPT)

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        state = file_state(rc, output)
        return cls(state.exists, state.owner, state.mode, state.text, state.link)


@dataclass(frozen=True)
class LoginPath(Fact):
    """The PATH of a fresh login shell (`env -i bash -lc`), as its entries."""

    started: bool
    path: tuple[str, ...]
    raw: str
    observes = "profile"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return 'env -i bash -lc \'printf "%s\\n" "$PATH"\''

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        text = output.strip()
        return cls(rc == 0, tuple(text.split(":")) if text else (), text)


CLEAN_PATH = "/usr/bin:/bin"  # a clean shell's PATH, without the plan's bin dir
EFFECT_SHELLS = ("sh", "bash")  # the script is sourced by both (dash's /etc/profile, bash -l)


@dataclass(frozen=True)
class ShellEffect:
    """One shell's PATH after sourcing the script: `path` None when it printed none (the
    shell ended while sourcing it, or is missing)."""

    shell: str
    rc: int
    path: tuple[str, ...] | None

    @property
    def shown(self) -> str:
        return (
            "(none: the shell ended while sourcing it)"
            if self.path is None
            else ":".join(self.path)
        )


@dataclass(frozen=True)
class ProfileEffect(Fact):
    """The script's own effect: PATH after sourcing it in a clean `sh` and `bash` (`env -i`,
    PATH=/usr/bin:/bin), where Debian's /etc/profile cannot add /usr/local/bin for it."""

    shells: tuple[ShellEffect, ...]
    observes = "profile"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        inner = quote(
            f'. {quote(plan.PROFILE_SCRIPT)} >/dev/null 2>&1 </dev/null; printf "=%s\\n" "$PATH"'
        )
        return (
            f"for sh in {' '.join(EFFECT_SHELLS)}; do"
            f' out=$(env -i PATH={CLEAN_PATH} "$sh" -c {inner} 2>/dev/null);'
            ' printf \'%s %s %s\\n\' "$sh" "$?" "$out"; done'
        )

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        shells = []
        for line in output.splitlines():
            shell, _, rest = line.partition(" ")
            code, _, printed = rest.partition(" ")
            if shell in EFFECT_SHELLS and code.isdigit():
                path = tuple(printed[1:].split(":")) if printed.startswith("=") else None
                shells.append(ShellEffect(shell, int(code), path))
        return cls(tuple(shells))


@dataclass(frozen=True)
class LoginWhich(Fact):
    """`command -v ollama` in a login shell, and whether that path is an executable file."""

    found: str
    executable: bool
    observes = "profile"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return (
            "p=$(env -i bash -lc 'command -v ollama'); printf '%s\\n' \"$p\"; "
            '[ -n "$p" ] && [ -f "$p" ] && [ -x "$p" ] && echo executable'
        )

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        found, *rest = output.splitlines() or [""]
        return cls(found.strip(), "executable" in rest)


@dataclass(frozen=True)
class Binary(Fact):
    """Whether the plan's binary (the unit's ExecStart) is there."""

    present: bool
    observes = "profile"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return f"ls -l {quote(plan.BINARY)}"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(rc == 0)

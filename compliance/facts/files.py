"""Files of the plan as a fact sees them: kind, owner, mode and exact content.

Not a fact itself: the facts that read a file (the profile script, the unit and its drop-ins,
the site) share this value and these commands.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from shlex import quote

END = "@@eof-3c1d"  # ends a file's exact content (a file may lack its final newline)
FILE_HEAD = "@@file "
MISSING = "missing"


@dataclass(frozen=True)
class FileState:
    """A file: whether it exists, `user:group`, permission bits, exact content, and the link
    it is reached through (`link` is the symlink's target when the path is a symlink)."""

    exists: bool
    owner: str = ""
    mode: int = 0
    text: str = ""
    link: str = ""

    def described(self) -> str:
        """`sha256:1a2b3c4d5e6f root:root 644` (and the link it is reached through), or
        `missing`: what drift compares of a file."""
        if not self.exists:
            return MISSING
        digest = hashlib.sha256(self.text.encode()).hexdigest()[:12]
        through = f" via link {self.link}" if self.link else ""
        return f"sha256:{digest} {self.owner} {self.mode:o}{through}"

    def drift(self) -> dict[str, str]:
        return {"file": self.described()}

    def unsafe(self) -> list[str]:
        """Why anyone but root could change it (empty when root-owned and not g/o-writable)."""
        problems = []
        if self.owner.split(":", 1)[0] != "root":
            problems.append(f"owner {self.owner or '?'} (want root)")
        if self.mode & 0o022:
            problems.append(f"mode {self.mode:o} is group/world-writable")
        return problems


def file_command(path: str) -> str:
    """`link TARGET` if a symlink, owner and mode (of what it resolves to), then the exact
    content framed by END; `missing` (exit 1) when there is no such file."""
    p = quote(path)
    return (
        f"[ -L {p} ] && printf 'link %s\\n' \"$(readlink {p})\"; "
        f"if [ -f {p} ]; then stat -L -c '%U:%G %a' {p} && cat {p} && "
        f"printf '%s' {END}; else echo {MISSING}; exit 1; fi"
    )


def file_state(rc: int, output: str) -> FileState:
    """The FileState of `file_command`'s output."""
    link = ""
    if output.startswith("link "):
        first, _, output = output.partition("\n")
        link = first[len("link ") :]
    head, sep, rest = output.partition("\n")
    if rc != 0 or not sep or END not in rest:
        return FileState(False, link=link)
    owner, _, mode = head.partition(" ")
    bits = int(mode, 8) if re.fullmatch(r"[0-7]{3,4}", mode) else 0o777
    return FileState(True, owner, bits, rest.rsplit(END, 1)[0], link)


def files_command(*patterns: str) -> str:
    """Owner, mode and exact content of every regular file matching the (unquoted) patterns."""
    stat = "$(stat -L -c '%U:%G %a' \"$f\")"
    return (
        f'for f in {" ".join(patterns)}; do [ -f "$f" ] || continue; '
        f'printf \'{FILE_HEAD}%s %s\\n\' "{stat}" "$f"; '
        f"cat \"$f\"; printf '%s\\n' {END}; done; true"
    )


def file_states(output: str) -> dict[str, FileState]:
    """Several files: `@@file OWNER MODE PATH` lines, each content then ended by END."""
    files = {}
    for chunk in output.split(FILE_HEAD)[1:]:
        head, _, body = chunk.partition("\n")
        owner, _, rest = head.partition(" ")
        mode, _, path = rest.partition(" ")
        if END in body and path:
            files[path] = file_state(0, f"{owner} {mode}\n{body}")
    return files

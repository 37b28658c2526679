"""Safe change on a target: read, back up, write atomically, restore. Every command recorded."""

from __future__ import annotations

import posixpath
import secrets
import time
from dataclasses import dataclass, field
from shlex import quote

from testinfra.host import Host

from compliance.transport import backends

BACKUP_ROOT = "/var/backups/ollama-compliance"


def temp_path(path: str) -> str:
    """The prefix of the hidden siblings a file is written to before the rename (never read
    by services: a leading dot, and no `.conf`/`.service` ending)."""
    return posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.compliance-tmp")


def _fresh_temp(path: str, directory: bool = False) -> str:
    """Shell: `tmp=` a new, exclusively created temp file (or 0700 dir) beside `path`.

    mktemp creates it with O_EXCL under an unguessable name, so a link planted there by
    someone else cannot redirect the write.
    """
    folder = quote(posixpath.dirname(path))
    template = quote(posixpath.basename(temp_path(path)) + ".XXXXXX")
    return f"tmp=$(mktemp {'-d ' if directory else ''}-p {folder} {template}); "


def _or_clean(*commands: str) -> str:
    """Shell: run `commands` in turn on the fresh temp; at the first that fails, remove the
    temp (file or dir) and fail (its own error line, e.g. `cat: write error: No space left on
    device`, is the reason the step reports)."""
    return f'if ! {{ {" && ".join(commands)}; }}; then rm -rf -- "$tmp"; exit 1; fi'


@dataclass(frozen=True)
class Step:
    """One command a fix ran, for the report."""

    where: str
    command: str
    rc: int
    output: str

    def failure(self, what: str) -> str:
        """`what`, with the OS's reason: the first line the command printed (stderr merged),
        e.g. `mv: cannot move ...: Operation not permitted`."""
        first = next((line.strip() for line in self.output.splitlines() if line.strip()), "")
        return f"{what}: {first}" if first else f"{what} (exit {self.rc}, no output)"


@dataclass
class Remote:
    """A target a fix changes; keeps the log of what it ran."""

    host: Host
    where: str
    steps: list[Step] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    stamp: str = field(
        default_factory=lambda: (
            time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
        )
    )

    def run(self, command: str, *args: str, label: str | None = None) -> Step:
        """Run a command; the report shows `label` (if given) instead of a long script."""
        result = backends.run(self.host, command, *args)
        shown = label or self.host.backend.quote(command, *args)
        step = Step(self.where, shown, result.rc, backends.output_text(result).strip())
        self.steps.append(step)
        return step

    def backup_path(self, path: str) -> str:
        return f"{BACKUP_ROOT}/{self.stamp}{path}"

    def _save(self, path: str) -> str:
        """Shell: copy `path` (file or link) to its backup once; never overwrite a backup.

        Only the first change of a path in this run is backed up: a second install of a file
        that was absent must not make the first install look like the original.
        """
        if path in self.touched:
            return ""
        b_path = self.backup_path(path)
        p, b = quote(path), quote(b_path)
        return (
            f"if [ -e {p} ] || [ -L {p} ]; then mkdir -p {quote(posixpath.dirname(b_path))}; "
            f"[ -e {b} ] || [ -L {b} ] || cp -a {p} {b}; fi; "
        )

    def install(self, path: str, content: str, mode: str = "0644") -> Step:
        """Back up `path` (if present), then write it via a fresh temp file + rename (atomic)."""
        return self._changing(
            path,
            f"set -e; umask 022; mkdir -p {quote(posixpath.dirname(path))}; {self._save(path)}"
            # `cat`, not a shell's printf, writes the file: its error names the OS's reason
            # (errno text), where dash's builtin says only `printf: I/O error`.
            f"{_fresh_temp(path)}"
            + _or_clean(
                f"printf '%s' {quote(content)} | cat > \"$tmp\"",
                f'chmod {mode} "$tmp"',
                'chown root:root "$tmp"',
                f'mv -f "$tmp" {quote(path)}',
            ),
            f"install {path} (mode {mode}, backup in {self.backup_path(path)})",
        )

    def link(self, path: str, target: str) -> Step:
        """Point symlink `path` at `target` atomically (backing up what was there)."""
        return self._changing(
            path,
            f"set -e; {self._save(path)}{_fresh_temp(path, directory=True)}"
            + _or_clean(
                f'ln -s {quote(target)} "$tmp/link"',
                f'mv -Tf "$tmp/link" {quote(path)}',
                'rmdir "$tmp"',
            ),
            f"ln -sfn {target} {path}",
        )

    def _changing(self, path: str, script: str, label: str) -> Step:
        """Run a backup-then-change script; only a change that happened is ours to restore.

        The scripts stop at their first failure (`set -e`) and replace `path` only by a final
        rename, so a failed one left `path` as it was: restoring it then would take a missing
        backup for "absent before" and delete the original.
        """
        step = self.run(script, label=label)
        if step.rc == 0:
            self.touched.add(path)
        return step

    def restore(self, path: str) -> Step | None:
        """Put back the backup of `path` (atomically); remove `path` if it had none.

        A path this run never changed is left alone (there is nothing of ours to undo).
        """
        if path not in self.touched:
            return None
        p, b = quote(path), quote(self.backup_path(path))
        return self.run(
            f"if [ -e {b} ] || [ -L {b} ]; then set -e; {_fresh_temp(path, directory=True)}"
            + _or_clean(f'cp -a {b} "$tmp/file"', f'mv -Tf "$tmp/file" {p}', 'rmdir "$tmp"')
            + f"; else rm -f {p}; fi",
            label=f"restore {path} from {self.backup_path(path)}",
        )

    def clean_temps(self, *paths: str) -> None:
        """Remove temp files and dirs an interrupted earlier run may have left."""
        globs = " ".join(
            f"{quote(posixpath.dirname(p))}/{quote(posixpath.basename(temp_path(p)))}*"
            for p in paths
        )
        self.run(
            f"rm -rf -- {globs}", label=f"rm -rf {' '.join(temp_path(p) + '*' for p in paths)}"
        )

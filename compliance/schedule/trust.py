"""What a root service may run: code that only root can change.

The scheduled audit runs as root, hourly, from the suite's checkout with its interpreter. If
another user can write the checkout, one of its parents, the interpreter or its environment
(a venv's site-packages), that user's code runs as root at the next tick. `install` refuses
such a setup, naming the first path and who can write it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT_UID = 0


def _writers(info: os.stat_result) -> str:
    """Who other than root can write a file or directory with this status ('' for none)."""
    if info.st_uid != ROOT_UID:
        return f"its owner (uid {info.st_uid})"
    mode = stat.S_IMODE(info.st_mode)
    if mode & stat.S_IWOTH:
        return "everyone (mode o+w)"
    if mode & stat.S_IWGRP and info.st_gid != ROOT_UID:
        return f"group {info.st_gid} (mode g+w)"
    return ""


def _sticky_root_dir(info: os.stat_result) -> bool:
    """/tmp-like: others may add entries but not rename or remove root's."""
    return stat.S_ISDIR(info.st_mode) and info.st_uid == ROOT_UID and bool(info.st_mode & 0o1000)


def _chain(path: Path) -> list[Path]:
    """`path` (as named and resolved) and every parent up to /."""
    seen: list[Path] = []
    for start in (path.absolute(), path.resolve()):
        for item in (start, *start.parents):
            if item not in seen:
                seen.append(item)
    return seen


def _tree(top: Path) -> Iterator[Path]:
    """Every directory and file under `top`, links not followed."""
    for folder, dirs, files in os.walk(top, followlinks=False):
        yield Path(folder)
        for name in (*dirs, *files):
            yield Path(folder) / name


def untrusted(paths: Iterable[tuple[str, Path]], trees: Iterable[tuple[str, Path]]) -> str | None:
    """The first path another user than root can write, said in one line, else None.

    `paths` are checked with their parents (a sticky root-owned parent such as /tmp is
    allowed); `trees` with everything inside them too.
    """
    for what, path in paths:
        for item in _chain(path):
            try:
                info = os.lstat(item)
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode) or (item != path and _sticky_root_dir(info)):
                continue  # a link's own mode means nothing: its folder and target are checked
            if who := _writers(info):
                return f"{what} {path}: {item} can be written by {who}"
    for what, top in trees:
        for item in _tree(top):
            try:
                info = os.lstat(item)
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                continue  # a link's own mode means nothing; its target is checked where it is
            if who := _writers(info):
                return f"{what} {top}: {item} can be written by {who}"
    return None


def import_path_of(python: str) -> list[Path]:
    """The folders an interpreter imports code from (its `sys.path`, the stdlib and the
    environment's site-packages; the current directory left out)."""
    if Path(python).resolve() == Path(sys.executable).resolve():
        entries = list(sys.path)
    else:
        try:
            out = subprocess.run(
                [python, "-c", "import sys; print('\\n'.join(sys.path))"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return [Path(python).absolute().parent.parent]
        entries = out.splitlines()
    return [Path(entry) for entry in entries if entry and Path(entry).is_dir()]


def root_can_trust(suite_dir: Path, python: str) -> str | None:
    """Why the schedule must not run this checkout with this interpreter as root, or None."""
    imports = [("the interpreter's import path", path) for path in import_path_of(python)]
    paths = [("the suite's checkout", suite_dir), ("the interpreter", Path(python)), *imports]
    return untrusted(paths, [("the suite's checkout", suite_dir), *imports])

"""This user's runtime directory, for the suite's private files (locks, ssh control sockets)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def runtime_dir() -> Path | None:
    """$XDG_RUNTIME_DIR when it is an absolute path to a directory of ours, else None (the
    caller then uses the temp dir with its uid in the name)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if not runtime or not os.path.isabs(runtime):
        return None
    try:
        info = os.stat(runtime)
    except OSError:
        return None
    if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
        return Path(runtime)
    return None

"""A fingerprint of the lab, so a test can prove that a run changed nothing."""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
from pathlib import Path
from typing import Any

from lab import config, container, nginx
from lab.plan import site_for
from lab.shell import ct_run

# Runs inside the container (python3 is there): files, then the service's identity.
CT_PROBE = f"""
import grp, hashlib, json, os, pwd, subprocess
def fp(p):
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return None
    d = {{"mode": oct(st.st_mode & 0o7777),
         "owner": pwd.getpwuid(st.st_uid).pw_name + ":" + grp.getgrgid(st.st_gid).gr_name}}
    if os.path.islink(p):
        d["link"] = os.readlink(p)
    elif os.path.isfile(p):
        d["sha256"] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return d
files = ["{config.CT_PROFILE}", "{config.CT_UNIT}", "{config.CT_BINARY}"]
d = "{config.CT_DROPIN_DIR}"
if os.path.isdir(d):
    files += sorted(os.path.join(d, f) for f in os.listdir(d))
out = subprocess.run(["systemctl", "show", "ollama.service", "-p",
                      "ActiveState,SubState,UnitFileState,MainPID,NeedDaemonReload,NRestarts"],
                     capture_output=True, text=True).stdout
service = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
print(json.dumps({{"files": {{f: fp(f) for f in files}}, "service": service}}))
"""


def _file(path: Path) -> dict[str, str] | None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    owner = f"{pwd.getpwuid(st.st_uid).pw_name}:{grp.getgrgid(st.st_gid).gr_name}"
    info = {"mode": oct(st.st_mode & 0o7777), "owner": owner}
    if path.is_symlink():
        info["link"] = os.readlink(path)
    elif path.is_file():
        info["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return info


def snapshot(ctid: int = config.CTID) -> dict[str, Any]:
    """Files, links, service and nginx process identity of the lab around ctid."""
    state = container.state(ctid)
    ct: dict[str, Any] = {"state": state}
    if state == "RUNNING":
        ct.update(json.loads(ct_run(ctid, "python3 -", input=CT_PROBE).stdout))
    site = site_for(ctid)
    enabled = sorted(p.name for p in config.SITES_ENABLED.iterdir())
    master = nginx.master_pid()
    return {
        "ct": ct,
        "site_file": _file(site.file),
        "site_link": os.readlink(site.link) if site.link.is_symlink() else None,
        "sites_enabled": enabled,
        "nginx": {"master": master, "workers": nginx.worker_pids(master) if master else []},
    }

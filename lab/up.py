"""Bring the lab up (idempotent, fast when already up) and take it down."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator

from lab import config, container, hostsetup, lan, nginx, sshlab, states, systemd_ct
from lab.shell import LabError

Say = Callable[[str], None]


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    """One `up`/`down` at a time on this machine."""
    config.STATE_DIR.mkdir(mode=0o700, exist_ok=True)
    with (config.STATE_DIR / "up.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LabError("another lab up/down is running") from exc
        yield


def up(containers: int = 1, say: Say = print) -> None:
    """Packages, bridge, CT 955 (+ clones), pct, nginx, lab ssh; every CT left in reset state."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (lxc, nginx, useradd)")
    started = time.monotonic()
    wanted = [config.CTID + i for i in range(containers)]
    with _exclusive():
        installed = hostsetup.ensure_packages()
        say(f"packages: installed {' '.join(installed)}" if installed else "packages: present")
        hostsetup.require_tools()
        if hostsetup.ensure_bridge():
            say(f"lxc-net: (re)started {config.BRIDGE} with dnsmasq")
        if not container.exists(config.CTID):
            say(f"CT {config.CTID}: lxc-create debian bookworm (slow the first time) ...")
            container.create(config.CTID)
        clones = [ctid for ctid in wanted[1:] if not container.exists(ctid)]
        if clones:
            say(f"CT {', '.join(map(str, clones))}: lxc-copy from {config.CTID} ...")
            container.clone(config.CTID, clones)
        if lan.ensure():
            say(f"lan: network namespace {config.LAN_NETNS} on {config.BRIDGE}")
        for ctid in wanted:
            container.start(ctid)
            if added := container.ensure_packages(ctid):
                say(f"CT {ctid}: installed {' '.join(added)}")
        if hostsetup.ensure_pct():
            say(f"pct: installed {config.PCT_INSTALLED}")
        if hostsetup.ensure_pve_firewall():
            say(f"pve-firewall stand-in (status only): installed {config.PVE_FIREWALL_INSTALLED}")
        if nginx.ensure_running():
            say("nginx: started")
        say(f"ssh: {sshlab.ensure_sshd()}")
        for ctid in wanted:
            states.reset(ctid)
            say(f"CT {ctid}: running at {states.ct_ip(ctid)}, manual-setup state")
        sshlab.ssh(f"pct exec {config.CTID} -- true")
        say(systemd_ct.ensure())
        if hostsetup.ensure_promtool():
            say(f"promtool: unpacked into {config.PROMTOOL}")
    say(f"ready in {time.monotonic() - started:.1f}s: ssh -F lab/ssh_config proxmox works")


def down(say: Say = print) -> None:
    """Stop the lab sshd and every lab container (kept on disk for a fast next up)."""
    with _exclusive():
        say("sshd: stopped" if sshlab.stop_sshd() else "sshd: was not running")
        for ctid in container.lab_containers():
            say(f"CT {ctid}: stopped" if container.stop(ctid) else f"CT {ctid}: was stopped")
        if container.exists(config.SYSTEMD_CT):
            stopped = container.stop(config.SYSTEMD_CT)
            say(f"{config.SYSTEMD_CT}: {'stopped' if stopped else 'was stopped'}")

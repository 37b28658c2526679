"""Facts of the Proxmox host about a container: its status, its config and firewall files; the
host's init."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from shlex import quote
from typing import Self

from compliance.facts import Fact, Scope
from compliance.facts.files import file_states, files_command
from compliance.syntax.pve_firewall import GuestFirewall

PVE_FIREWALL_DIR = "/etc/pve/firewall"


@dataclass(frozen=True)
class CtStatus(Fact):
    """`pct status <ctid>`: running, stopped, ... or '' when the container does not exist."""

    status: str
    where = "host"
    per_ct = True

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        ctid = quote(scope.ctid)
        if scope.settings.transport == "pct":
            return f"pct status {ctid}"
        return f"echo status: $(lxc-info -n {ctid} -sH | tr A-Z a-z)"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        match = re.search(r"^status:\s*(\S+)", output, re.M)
        return cls(match.group(1) if match else "")

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class PctConfig(Fact):
    """`pct config <ctid>` as key: value (empty on a plain LXC host)."""

    values: dict[str, str] = field(default_factory=dict)
    where = "host"
    per_ct = True

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return f"pct config {quote(scope.ctid)}" if scope.settings.transport == "pct" else "true"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        config = {}
        for line in output.splitlines():
            key, sep, value = line.partition(": ")
            if sep and key and not key.startswith("#"):
                config[key.strip()] = value.strip()
        return cls(config)

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    @property
    def net0(self) -> dict[str, str]:
        """`name=eth0,bridge=vmbr0,ip=10.0.0.5/24,...` as a dict."""
        value = self.get("net0")
        return dict(part.split("=", 1) for part in value.split(",") if "=" in part)

    @property
    def static_ipv4(self) -> str | None:
        """net0's static IPv4 (CIDR stripped), or None for dhcp/manual/absent."""
        try:
            return str(ipaddress.IPv4Interface(self.net0.get("ip", "")).ip)
        except ValueError:
            return None


@dataclass(frozen=True)
class PveFirewall(Fact):
    """Proxmox's firewall files for the cluster and this CT (`cluster.fw`, `<ctid>.fw`), by
    name; a missing file is absent (the firewall's defaults: off)."""

    files: dict[str, str] = field(default_factory=dict)
    where = "host"
    per_ct = True
    hardened = True
    label = "cat /etc/pve/firewall/cluster.fw and <ctid>.fw"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        ctid = quote(scope.ctid)
        return files_command(f"{PVE_FIREWALL_DIR}/cluster.fw", f"{PVE_FIREWALL_DIR}/{ctid}.fw")

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls({path.rsplit("/", 1)[-1]: f.text for path, f in file_states(output).items()})

    def for_ct(self, ctid: str, nic: dict[str, str]) -> GuestFirewall:
        """The firewall pve-firewall compiles for this CT's NIC (`pct config`'s net0)."""
        guest_file = f"{ctid}.fw"
        return GuestFirewall.of(
            self.files.get("cluster.fw", ""),
            self.files.get(guest_file, ""),
            guest_file,
            GuestFirewall.nic_flag(nic.get("firewall", "0")),
        )

    def drift(self) -> dict[str, str]:
        return {
            name: "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:12]
            for name, text in self.files.items()
        }


@dataclass(frozen=True)
class HostInit(Fact):
    """The host's init system: `systemd` or `sysv` (how nginx is reloaded)."""

    kind: str
    where = "host"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return "[ -d /run/systemd/system ] && echo systemd || echo sysv"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(output.strip())

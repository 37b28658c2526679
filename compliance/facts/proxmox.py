"""Facts of the Proxmox host about a container: its status, its config and firewall files; the
host's init."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from shlex import quote
from typing import TYPE_CHECKING, Self

from compliance.facts import Fact, Scope
from compliance.facts.files import file_states, files_command

if TYPE_CHECKING:  # pve-firewall's model loads in a hardened run only (~30 ms of a plain audit)
    from compliance.syntax.pve_firewall import GuestFirewall

PVE_FIREWALL_DIR = "/etc/pve/firewall"
# The node's own firewall file (pve-firewall's $hostfw_conf_filename: the node name is
# `uname -n` up to its first dot, PVE::INotify::nodename), and the nftables firewall that takes
# over when that file says `nftables: 1` and it is installed (Firewall.pm get_nftables_option).
HOST_FW = "/etc/pve/nodes/$(uname -n | cut -d. -f1)/host.fw"
NFT_FIREWALL = "/usr/libexec/proxmox/proxmox-firewall"


@dataclass(frozen=True)
class CtStatus(Fact):
    """`pct status <ctid>`: running, stopped, ... or '' when the container does not exist."""

    status: str
    where = "host"
    per_ct = True
    observes = "container"

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
    observes = "container"

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
    def lock(self) -> str:
        """The lock Proxmox holds on the CT (`backup` while vzdump runs, ...), or ''."""
        return self.get("lock")

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
class CtLxcState(Fact):
    """LXC's own state of the CT (`lxc-info -sH`): FROZEN shows only here, since `pct status`
    says running for a frozen CT. Read when the CT's commands gave no answer, to name why."""

    state: str
    where = "host"
    per_ct = True
    on_demand = True
    observes = "container"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return f"lxc-info -n {quote(scope.ctid)} -sH"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(output.strip().upper() if rc == 0 else "")

    @property
    def frozen(self) -> bool:
        return self.state == "FROZEN"


def frozen(ctid: str) -> str:
    """One line naming a frozen CT (with no lock pct config shows) as the cause, and what
    ends it."""
    return (
        f"CT {ctid} is frozen (lxc-info: FROZEN; pct status still says running): no command in"
        " it runs until it is thawed. A backup in suspend mode freezes a CT for its final sync;"
        f" a freeze left behind stays until `lxc-unfreeze -n {ctid}`"
    )


# What holds each lock Proxmox sets on a CT (pve-container LXC/Config.pm, vzdump, pct mount).
LOCK_HOLDERS = {
    "backup": "a backup (vzdump) holds it; in suspend mode the CT is frozen for its final sync",
    "snapshot": "a snapshot is being taken",
    "snapshot-delete": "a snapshot is being deleted",
    "rollback": "a snapshot rollback is running",
    "migrate": "a migration is running",
    "mounted": "its filesystem is mounted on the host (`pct mount`)",
    "create": "it is still being created",
    "disk": "a disk operation is running",
}


def locked(ctid: str, lock: str) -> str:
    """One line naming a Proxmox lock as the cause, and what ends it."""
    holder = LOCK_HOLDERS.get(lock, "an operation holds it")
    return (
        f"CT {ctid} is locked ({lock}): `lock: {lock}` in pct config, {holder}; Proxmox refuses"
        f" pct set/start until it ends (a stale lock: `pct unlock {ctid}`)"
    )


@dataclass(frozen=True)
class PveFirewall(Fact):
    """Proxmox's firewall files for the cluster and this CT (`cluster.fw`, `<ctid>.fw`), by
    name; a missing file is absent (the firewall's defaults: off)."""

    files: dict[str, str] = field(default_factory=dict)
    where = "host"
    per_ct = True
    hardened = True
    label = "cat /etc/pve/firewall/cluster.fw and <ctid>.fw"
    observes = "firewall"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        ctid = quote(scope.ctid)
        return files_command(f"{PVE_FIREWALL_DIR}/cluster.fw", f"{PVE_FIREWALL_DIR}/{ctid}.fw")

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls({path.rsplit("/", 1)[-1]: f.text for path, f in file_states(output).items()})

    def for_ct(self, ctid: str, nic: dict[str, str]) -> GuestFirewall:
        """The firewall pve-firewall compiles for this CT's NIC (`pct config`'s net0)."""
        from compliance.syntax.pve_firewall import GuestFirewall

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
class PveFirewallService(Fact):
    """Whether the service that applies Proxmox's firewall files runs. pve-firewall does
    (`pve-firewall status` prints `Status: enabled/running`, `disabled/stopped`, with
    ` (pending changes)` while its rules lag the files; stopping it removes its chains), unless
    the node's host.fw says `nftables: 1` and proxmox-firewall is installed: then pve-firewall
    removes its own chains and proxmox-firewall applies the files (`systemctl is-active`)."""

    status: str = ""  # what follows `Status: `; empty when pve-firewall printed none
    host_fw: str = ""
    nft_installed: bool = False
    nft_state: str = ""  # `systemctl is-active proxmox-firewall`
    where = "host"
    hardened = True
    observes = "firewall"
    bound = 30.0  # `status` compiles the rules to find pending changes
    label = "pve-firewall status; the node's host.fw; systemctl is-active proxmox-firewall"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return (
            "echo \"@@status $(pve-firewall status 2>/dev/null | sed -n 's/^Status: //p')\"; "
            + files_command(HOST_FW)
            + f"; [ -x {NFT_FIREWALL} ] && echo @@nft-installed"
            + '; echo "@@nft $(systemctl is-active proxmox-firewall 2>/dev/null)"; true'
        )

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        def marked(name: str) -> str:
            found = re.search(rf"^@@{name}(?: (.*))?$", output, re.M)
            return (found.group(1) or "").strip() if found else ""

        files = file_states(output)
        host_fw = next((f.text for path, f in files.items() if path.endswith("/host.fw")), "")
        installed = re.search(r"^@@nft-installed$", output, re.M) is not None
        return cls(marked("status"), host_fw, installed, marked("nft"))

    @property
    def nftables(self) -> bool:
        """host.fw says `nftables: 1` (as pve-firewall reads it) and proxmox-firewall is there."""
        from compliance.syntax.pve_firewall import parse

        return self.nft_installed and parse(self.host_fw, "host").options.get("nftables") == "1"

    @property
    def service(self) -> str:
        return "proxmox-firewall" if self.nftables else "pve-firewall"

    def applies(self) -> bool:
        """The service that applies the files runs."""
        if self.nftables:
            return self.nft_state == "active"
        return self.status.split(" ", 1)[0].endswith("/running")

    def state(self) -> str:
        """What says so: `Status: enabled/running`, or proxmox-firewall's unit state."""
        if self.nftables:
            return f"host.fw nftables: 1; systemctl is-active: {self.nft_state or 'unknown'}"
        return f"Status: {self.status}" if self.status else "pve-firewall status printed none"

    def shown(self) -> str:
        """The service and its state, as evidence: `pve-firewall (Status: enabled/running)`."""
        return f"{self.service} ({self.state()})"

    def not_applied(self, ctid: str) -> str:
        """The one sentence for files that enable the firewall while nothing applies them."""
        return (
            f"the Proxmox firewall is configured for CT {ctid} but {self.service} is not"
            f" running ({self.state()}): its rules are not applied"
        )

    def drift(self) -> dict[str, str]:
        return {"host.fw": "sha256:" + hashlib.sha256(self.host_fw.encode()).hexdigest()[:12]}


@dataclass(frozen=True)
class HostInit(Fact):
    """The host's init system: `systemd` or `sysv` (how nginx is reloaded)."""

    kind: str
    where = "host"
    observes = "host"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return "[ -d /run/systemd/system ] && echo systemd || echo sysv"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(output.strip())

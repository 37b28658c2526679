"""Fixed names and paths of the lab: one place to read what lives where."""

from __future__ import annotations

from pathlib import Path

LAB_DIR = Path(__file__).resolve().parent
REPO_DIR = LAB_DIR.parent
STATE_DIR = LAB_DIR / ".state"
SSH_CONFIG = LAB_DIR / "ssh_config"
STANDIN = LAB_DIR / "standin" / "ollama"
DEFAULT_MODELS = LAB_DIR / "standin" / "models.json"
PCT_SOURCE = LAB_DIR / "pct"
PCT_INSTALLED = Path("/usr/local/sbin/pct")
# The stand-in for pve-firewall's `status` only (no firewall daemon runs here): it says
# running while PVE_FIREWALL_RUNNING exists, which the lab's firewall faults set.
PVE_FIREWALL_SOURCE = LAB_DIR / "standin" / "pve-firewall"
PVE_FIREWALL_INSTALLED = Path("/usr/local/sbin/pve-firewall")
PVE_FIREWALL_RUNNING = Path("/etc/pve/.lab-pve-firewall-running")

HOST_PACKAGES = (
    "lxc",
    "debootstrap",
    "nginx",
    "openssh-server",
    "dnsmasq-base",
    "iproute2",
    "curl",
    "rsync",
    "distro-info",
)
LXC_NET = "/usr/libexec/lxc/lxc-net"
LXC_PATH = Path("/var/lib/lxc")
BRIDGE = "lxcbr0"
BRIDGE_ADDRESS = "10.0.3.1"  # the host's address on it (lxc-net's default)
# Proxmox's firewall files, on this machine as on a Proxmox host (no pve-firewall runs here:
# the files are read and judged, never enforced), and the stand-in's mark for net0 firewall=1.
PVE_FIREWALL_DIR = Path("/etc/pve/firewall")


def pve_lock_mark(ctid: int) -> Path:
    """The file lab/pct reads as the CT's `lock:` (vzdump's `backup`, ...)."""
    return LXC_PATH / str(ctid) / "pve-lock"


def nic_firewall_mark(ctid: int) -> Path:
    """The file lab/pct reads as `firewall=1` on the CT's net0."""
    return LXC_PATH / str(ctid) / "pve-net0-firewall"


CTID = 955
CT_PACKAGES = "python3,curl,iproute2,systemd,systemd-sysv,dbus,nftables"
CT_EXTRA_PACKAGES = ("nftables",)  # installed into CTs created before they were in the list
LAN_NETNS = "ollama-lan"  # "another machine on the LAN": a network namespace on the bridge
LAN_ADDRESS = "10.0.3.250/24"
LAN_VETH = ("lanhost0", "lan0")  # the bridge end, the namespace end
CT_RANGE = range(955, 1000)  # numeric LXC names in this range are lab containers

# Inside the container.
CT_BINARY = "/usr/local/bin/ollama"
CT_HIDDEN_BINARY = "/usr/local/lib/ollama-lab-hidden"
CT_MODELS_FILE = "/root/.ollama/models/standin-models.json"
CT_OPERATOR_MODELS = "/srv/ollama-lab-models"  # an operator's OLLAMA_MODELS (fault dropin_...)
CT_INSTALLER_HOME = "/usr/share/ollama"  # Ollama's installer: user ollama, models in its home
CT_PROFILE = "/etc/profile.d/ollama.sh"
CT_PROFILE_ELSEWHERE = "/root/ollama-profile.sh"  # the profile_symlink fault moves it here
CT_UNIT = "/etc/systemd/system/ollama.service"
CT_DROPIN_DIR = "/etc/systemd/system/ollama.service.d"
OLLAMA_PORT = 11434

# On the host ("the Proxmox host").
SITES_AVAILABLE = Path("/usr/local/phoenix_hypervisor/etc/nginx/sites-available")
SITES_ENABLED = Path("/etc/nginx/sites-enabled")
DEFAULT_SITE = Path("/etc/nginx/sites-available/default")
BROKEN_SITE = SITES_ENABLED / "zz-lab-broken"
SHADOW_SITE = SITES_ENABLED / "00-ollama-copy"  # sorts before ours: claims our server_name
SECOND_SITE = SITES_ENABLED / "zz-ollama-8081"  # a second server proxying to a CT, unguarded
SECOND_PORT = 8081
NGINX_CONF = Path("/etc/nginx/nginx.conf")
LAB_TLS_DIR = Path("/etc/nginx/lab-tls")  # a self-signed pair for an operator's TLS listen
FULL_FS_NAME = "lab-site-full"  # the tmpfs a fault mounts over SITES_AVAILABLE, filled up
NGINX_CONF_ORIGINAL = Path("/etc/nginx/.nginx.conf.lab-original")  # kept while a fault edits it
STALE_UPSTREAM = "127.0.0.55"

# The lab's own sshd and its uid-0 login.
SSH_PORT = 2222
SSH_USER = "pvelab"
SSH_HOME = Path("/var/lib/ollama-lab")

# The stand-in for the Proxmox host's systemd (this machine has none as PID 1): a container
# that runs the suite's scheduled units, reaching the lab's sshd and nginx at 127.0.0.1
# through socket proxies to the host's bridge address, as the host itself would.
SYSTEMD_CT = "pve-systemd"  # not a numeric CT: no Proxmox container, never audited
SYSTEMD_CT_FORWARDS = (SSH_PORT, 80)  # 127.0.0.1:<port> in it -> BRIDGE_ADDRESS:<port>
# Prometheus's rule checker, taken from Debian's prometheus package without installing the
# server (which would start listening): examples/prometheus is checked with it.
PROMTOOL = STATE_DIR / "promtool"

"""Real-looking outputs of the commands the probes run, shared by the parser tests."""

from __future__ import annotations

import json

from compliance import settings
from compliance.facts import Scope

# -- systemctl show --timestamp=unix ollama.service -p ... (running, healthy) ----------

EXEC_START_IDLE = (
    "{ path=/usr/local/bin/ollama ; argv[]=/usr/local/bin/ollama serve ; ignore_errors=no ; "
    "start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }"
)
EXEC_START_RUNNING = (
    "{ path=/usr/local/bin/ollama ; argv[]=/usr/local/bin/ollama serve ; ignore_errors=no ; "
    "start_time=[@1762102201] ; stop_time=[n/a] ; pid=2231 ; code=(null) ; status=0/0 }"
)

UNIT_SHOW = f"""\
LoadState=loaded
FragmentPath=/etc/systemd/system/ollama.service
DropInPaths=
ExecStart={EXEC_START_RUNNING}
Environment=OLLAMA_HOST=0.0.0.0:11434 "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
Restart=always
RestartUSec=3s
User=root
Group=root
NeedDaemonReload=no
UnitFileState=enabled
ActiveState=active
SubState=running
MainPID=2231
NRestarts=0
InvocationID=4f5c0e7a2b9d4c1e8a3f6b7d9e0c1a2b
ExecMainStartTimestamp=@1762102201
Now=@1762102500
"""

# The same unit changed on disk but not reloaded: systemctl warns on stderr (merged).
UNIT_SHOW_STALE = (
    "Warning: The unit file, source configuration file or drop-ins of ollama.service "
    "changed on disk. Run 'systemctl daemon-reload' to reload units.\n"
    "LoadState=loaded\n"
    "DropInPaths=/etc/systemd/system/ollama.service.d/override.conf\n"
    "NeedDaemonReload=yes\n"
    "ActiveState=activating\n"
    "SubState=auto-restart\n"
    "MainPID=0\n"
    "NRestarts=17\n"
)

UNIT_SHOW_MISSING = """\
LoadState=not-found
FragmentPath=
ExecStart=
Environment=
User=
ActiveState=inactive
SubState=dead
MainPID=0
"""

# -- ss -H -tlnp ----------------------------------------------------------------------

SS_DUAL = (
    'LISTEN 0      4096               *:11434            *:*    users:(("ollama",pid=2231,fd=3))'
)
SS_V4 = (
    'LISTEN 0      4096         0.0.0.0:11434      0.0.0.0:*    users:(("ollama",pid=2231,fd=3))'
)
SS_V6 = (
    'LISTEN 0      4096            [::]:11434         [::]:*    users:(("ollama",pid=2231,fd=3))'
)
SS_LO4 = (
    'LISTEN 0      4096       127.0.0.1:11434      0.0.0.0:*    users:(("ollama",pid=2231,fd=3))'
)
SS_LO6 = (
    'LISTEN 0      4096           [::1]:11434         [::]:*    users:(("ollama",pid=2231,fd=3))'
)
SS_LO6_SCOPED = (
    'LISTEN 0      4096        [::1]%lo:11434         [::]:*    users:(("ollama",pid=2231,fd=3))'
)
SS_RESOLVED = (
    "LISTEN 0      4096   127.0.0.53%lo:53         0.0.0.0:*    "
    'users:(("systemd-resolve",pid=412,fd=14))'
)
SS_SSHD = (
    "LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    "
    'users:(("sshd",pid=601,fd=3),("sshd",pid=2990,fd=3))'
)
SS_NO_PROCESS = "LISTEN 0      4096               *:11434            *:*"

# -- nginx -t (stderr merged) ---------------------------------------------------------

NGINX_T_OK = """\
nginx: the configuration file /etc/nginx/nginx.conf syntax is ok
nginx: configuration file /etc/nginx/nginx.conf test is successful
"""
NGINX_T_BOGUS = """\
nginx: [emerg] unknown directive "bogus" in /etc/nginx/sites-enabled/zz:3
nginx: configuration file /etc/nginx/nginx.conf test failed
"""
NGINX_T_SERVER_IN_SITE = """\
nginx: [emerg] "server" directive is not allowed here in /etc/nginx/sites-enabled/ollama_proxy:1
nginx: configuration file /etc/nginx/nginx.conf test failed
"""
NGINX_T_WARN = """\
nginx: [warn] conflicting server name "pve.example.com" on 0.0.0.0:80, ignored
nginx: the configuration file /etc/nginx/nginx.conf syntax is ok
nginx: configuration file /etc/nginx/nginx.conf test is successful
"""
NGINX_T_NOT_ROOT = (
    'nginx: [alert] could not open error log file: open() "/var/log/nginx/error.log" failed '
    "(13: Permission denied)\n"
    '2026/11/02 16:50:01 [warn] 3120#3120: the "user" directive makes sense only if the master '
    "process runs with super-user privileges, ignored in /etc/nginx/nginx.conf:1\n"
    "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n"
    '2026/11/02 16:50:01 [emerg] 3120#3120: open() "/run/nginx.pid" failed '
    "(13: Permission denied)\n"
    "nginx: configuration file /etc/nginx/nginx.conf test failed\n"
)

# -- the nginx site --------------------------------------------------------------------

SITE_RENDERED = """\
server {
    listen 80;
    server_name pve.example.com; # Replace with actual host IP or domain

    location /ollama/ {
        # Rewrite the URL to remove the /ollama prefix
        rewrite ^/ollama/(.*)$ /$1 break;

        # Proxy settings
        proxy_pass http://10.0.3.55:11434; # Replace with LXC 955's IP address
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;

        # WebSocket support for interactive sessions
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
}
"""

# -- pct / ip ---------------------------------------------------------------------------

NET0_STATIC = (
    "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:2A:3B:4C,ip=10.0.3.55/24,gw=10.0.3.1,type=veth"
)
NET0_DHCP = "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:2A:3B:4C,ip=dhcp,type=veth"

PCT_CONFIG = f"""\
arch: amd64
cores: 4
features: nesting=1
hostname: ollama
lxc.cgroup2.devices.allow: c 195:* rwm
memory: 16384
net0: {NET0_STATIC}
onboot: 1
ostype: debian
rootfs: local-lvm:vm-955-disk-0,size=64G
swap: 512
unprivileged: 1
"""

IP_ADDR = (
    "2: eth0@if17    inet 10.0.3.55/24 brd 10.0.3.255 scope global eth0\\"
    "       valid_lft forever preferred_lft forever\n"
    "2: eth0@if17    inet 10.0.3.56/24 scope global secondary eth0\\"
    "       valid_lft forever preferred_lft forever\n"
    "3: eth1    inet 192.168.50.7/24 metric 100 brd 192.168.50.255 scope global dynamic eth1\\"
    "       valid_lft 3380sec preferred_lft 3380sec\n"
)

# -- Ollama /api/tags ------------------------------------------------------------------

LLAMA = {
    "name": "llama3.2:1b",
    "model": "llama3.2:1b",
    "modified_at": "2026-10-14T09:12:41.538207117Z",
    "size": 1321098329,
    "digest": "baf6a787fdffd633537aa2eb51cfd54cb93ff08e28040095462bb63daf552878",
    "details": {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "1.2B",
        "quantization_level": "Q8_0",
    },
}
QWEN = {
    "name": "qwen2.5:0.5b",
    "model": "qwen2.5:0.5b",
    "modified_at": "2026-11-02T16:47:05.902114338Z",
    "size": 397821319,
    "digest": "a8b0c51577010a279d933d14c2a8ab4b268079d44c5c8830c0a93900f1827c67",
    "details": {
        "parent_model": "",
        "format": "gguf",
        "family": "qwen2",
        "families": ["qwen2"],
        "parameter_size": "494.03M",
        "quantization_level": "Q4_K_M",
    },
}


def tags_body(*models: dict[str, object], **dumps: object) -> str:
    """An /api/tags body (Ollama lists the newest first)."""
    return json.dumps({"models": list(models)}, **dumps)  # type: ignore[arg-type]


NGINX_502 = """\
<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.22.1</center>
</body>
</html>
"""

# -- journalctl -o cat _SYSTEMD_INVOCATION_ID=... (grep'ed by the probe) ---------------

JOURNAL_OK = (
    'time=2026-11-02T16:50:01.123Z level=INFO source=routes.go:1259 msg="server config" '
    'env="map[OLLAMA_HOST:http://0.0.0.0:11434 OLLAMA_KEEP_ALIVE:5m0s '
    'OLLAMA_MODELS:/root/.ollama/models]"\n'
    "time=2026-11-02T16:50:01.130Z level=INFO source=routes.go:1310 "
    'msg="Listening on [::]:11434 (version 0.12.3)"\n'
)
JOURNAL_BIND = "Error: listen tcp 0.0.0.0:11434: bind: address already in use\n"
JOURNAL_PANIC = "panic: $HOME is not defined\n\ngoroutine 1 [running]:\n"
JOURNAL_GIN_PANIC_PATH = (  # gin's request log of `curl http://proxy/ollama/panic`
    '[GIN] 2026/11/02 - 16:51:00 | 404 |       4.1µs |      10.0.3.1 | GET      "/panic"\n'
    "[GIN] 2026/11/02 - 16:51:01 | 404 |       3.9µs |      10.0.3.1 | POST     "
    '"/api/error/permission denied/bind: address already in use"\n'
)
JOURNAL_PERMISSION = (
    "time=2026-11-02T16:50:01.100Z level=ERROR source=images.go:410 msg=\"couldn't create "
    'models dir" error="mkdir /usr/share/ollama/.ollama: permission denied"\n'
)


# -- the scope the facts' commands are built for (the plan's default settings) -------------

HOST_ADDRESS = "10.0.0.2"  # the Proxmox host's address: the default server name


def default_scope(ctid: str = "955", host_address: str = HOST_ADDRESS) -> Scope:
    """A fact Scope under the default settings (as pyproject.toml ships them), about `ctid`."""
    raw = {key: default for key, _flag, default, _help in settings.SETTINGS}
    parsed = settings.parse(raw)
    return Scope(parsed, parsed.site(ctid), host_address)


# -- nginx state (the NginxState fact's script on a host with nginx running) ---------------

NGINX_STATE_RUNNING = """\
master 812
worker 813 4523
worker 814 4520
clock 1762100100.0 100.0
hz 100
mtime 1762100030.5 /etc/nginx/nginx.conf
mtime 1762100040.25 /etc/nginx/sites-enabled
mtime 1762100040.25 /etc/nginx/sites-enabled/ollama_proxy
mtime 1762100040.0 /etc/nginx/sites-enabled/ollama_proxy (link)
"""

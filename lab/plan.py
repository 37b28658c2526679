"""The plan's files (PLAN.md sections 3-5), verbatim, and where each lab container's site lives.

Kept here rather than read from remediation/ so the lab's "compliant" state is an independent
reference that the suite's own fixes are checked against.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lab import config

PROFILE_SCRIPT = """#!/bin/sh
export PATH="$PATH:/usr/local/bin"
"""

UNIT = """[Unit]
Description=Ollama API Service
After=network-online.target

[Service]
ExecStart=/usr/local/bin/ollama serve
User=root
Group=root
Restart=always
RestartSec=3
Environment="OLLAMA_HOST=0.0.0.0:11434"

[Install]
WantedBy=multi-user.target
"""

SITE_TEMPLATE = """server {
    listen 80;
    server_name <PROXMOX_HOST_IP_OR_DOMAIN>; # Replace with actual host IP or domain

    location /ollama/ {
        # Rewrite the URL to remove the /ollama prefix
        rewrite ^/ollama/(.*)$ /$1 break;

        # Proxy settings
        proxy_pass http://<LXC_955_IP>:11434; # Replace with LXC 955's IP address
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


HARDENING = """\
        proxy_read_timeout 1h;
        proxy_send_timeout 1h;
        proxy_buffering off;
        location ~ ^/ollama/api/(create|blobs/|pull|push|delete|copy) {
            deny all;
            rewrite ^/ollama/(.*)$ /$1 break;
            proxy_pass http://<LXC_955_IP>:11434;
        }
"""


@dataclass(frozen=True)
class Site:
    """One container's reverse-proxy site on the host: files, server name, URL."""

    ctid: int
    file: Path
    link: Path
    server_name: str

    @property
    def proxy_url(self) -> str:
        """Base URL of the proxied API, e.g. http://127.0.0.1/ollama/."""
        return f"http://{self.server_name}/ollama/"

    def render(self, ct_ip: str, upstream: str | None = None, hardened: bool = False) -> str:
        """The plan's site file with its two placeholders filled in (and, `hardened`, the
        hardening an operator would add by hand: written here, not taken from the suite)."""
        text = SITE_TEMPLATE.replace("<PROXMOX_HOST_IP_OR_DOMAIN>", self.server_name)
        text = text.replace("<LXC_955_IP>", upstream or ct_ip)
        if hardened:
            last = '        proxy_set_header Connection "upgrade";\n'
            text = text.replace(last, last + HARDENING.replace("<LXC_955_IP>", ct_ip), 1)
        return text

    def write(self, text: str) -> None:
        """Write the site file atomically (root, 0644), creating its directory."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(f".{self.file.name}.lab-tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)
        os.replace(tmp, self.file)


def site_for(ctid: int) -> Site:
    """CT 955 gets the plan's paths and 127.0.0.1; a clone N gets ollama_proxy_N on 127.0.X.Y.

    Clones have their own file, link and server name (955 -> 127.0.0.1, 956 -> 127.0.9.56) so
    several containers can be proxied by the one nginx at the same time.
    """
    if ctid == config.CTID:
        name, server = "ollama_proxy", "127.0.0.1"
    else:
        name, server = f"ollama_proxy_{ctid}", f"127.0.{ctid // 100}.{ctid % 100}"
    return Site(ctid, config.SITES_AVAILABLE / name, config.SITES_ENABLED / name, server)

"""The plan's files (the plan's sections 3-5) as the lab writes them, and where each lab
container's site lives.

The texts come from compliance/plan (the plan is stated once); the lab writes them with its own
code (lab/states.py), never through the suite's fixes, so a converge is still checked against
a state the fixes did not make.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from compliance import plan
from lab import config

# The plan's files, from the one place the plan is stated (compliance/plan/files): the lab's
# compliant state is the plan's text written by the lab's own code, not by the suite's fixes.
PROFILE_SCRIPT = plan.PROFILE_TEXT
UNIT = plan.UNIT_TEXT
SITE_TEMPLATE = plan.SITE_TEMPLATE


# The hardening an operator writes by hand from Ollama's API docs (not from the suite): only
# the inference and listing endpoints pass, everything else under /ollama/ is refused.
HARDENING = """\
        proxy_read_timeout 1h;
        proxy_send_timeout 1h;
        proxy_buffering off;
        deny all;
        location ~ ^/ollama/(api/(version|tags|ps)|v1/models(/[^/]+)?)?$ {
            allow all;
            limit_except GET { deny all; }
            rewrite ^/ollama/(.*)$ /$1 break;
            proxy_pass http://<LXC_955_IP>:11434;
        }
        location ~ ^/ollama/api/(show|generate|chat|embed|embeddings)$ {
            allow all;
            limit_except POST { deny all; }
            rewrite ^/ollama/(.*)$ /$1 break;
            proxy_pass http://<LXC_955_IP>:11434;
        }
        location ~ ^/ollama/v1/(chat/completions|completions|embeddings)$ {
            allow all;
            limit_except POST { deny all; }
            rewrite ^/ollama/(.*)$ /$1 break;
            proxy_pass http://<LXC_955_IP>:11434;
        }
"""
GUARD_LINE = "\n        deny all;\n"  # the line of HARDENING that refuses the rest


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
        text = SITE_TEMPLATE.replace(plan.HOST_PLACEHOLDER, self.server_name)
        text = text.replace(plan.IP_PLACEHOLDER, upstream or ct_ip)
        if hardened:
            last = '        proxy_set_header Connection "upgrade";\n'
            text = text.replace(last, last + HARDENING.replace(plan.IP_PLACEHOLDER, ct_ip), 1)
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

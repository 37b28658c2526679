"""upgrade_ollama (hardened): the suite does not install software; it says how to upgrade."""

from __future__ import annotations

from remediation.base import Context, Fix, NotRemediable, Plan

HOW = (
    "upgrade Ollama in CT {ctid} past every advisory named above (Ollama's install script "
    "or its release tarball for linux, then `systemctl restart ollama`), or pin a fixed "
    "version; the suite does not install software, nothing was changed"
)


class UpgradeOllama(Fix):
    """Never changes anything: an outdated Ollama is reported as not remediable, with how."""

    name = "upgrade_ollama"
    target = "ct"
    requires = ()

    def plan(self, ctx: Context) -> Plan:
        raise NotRemediable(HOW.format(ctid=ctx.target.ctid))

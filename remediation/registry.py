"""The fix catalogue, by the name a check gives in `@check(where, section, fix)`."""

from __future__ import annotations

from remediation.base import Fix
from remediation.fix_ct import CtStart
from remediation.fix_firewall import CtFirewall
from remediation.fix_nginx import NginxSite
from remediation.fix_onboot import CtOnboot
from remediation.fix_profile import ProfileD
from remediation.fix_unit import SystemdUnit
from remediation.fix_upgrade import UpgradeOllama

FIXES: dict[str, Fix] = {
    fix.name: fix
    for fix in (
        CtStart(),
        ProfileD(),
        SystemdUnit(),
        NginxSite(),
        CtOnboot(),
        UpgradeOllama(),
        CtFirewall(),
    )
}


def shares_host(name: str) -> bool:
    """Whether fix `name`, or one it needs first (its round runs them inside its own), changes
    what the host's CTs share: its round then holds the host's lock too."""
    fix = FIXES[name]
    return fix.shares_host or any(shares_host(need) for need in fix.requires)

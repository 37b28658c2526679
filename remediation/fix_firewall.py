"""ct_firewall (hardened): only the Proxmox host reaches Ollama's port in the CT.

The plan's bind (`OLLAMA_HOST=0.0.0.0:11434`) stays as the plan requires; an nftables table in
the CT, loaded at boot by its own small unit before ollama.service, accepts 11434 from the
loopback and the host's address on the CT's network and resets it for everyone else. Chosen
over Proxmox's CT firewall file because it works on any LXC host and travels with the CT.
When Proxmox's firewall already filters the CT (cluster and CT `enable: 1`, net0 firewall=1),
no second filter is added to fight it: the fix refuses and gives the two rules to add there;
when the files enable it but its service is stopped, the fix refuses naming the service.
"""

from __future__ import annotations

from compliance.catalogue.upstream import container_ip, host_bridge_address
from compliance.facts.firewall import GUARD_RULES, GUARD_UNIT, Guard
from compliance.plan import PORT
from remediation.base import (
    Context,
    Fix,
    NotRemediable,
    Plan,
    must,
    rollback_outcome,
    unified_diff,
)

RULES_PATH, UNIT_PATH = GUARD_RULES, GUARD_UNIT
RULES = """\
# ollama-lxc-compliance (hardened profile): port 11434 answers the Proxmox host only
table inet ollama_guard
delete table inet ollama_guard
table inet ollama_guard {{
    chain input {{
        type filter hook input priority filter; policy accept;
        tcp dport 11434 iifname "lo" accept
        tcp dport 11434 ip saddr {host} accept
        tcp dport 11434 reject with tcp reset
    }}
}}
"""
UNIT = """\
[Unit]
Description=Only the Proxmox host reaches Ollama's port (ollama-lxc-compliance)
Before=ollama.service network-online.target
After=nftables.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f /etc/ollama-guard.nft
ExecStop=/usr/sbin/nft delete table inet ollama_guard

[Install]
WantedBy=multi-user.target
"""


def pve_rules_to_add(ctid: str, host: str) -> str:
    """The one-line refusal when Proxmox's firewall filters the CT: the exact rules to add."""
    return (
        f"the Proxmox firewall filters CT {ctid} (cluster.fw and {ctid}.fw enable: 1, net0"
        " firewall=1), so the suite adds no second filter in the CT: put these first in"
        f" /etc/pve/firewall/{ctid}.fw [RULES]: `IN ACCEPT -source {host} -p tcp -dport"
        f" {PORT}` then `IN DROP -p tcp -dport {PORT}`; nothing was changed"
    )


class CtFirewall(Fix):
    """Install the guard's rules and unit, check the rules with `nft -c`, enable and start it."""

    name = "ct_firewall"
    target = "ct"
    requires = ("systemd_unit",)

    def plan(self, ctx: Context) -> Plan:
        # the exposure model loads when a hardened run plans this fix (a plain run never does)
        from compliance.catalogue.exposure import pve_firewall, pve_not_applied

        s = ctx.subject()
        address, how = container_ip(s)
        host = host_bridge_address(s, address) if address else None
        if host is None:
            raise NotRemediable(
                f"the host's address on the CT's network is unknown ({how}); nothing was changed"
            )
        if not_applied := pve_not_applied(s):
            raise NotRemediable(
                f"{not_applied}; start it, or turn the firewall off for CT {ctx.target.ctid},"
                " before the suite adds a filter in the CT; nothing was changed"
            )
        if pve_firewall(s).active():
            raise NotRemediable(pve_rules_to_add(ctx.target.ctid, host))
        rules = RULES.format(host=host)
        guard = s[Guard]
        if not guard.nft:
            raise NotRemediable(
                f"nft is missing in CT {ctx.target.ctid}: install nftables there first "
                "(apt-get install nftables); nothing was changed"
            )
        plan = Plan(settle_s=5.0)
        for path, text in ((RULES_PATH, rules), (UNIT_PATH, UNIT)):
            if guard.files.get(path) != text:
                plan.diffs.append(unified_diff(path, guard.files.get(path), text))
        if plan.diffs or not guard.loaded:
            plan.commands += [
                f"nft -c -f {RULES_PATH}",
                "systemctl daemon-reload",
                "systemctl enable ollama-guard.service",
                "systemctl restart ollama-guard.service",
            ]
            plan.apply = lambda: self._apply(ctx, rules)
            plan.rollback = lambda: self._rollback(ctx)
        return plan

    @staticmethod
    def _apply(ctx: Context, rules: str) -> None:
        ct = ctx.ct
        ct.clean_temps(RULES_PATH, UNIT_PATH)
        for path, text in ((RULES_PATH, rules), (UNIT_PATH, UNIT)):
            must(ct.install(path, text), f"could not write {path}")
        must(ct.run(f"nft -c -f {RULES_PATH}"), "nft rejects the rules")
        for command in (
            "systemctl daemon-reload",
            "systemctl enable ollama-guard.service",
            "systemctl restart ollama-guard.service",
        ):
            must(ct.run(command), f"`{command}` failed")

    @staticmethod
    def _rollback(ctx: Context) -> str:
        ct = ctx.ct
        undo = [
            ct.run("systemctl disable --now ollama-guard.service"),
            ct.restore(RULES_PATH),
            ct.restore(UNIT_PATH),
            ct.run("systemctl daemon-reload"),
            ct.run("nft delete table inet ollama_guard 2>/dev/null; true"),
        ]
        return rollback_outcome(undo, "removed the guard")

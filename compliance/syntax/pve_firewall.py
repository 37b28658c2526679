"""Proxmox VE's firewall files (`/etc/pve/firewall/cluster.fw`, `<vmid>.fw`), and what they do
to one new TCP connection into a guest, as pve-firewall compiles them: the cluster's
`blacklist` IP set first, then the guest's `IN` rules in order (a `GROUP` expanded where it
stands, `|` rules disabled), the first match wins, the guest's `policy_in` (default DROP) at
the end.

Understood in a rule: IN/OUT, ACCEPT/DROP/REJECT, GROUP, the macros Proxmox ships (known by
name; none of them opens a port above 10000), -source/-dest (addresses, CIDRs, ranges, lists,
aliases, +ipsets), -p, -dport, -i, -log, -icmp-type. Anything else makes the outcome unknown
from that rule on, and the verdict names the rule: a filter the suite cannot read is never
called closed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field

from compliance.syntax.nft import Fate

# pve-firewall's macros (PVE::Firewall $pve_fw_macros): a macro rule never matches TCP 11434.
_MACRO_NAMES = """
Amanda Auth BGP BitTorrent BitTorrent32 CVS Ceph Citrix DAAP DCC DHCPfwd DHCPv6 DNS Distcc FTP
Finger GNUnet GRE Git HKP HTTP HTTPS ICPV2 ICQ IMAP IMAPS IPIP IPsec IPsecah IPsecnat IRC Jetdirect
L2TP LDAP LDAPS MDNS MSNP MSSQL Mail Munin MySQL NNTP NNTPS NTP NeighborDiscovery OSPF OpenVPN PCA
PMG POP3 POP3S PPtP Ping PostgreSQL Printer RDP RIP RNDC Razor Rdate Rsync SANE SMB SMBswat SMTP
SMTPS SNMP SPAMD SSH SVN SixXS Squid Submission Syslog TFTP Telnet Telnets Time Trcrt VNC VNCL Web
Webcache Webmin Whois
"""
MACROS = frozenset(_MACRO_NAMES.split())
ACTIONS = ("ACCEPT", "DROP", "REJECT")
KNOWN_OPTIONS = {"source", "dest", "p", "proto", "dport", "i", "iface", "log", "icmp-type"}
_MACRO = re.compile(r"^([A-Za-z0-9]+)\((ACCEPT|DROP|REJECT)\)$")


@dataclass(frozen=True)
class Rule:
    """One rule line: `IN ACCEPT -source 10.0.3.1 -p tcp -dport 11434`, `GROUP name`."""

    line: int
    text: str
    direction: str  # IN, OUT, GROUP
    action: str  # ACCEPT, DROP, REJECT; the group's name for GROUP
    macro: str = ""
    options: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    problem: str = ""  # what the suite cannot read in it

    def shown(self, file: str) -> str:
        return f"{file} line {self.line} `{self.text}`"


@dataclass(frozen=True)
class FwFile:
    """One firewall file's sections: options, rules, security groups, IP sets, aliases."""

    options: dict[str, str] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    groups: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    ipsets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def enabled(self) -> bool:
        return self.options.get("enable", "0").strip() == "1"


def _rule(number: int, line: str) -> Rule:
    enabled = not line.startswith("|")
    text = line.lstrip("|").strip()
    words = text.split()
    direction = words[0].upper()
    if direction == "GROUP":
        if len(words) < 2:
            return Rule(number, text, "GROUP", "", enabled=enabled, problem="GROUP without a name")
        action, rest, macro = words[1], words[2:], ""
    else:
        verb = words[1] if len(words) > 1 else ""
        found = _MACRO.match(verb)
        macro, action = (found.group(1), found.group(2)) if found else ("", verb.upper())
        rest = words[2:]
        if direction not in ("IN", "OUT") or action not in ACTIONS:
            return Rule(number, text, direction, action, enabled=enabled, problem="not a rule")
    options: dict[str, str] = {}
    problem = ""
    while rest:
        key = rest.pop(0)
        if not key.startswith("-") or not rest:
            problem = f"not understood: {key}"
            break
        options[key.lstrip("-")] = rest.pop(0)
    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown and not problem:
        problem = f"option -{unknown[0]}"
    return Rule(number, text, direction, action, macro, options, enabled, problem)


def parse(text: str) -> FwFile:
    """A firewall file as pve-firewall reads it (`#` comments, `[SECTION]` headers)."""
    options: dict[str, str] = {}
    rules: list[Rule] = []
    groups: dict[str, list[Rule]] = {}
    ipsets: dict[str, list[str]] = {}
    aliases: dict[str, str] = {}
    section, name = "", ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        header = re.fullmatch(r"\[\s*(\w+)(?:\s+([\w.-]+))?\s*\]", line)
        if header:
            section, name = header.group(1).upper(), (header.group(2) or "").lower()
            if section == "GROUP":
                groups.setdefault(name, [])
            elif section == "IPSET":
                ipsets.setdefault(name, [])
            continue
        if section == "OPTIONS":
            key, _, value = line.partition(":")
            options[key.strip()] = value.strip()
        elif section == "RULES":
            rules.append(_rule(number, line))
        elif section == "GROUP":
            groups[name].append(_rule(number, line))
        elif section == "IPSET":
            ipsets[name].append(line.split()[0])
        elif section == "ALIASES":
            alias, _, value = line.partition(" ")
            aliases[alias.lower()] = value.strip()
    return FwFile(
        options,
        tuple(rules),
        {key: tuple(value) for key, value in groups.items()},
        {key: tuple(value) for key, value in ipsets.items()},
        aliases,
    )


@dataclass(frozen=True)
class GuestFirewall:
    """The cluster's file and one guest's file, and whether the guest's NIC has `firewall=1`."""

    cluster: FwFile
    guest: FwFile
    guest_file: str
    nic_firewall: bool

    def active(self) -> bool:
        """pve-firewall filters this NIC: cluster on, guest on, `firewall=1` on the NIC."""
        return self.cluster.enabled() and self.guest.enabled() and self.nic_firewall

    def why_inactive(self) -> str:
        if not self.cluster.enabled():
            return "cluster.fw has no `enable: 1`"
        if not self.guest.enabled():
            return f"{self.guest_file} has no `enable: 1`"
        return "net0 has no firewall=1"

    def _addresses(self, spec: str) -> list[str] | None:
        """The networks a -source/-dest names, or None when the suite cannot resolve them."""
        networks: list[str] = []
        for part in spec.split(","):
            part = part.strip()
            name = part.split("/", 1)[-1].lower() if part.startswith(("dc/", "guest/")) else part
            if part.startswith("+"):
                entries = self._ipset(part[1:].split("/", 1)[-1].lower())
                if entries is None:
                    return None
                networks += entries
            elif _literal(part):
                networks.append(part)
            elif (
                alias := self.guest.aliases.get(name) or self.cluster.aliases.get(name)
            ) is not None:
                networks.append(alias)
            else:
                return None
        return networks

    def _ipset(self, name: str) -> list[str] | None:
        entries = self.guest.ipsets.get(name, self.cluster.ipsets.get(name))
        if entries is None or any(entry.startswith("!") for entry in entries):
            return None  # an unknown set, or exclusions: not judged
        resolved: list[str] = []
        for entry in entries:
            inner = self._addresses(entry)
            if inner is None:
                return None
            resolved += inner
        return resolved

    def _contains(self, spec: str, address: str) -> bool | None:
        networks = self._addresses(spec)
        if networks is None:
            return None
        ip = ipaddress.ip_address(address)
        for network in networks:
            try:
                if "-" in network:
                    low, high = (ipaddress.ip_address(a) for a in network.split("-", 1))
                    if type(low) is type(ip) and int(low) <= int(ip) <= int(high):
                        return True
                elif ip in ipaddress.ip_network(network, strict=False):
                    return True
            except ValueError:
                return None
        return False

    def _matches(self, rule: Rule, saddr: str, daddr: str, dport: int, nic: str) -> bool | None:
        """Whether the rule matches a new TCP connection (None: cannot tell)."""
        o = rule.options
        iface = o.get("i", o.get("iface"))
        if iface is not None and iface != nic:
            return False
        proto = o.get("p", o.get("proto"))
        if proto is not None and proto.lower() not in ("tcp", "6"):
            return False
        if rule.macro:
            return False if rule.macro in MACROS else None
        if "dport" in o:
            ports = _ports(o["dport"])
            if ports is None:
                return None
            if not any(low <= dport <= high for low, high in ports):
                return False
        for key, address in (("source", saddr), ("dest", daddr)):
            if key in o:
                inside = self._contains(o[key], address)
                if inside is not True:
                    return inside
        return True

    def fate(self, saddr: str, daddr: str, dport: int, nic: str = "net0") -> Fate:
        """What pve-firewall does to a new TCP connection from saddr to the guest's daddr:dport."""
        blacklist = (
            self._contains("+blacklist", saddr) if "blacklist" in self.cluster.ipsets else False
        )
        if blacklist:
            return Fate("drop", "cluster.fw [IPSET blacklist] lists it")
        for file, rule in self._expanded():
            if not rule.enabled or rule.direction == "OUT":
                continue
            if rule.problem:
                return Fate("unknown", f"not understood: {rule.shown(file)}: {rule.problem}")
            matched = self._matches(rule, saddr, daddr, dport, nic)
            if matched is None:
                return Fate("unknown", f"not understood: {rule.shown(file)}")
            if matched:
                verdict = "accept" if rule.action == "ACCEPT" else "drop"
                return Fate(verdict, f"{rule.shown(file)}")
        policy = self.guest.options.get("policy_in", "DROP").upper()
        verdict = "accept" if policy == "ACCEPT" else "drop"
        return Fate(verdict, f"{self.guest_file}: policy_in {policy} (no rule matched)")

    def _expanded(self) -> list[tuple[str, Rule]]:
        """The guest's rules with each enabled GROUP replaced by its rules (its -i on each)."""
        out: list[tuple[str, Rule]] = []
        for rule in self.guest.rules:
            if rule.direction != "GROUP" or not rule.enabled or rule.problem:
                out.append((self.guest_file, rule))
                continue
            members = self.cluster.groups.get(rule.action.lower())
            if members is None:
                missing = Rule(
                    rule.line, rule.text, "IN", "", problem="no such group in cluster.fw"
                )
                out.append((self.guest_file, missing))
                continue
            for member in members:
                options = {**member.options, **rule.options}
                out.append(("cluster.fw", dataclasses.replace(member, options=options)))
        return out


def _literal(part: str) -> bool:
    """An address, a CIDR or a range `a-b` (not an alias's name)."""
    try:
        for address in part.split("-", 1):
            ipaddress.ip_network(address, strict=False)
    except ValueError:
        return False
    return True


def _ports(spec: str) -> list[tuple[int, int]] | None:
    """`11434`, `80,443`, `8000:9000` as (low, high) ranges (None: a service name)."""
    ports = []
    for part in spec.split(","):
        low, _, high = part.partition(":")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        ports.append((int(low), int(high or low)))
    return ports

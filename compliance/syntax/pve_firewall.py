"""Proxmox VE's firewall files (`cluster.fw`, `<vmid>.fw`, the node's `host.fw`) read as
pve-firewall reads them, and what it does to new TCP connections into one guest's NIC, for every
source address of a family at once.

The acceptance rules follow pve-firewall's `src/PVE/Firewall.pm` (each function named where it
is ported): a line pve-firewall cannot parse or verify is skipped, and so is it here, with the
reason (`cluster.fw line 7 skipped by pve-firewall: ...`). What the suite cannot know (a
`/etc/services` port name, an SDN IP set, an address form only Perl's Net::IP reads, a macro of
a newer release) makes the sources it could decide `unknown`: never a pass.

The chain a guest's NIC gets (`generate_tap_rules_direction`, `ruleset_generate_vm_rules`,
`ruleset_chain_add_input_filters`): the cluster's `blacklist` IP set first, then the guest's
rules in order (an `IN` rule, a `GROUP` whose `IN` rules run where it stands, the first match
deciding), then the guest's `policy_in` (default DROP). A rule with IPv4 addresses only joins
the IPv4 chain, one with IPv6 addresses the IPv6 chain, one without addresses (or with IP sets
only) both, an IP set matching its entries of the chain's family.

Not modelled (they only drop, so leaving them out is never a false pass): the smurfs chain
(IPv4 broadcast and multicast sources), `tcpflags`, conntrack INVALID. Outside its scope: the
host's own OUTPUT chain (host.fw `OUT` rules, `policy_out`) that the host's connections cross
before the guest's chain.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from compliance.syntax.nft import Fate
from compliance.syntax.sources import ACCEPT, BITS, DROP, UNKNOWN, Judgement, Region, Sources

# Names of IP sets, aliases and security groups (`$ipset_name_pattern` and its siblings), and
# their length limits.
NAME = r"[A-Za-z][A-Za-z0-9\-_]+"
GROUP_NAME_MAX, IPSET_NAME_MAX, ALIAS_NAME_MAX = 18, 64, 64
LOG_LEVELS = "emerg|alert|crit|err|warning|notice|info|debug|nolog"
# Protocols whose rules may name ports (`$PROTOCOLS_WITH_PORTS`); the ICMP ones keep their
# type in -dport (`$proto_is_icmp`).
WITH_PORTS = frozenset({"udp", "17", "udplite", "136", "tcp", "6", "dccp", "33", "sctp", "132"})
ICMP = frozenset({"icmp", "icmpv6", "ipv6-icmp"})
TCP = frozenset({"tcp", "6"})

# The macros of pve-firewall 6.0 (`$pve_fw_macros`, `$pve_ipv6fw_macros`), in our notation: each
# entry is `protocol [ports] [from source ports]`. A macro expands into one rule per entry.
_MACRO_TABLE = """
Amanda udp 10080; tcp 10080
Auth tcp 113
BGP tcp 179
BitTorrent tcp 6881:6889; udp 6881
BitTorrent32 tcp 6881:6999; udp 6881
Ceph tcp 6789; tcp 3300; tcp 6800:7300
Citrix tcp 1494; udp 1604; tcp 2598
CVS tcp 2401
DAAP tcp 3689; udp 3689
DCC tcp 6277
DHCPfwd udp 67:68 from 67:68
DHCPv6 udp 546:547 from 546:547
Distcc tcp 3632
DNS udp 53; tcp 53
Finger tcp 79
FTP tcp 21
Git tcp 9418
GNUnet tcp 2086; udp 2086; tcp 1080; udp 1080
GRE 47
HKP tcp 11371
HTTP tcp 80
HTTPS tcp 443
ICPV2 udp 3130
ICQ tcp 5190
IMAP tcp 143
IMAPS tcp 993
IPIP 94
IPsec udp 500 from 500; 50
IPsecah udp 500 from 500; 51
IPsecnat udp 500; udp 4500; 50
IRC tcp 6667
Jetdirect tcp 9100
L2TP udp 1701
LDAP tcp 389
LDAPS tcp 636
Mail tcp 25; tcp 465; tcp 587
MDNS udp 5353
MSNP tcp 1863
MSSQL tcp 1433
Munin tcp 4949
MySQL tcp 3306
NeighborDiscovery icmpv6 router-solicitation; icmpv6 router-advertisement
NNTP tcp 119
NNTPS tcp 563
NTP udp 123
OpenVPN udp 1194
OSPF 89
PCA udp 5632; tcp 5631
Ping icmp echo-request
PMG tcp 8006
POP3 tcp 110
POP3S tcp 995
PostgreSQL tcp 5432
PPtP 47; tcp 1723
Printer tcp 515
Razor tcp 2703
Rdate tcp 37
RDP tcp 3389
RIP udp 520
RNDC tcp 953
Rsync tcp 873
SANE tcp 6566
SixXS tcp 3874; udp 3740; 41; udp 5072,8374
SMB udp 135,445; udp 137:139; udp 1024:65535 from 137; tcp 135,139,445
SMBswat tcp 901
SMTP tcp 25
SMTPS tcp 465
SNMP udp 161:162; tcp 161
SPAMD tcp 783
SPICEproxy tcp 3128
Squid tcp 3128
SSH tcp 22
Submission tcp 587
SVN tcp 3690
Syslog udp 514; tcp 514
Telnet tcp 23
Telnets tcp 992
TFTP udp 69
Time tcp 37
Trcrt udp 33434:33524; icmp echo-request
VNC tcp 5900:5999
VNCL tcp 5500
Web tcp 80; tcp 443
Webcache tcp 8080
Webmin tcp 10000
Whois tcp 43
"""


@dataclass(frozen=True)
class MacroRule:
    """One rule a macro expands into: protocol, destination ports, source ports."""

    proto: str
    dport: str = ""
    sport: str = ""


def _macros() -> dict[str, tuple[str, tuple[MacroRule, ...]]]:
    """Lower-case name -> (the name pve-firewall prefers, its rules)."""
    table: dict[str, tuple[str, tuple[MacroRule, ...]]] = {}
    for line in _MACRO_TABLE.strip().splitlines():
        name, _, body = line.partition(" ")
        rules = []
        for entry in body.split(";"):
            words = entry.split()
            sport = words[words.index("from") + 1] if "from" in words else ""
            rules.append(MacroRule(words[0], words[1] if len(words) > 1 else "", sport))
        table[name.lower()] = (name, tuple(rules))
    return table


MACROS = _macros()


class _Doubt(Exception):
    """What the suite cannot know about a rule: the sources it could decide are unknown."""


class _Skip(Exception):
    """Why pve-firewall leaves a rule or entry out (its warning)."""


# -- the files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One rule line as `parse_fw_rule` reads it: `IN ACCEPT -source 10.0.3.1 -p tcp -dport
    11434`, `GROUP name -i net0`; `errors` make pve-firewall leave it out of every chain."""

    file: str
    line: int
    text: str  # the line without its `|` and its comment
    kind: str  # in, out, forward, group
    action: str  # ACCEPT, DROP, REJECT; a GROUP's name
    enabled: bool = True
    macro: str = ""
    iface: str = ""
    proto: str = ""
    dport: str = ""
    sport: str = ""
    source: str = ""
    dest: str = ""
    icmp_type: str = ""
    ipversion: int = 0
    errors: tuple[str, ...] = ()
    unseen: str = ""  # an IP set not defined above it (pve keeps the rule for an SDN set only)

    def shown(self) -> str:
        return f"{self.file} line {self.line} `{self.text}`"


@dataclass(frozen=True)
class Entry:
    """An IP set's line: an address, network or alias, `!` for an exclusion (ipset nomatch)."""

    line: int
    cidr: str
    nomatch: bool = False
    error: str = ""


@dataclass(frozen=True)
class Alias:
    name: str
    cidr: str
    version: int


@dataclass
class FwFile:
    """One firewall file as pve-firewall keeps it after reading: options, rules, security
    groups (cluster.fw), IP sets and aliases, and what it skipped (with the reason)."""

    name: str = "cluster.fw"
    kind: str = "cluster"  # cluster, ct, vm, host
    present: bool = False  # has text (pve-firewall ignores an empty guest file)
    options: dict[str, str] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    groups: dict[str, list[Rule]] = field(default_factory=dict)
    ipsets: dict[str, list[Entry]] = field(default_factory=dict)
    aliases: dict[str, Alias] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # outside [RULES]
    skipped_rules: list[str] = field(default_factory=list)  # in [RULES]

    def enabled(self) -> bool:
        """`enable: 1` as read. The cluster's `enable: <epoch>` (the API's enable-with-rollback)
        is on for 60 s only; it counts as off here."""
        return self.options.get("enable") == "1"

    def option_skipped(self, key: str) -> str:
        """The skip note of an option line that looks like `key:` (why it is not read)."""
        return next((note for note in self.skipped if f"`{key}" in note.lower()), "")


# Which sections each kind of file has (`load_clusterfw_conf`, `load_vmfw_conf`,
# `load_hostfw_conf`), and which rule types a rule of each place may have
# (`$rule_env_direction_lookup`).
_SECTIONS = {
    "cluster": ("options", "aliases", "rules", "group", "ipset"),
    "ct": ("options", "aliases", "rules", "ipset"),
    "vm": ("options", "aliases", "rules", "ipset"),
    "host": ("options", "rules"),
}
_TYPES = {
    "ct": ("in", "out", "group"),
    "vm": ("in", "out", "group"),
    "group": ("in", "out", "forward"),
    "cluster": ("in", "out", "forward", "group"),
    "host": ("in", "out", "forward", "group"),
}
# The option lines each kind accepts (`parse_clusterfw_option`, `parse_vmfw_option`,
# `parse_hostfw_option`): key pattern, value pattern. Nothing else on the line, not even a
# comment: `enable: 1 # on` is not an option pve-firewall reads.
_FLAGS = r"(0|1)"
_OPTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "cluster": (
        (r"enable", r"(\d+)"),
        (r"ebtables", _FLAGS),
        (r"policy_(?:in|out|forward)", r"(ACCEPT|DROP|REJECT)"),
        (r"log_ratelimit", r"(\S+)"),
    ),
    "ct": (
        (r"enable|dhcp|ndp|radv|macfilter|ipfilter|ips", _FLAGS),
        (r"log_level_in|log_level_out", rf"(?:({LOG_LEVELS})\s*)?"),
        (r"policy_(?:in|out)", r"(ACCEPT|DROP|REJECT)"),
        (r"ips_queues", r"(\d+(?::\d+)?)"),
        (r"layer2_protocols", r"((?:\S+[,]?)+)"),
    ),
    "host": (
        (
            r"enable|nosmurfs|tcpflags|ndp|log_nf_conntrack|nf_conntrack_allow_invalid"
            r"|protection_synflood|nftables",
            _FLAGS,
        ),
        (
            r"log_level_(?:in|out|forward)|tcp_flags_log_level|smurf_log_level",
            rf"(?:({LOG_LEVELS})\s*)?",
        ),
        (r"nf_conntrack_helpers", r"((?:\S+[,]?)+)"),
        (
            r"nf_conntrack_max|nf_conntrack_tcp_timeout_established"
            r"|nf_conntrack_tcp_timeout_syn_recv|protection_synflood_rate"
            r"|protection_synflood_burst|protection_limit",
            r"(\d+)",
        ),
    ),
}
_OPTIONS["vm"] = _OPTIONS["ct"]


def _option(kind: str, line: str) -> tuple[str, str] | None:
    """(key, value) of an option line, or None when pve-firewall cannot parse it."""
    for keys, value in _OPTIONS[kind]:
        flags = 0 if keys == "log_ratelimit" else re.I  # its key is matched case-sensitively
        found = re.fullmatch(rf"({keys}):\s*{value}\s*", line, flags)
        if found:
            key, got = found.group(1).lower(), found.group(2) or ""
            if key == "enable" and kind == "cluster":
                got = str(int(got))
            elif key.startswith("policy_") or key.startswith("log_level"):
                got = got.upper() if key.startswith("policy_") else got.lower()
            return key, got
    return None


def parse(
    text: str, kind: str = "cluster", cluster: FwFile | None = None, name: str = ""
) -> FwFile:
    """A firewall file as `generic_fw_config_parser` reads it. A guest's rules are verified
    against `cluster` (the cluster's file, read first) and against what of its own file came
    before them: an IP set or alias defined below a rule is not there yet for it."""
    own = FwFile(name or ("cluster.fw" if kind == "cluster" else f"{kind}.fw"), kind, bool(text))
    allowed = _SECTIONS[kind]
    section, group = "", ""
    seen: set[str] = set()  # the current IP set's entries (duplicates are refused)
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(" \t")
        if not line.strip() or line.startswith("#"):
            continue
        head = _header(line, allowed)
        if head is not None:
            section, group, problem = head
            if problem:
                own.skipped.append(f"{own.name} line {number} skipped by pve-firewall: {problem}")
            elif section == "group":
                own.groups[group] = []
            elif section == "ipset":
                own.ipsets[group] = []
                seen = set()
            continue
        where = f"{own.name} line {number} `{line}` skipped by pve-firewall"
        if not section:
            own.skipped.append(f"{where}: not in a section")
        elif section == "options":
            option = _option(kind, line)
            if option is None:
                own.skipped.append(f"{where}: can't parse option")
            else:
                own.options[option[0]] = option[1]
        elif section == "aliases":
            alias = _alias(line)
            if isinstance(alias, str):
                own.skipped.append(f"{where}: {alias}")
            else:
                own.aliases[alias.name.lower()] = alias
        elif section == "ipset":
            entry = _entry(number, line, cluster or own, own, seen)
            own.ipsets[group].append(entry)
            if entry.error:
                own.skipped.append(f"{where}: {entry.error}")
        else:
            env = "group" if section == "group" else kind
            rule = _rule(
                own.name, number, line, env, cluster or own, None if env == "group" else own
            )
            if isinstance(rule, str):
                (own.skipped_rules if section == "rules" else own.skipped).append(
                    f"{where}: {rule}"
                )
                continue
            notes = own.skipped_rules if section == "rules" else own.skipped
            if rule.errors and rule.enabled:
                notes.append(f"{where}: {'; '.join(rule.errors)}")
            (own.groups[group] if section == "group" else own.rules).append(rule)
    return own


def _header(line: str, allowed: tuple[str, ...]) -> tuple[str, str, str] | None:
    """(section, group or set name, why it is refused) of a section line, None otherwise. A
    refused name leaves no section: its lines are skipped until the next header."""
    for plain in ("options", "aliases", "rules"):
        if plain in allowed and re.fullmatch(rf"\[{plain}\]", line, re.I):
            return plain, "", ""
    for named, limit in (("group", GROUP_NAME_MAX), ("ipset", IPSET_NAME_MAX)):
        found = re.fullmatch(rf"\[{named}\s+(\S+)\]\s*(?:#\s*(.*?)\s*)?", line, re.I)
        if named in allowed and found:
            name = found.group(1).lower()
            if len(name) > limit or not re.fullmatch(NAME, name):
                return "", "", f"invalid {named} name '{name}'"
            return named, name, ""
    return None


def _alias(line: str) -> Alias | str:
    """`name address-or-network [# comment]` (`parse_alias`), or why it is skipped."""
    line = re.sub(r"\s*#\s*(.*?)\s*$", "", line, count=1)
    found = re.fullmatch(r"(\S+)\s(\S+)", line)
    if not found:
        return "not `name address`"
    cidr = found.group(2)
    version = _ip_or_cidr(cidr)
    if not version:
        return "value does not look like a valid IP address or CIDR network"
    return Alias(found.group(1), _strip_host_prefix(cidr, version), version)


def _ip_or_cidr(text: str) -> int:
    """4 or 6 for an address with an optional `/digits` (`parse_ip_or_cidr`: the prefix is not
    checked there), 0 when it is neither."""
    address, slash, prefix = text.partition("/")
    if slash and not prefix.isdigit():
        return 0
    if "%" in address:
        return 0
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return 0


def _strip_host_prefix(cidr: str, version: int) -> str:
    return re.sub(r"/32$" if version == 4 else r"/128$", "", cidr)


def _entry(number: int, line: str, cluster: FwFile, own: FwFile, seen: set[str]) -> Entry:
    """An IP set's line (the `ipset` branch of `generic_fw_config_parser`)."""
    line = re.sub(r"#\s*(.*?)\s*$", "", line, count=1)
    found = re.fullmatch(r"(!)?\s*(\S+)\s*", line)
    if not found:
        return Entry(number, line, False, "not one address, network or alias")
    nomatch, cidr = bool(found.group(1)), found.group(2)
    error = ""
    alias = re.fullmatch(rf"(dc/|guest/)?({NAME})", cidr)
    if alias:
        if _scoped_alias(alias.group(2), alias.group(1) or "", cluster, own) is None:
            error = f"no such alias '{alias.group(2)}'"
    else:
        version = _ip_or_cidr(cidr)
        if not version:
            error = "value does not look like a valid IP address or CIDR network"
        else:
            cidr = _strip_host_prefix(cidr, version)
    if not error and cidr in seen:
        error = f"duplicate ipset entry for '{cidr}'"
    if re.search(r"/0+$", cidr):
        error = "a zero prefix is not allowed in ipset entries"
    seen.add(cidr)
    return Entry(number, cidr, nomatch, error)


def _scoped_alias(
    name: str, scope: str, cluster: FwFile | None, own: FwFile | None
) -> Alias | None:
    """An alias by scope (`resolve_alias`): the guest's own first unless `dc/`, then the
    cluster's unless `guest/`."""
    found = None
    if scope != "dc/" and own is not None:
        found = own.aliases.get(name.lower())
    if found is None and scope != "guest/" and cluster is not None:
        found = cluster.aliases.get(name.lower())
    return found


# -- rules -------------------------------------------------------------------------------------

_PARAMETERS = (
    ("proto", r"(?:-p|--?proto) (\S+)\s*"),
    ("dport", r"--?dport (\S+)\s*"),
    ("sport", r"--?sport (\S+)\s*"),
    ("source", r"--?source (\S+)\s*"),
    ("dest", r"--?dest (\S+)\s*"),
    ("log", rf"--?log ({LOG_LEVELS})\s*"),
    ("icmp_type", r"--?icmp-type (\S+)\s*"),
)


def _parameter(rest: str) -> tuple[str, re.Match[str] | None]:
    """The rule parameter `rest` starts with, as `parse_fw_rule` tries them in turn."""
    for key, pattern in _PARAMETERS:
        found = re.match(pattern, rest)
        if found:
            return key, found
    return "", None


def _rule(
    file: str, number: int, line: str, env: str, cluster: FwFile, own: FwFile | None
) -> Rule | str:
    """A rule line (`parse_fw_rule`, then `verify_rule`), or why the line is dropped whole."""
    line = re.sub(r"#\s*(.*?)\s*$", "", line, count=1)
    enabled = not line.startswith("|")
    line = line.removeprefix("|")
    head = re.match(r"(\S+)\s+(\S+)\s*", line)
    if not head:
        return "unable to parse rule"
    kind, action = head.group(1).lower(), head.group(2)
    values: dict[str, str] = {}
    if kind in ("in", "out", "forward"):
        macro = re.fullmatch(r"(\S+)\((ACCEPT|DROP|REJECT)\)", action)
        if macro:
            values["macro"], action = macro.group(1), macro.group(2)
    rest = line[head.end() :]
    while rest:
        key, found = "iface", re.match(r"-i (\S+)\s*", rest)
        if not found and kind != "group":
            key, found = _parameter(rest)
        if not found:
            return f"unable to parse rule parameters: {rest}"
        values[key] = found.group(1)
        rest = rest[found.end() :]
    rule = Rule(
        file,
        number,
        line.strip(),
        kind,
        action,
        enabled,
        values.get("macro", ""),
        values.get("iface", ""),
        values.get("proto", ""),
        values.get("dport", ""),
        values.get("sport", ""),
        values.get("source", ""),
        values.get("dest", ""),
        values.get("icmp_type", ""),
    )
    errors, version = _verify(rule, env, cluster, own)
    unseen = [
        spec
        for spec in (rule.source, rule.dest)
        if (found := re.fullmatch(rf"\+(?:guest/|dc/|sdn/)?({NAME})", spec))
        and found.group(1) not in cluster.ipsets
        and (own is None or found.group(1) not in own.ipsets)
    ]
    return dataclasses.replace(
        rule, ipversion=version, errors=tuple(errors), unseen=", ".join(unseen)
    )


def _verify(rule: Rule, env: str, cluster: FwFile, own: FwFile | None) -> tuple[list[str], int]:
    """`verify_rule`: the errors that make pve-firewall leave the rule out, and the family its
    addresses pin it to (0: both)."""
    errors: list[str] = []
    versions: set[int] = set()
    if rule.kind not in _TYPES[env]:
        errors.append(f"invalid rule type '{rule.kind}' here")
    if rule.kind in ("in", "out", "forward"):
        if rule.action not in ("ACCEPT", "DROP", "REJECT"):
            errors.append(f"unknown action '{rule.action}' (ACCEPT, DROP or REJECT)")
        if rule.kind == "forward" and rule.action == "REJECT":
            errors.append("cannot define REJECT rules on forward chain")
    elif rule.kind == "group" and not re.fullmatch(NAME, rule.action):
        errors.append("invalid characters in security group name")
    if rule.iface:
        if env == "group":
            errors.append("parameter -i not allowed for this rule type")
        elif not re.fullmatch(r"[a-z][a-z0-9_]{1,20}([:.]\d+)?", rule.iface, re.I):
            errors.append(f"invalid network interface name '{rule.iface}'")
        elif env in ("ct", "vm") and not re.fullmatch(r"net\d+", rule.iface):
            errors.append("-i must be netN")
    icmp = rule.proto in ICMP
    if rule.proto:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._+-]*", rule.proto):
            errors.append(f"unknown protocol '{rule.proto}' (/etc/protocols names are lower case)")
        if rule.proto == "icmp":
            versions.add(4)
        elif icmp:
            versions.add(6)
    for key in ("dport", "sport"):
        spec = getattr(rule, key)
        if not spec:
            continue
        problem = _port_problem(spec, icmp and key == "dport")
        if problem:
            errors.append(f"-{key} {problem}")
        if not rule.proto:
            errors.append(f"-{key} needs -p")
        elif rule.proto not in WITH_PORTS and not (icmp and key == "dport"):
            errors.append(f"protocol '{rule.proto}' does not support ports")
    if rule.icmp_type:
        if not icmp:
            errors.append("-icmp-type needs an ICMP -p")
        if rule.dport:
            errors.append("-icmp-type cannot be given with -dport")
    for key in ("source", "dest"):
        spec = getattr(rule, key)
        if spec:
            errors += _address_problems(spec, versions, cluster, own)
    if len(versions) > 1:
        errors.append("detected mixed ipv4/ipv6 addresses in rule")
    if rule.macro and rule.macro.lower() in MACROS and not errors:
        errors += _macro_conflicts(rule)
    return errors, (min(versions) if len(versions) == 1 else 0)


def _port_problem(spec: str, icmp: bool) -> str:
    """Why `parse_port_name_number_or_range` refuses a port list ('' when it reads it)."""
    parts = spec.split(",")
    count, names = 0, 0
    for part in parts:
        pair = re.fullmatch(r"(\d+):(\d+)", part)
        if pair:
            low, high = int(pair.group(1)), int(pair.group(2))
            if max(low, high) > 65535:
                return f"invalid port in '{part}'"
            if low > high:
                return f"backwards range '{part}' not allowed"
            count += 2
        elif part.isdigit():
            if int(part) > 65535:
                return f"invalid port '{part}'"
            count += 1
        elif not part:
            return "extraneous commas in list"
        else:
            names += 1  # an /etc/services name (or ICMP type): read on the host only
    if icmp and names and count:
        return "ICMP ports not allowed in port range"
    if count > 15:
        return "too many entries in port list (> 15 numbers)"
    return ""


def _ports(spec: str) -> tuple[list[tuple[int, int]], list[str]]:
    """A checked port list as (low, high) ranges and the names it holds."""
    ranges, names = [], []
    for part in spec.split(","):
        low, colon, high = part.partition(":")
        if low.isdigit() and (not colon or high.isdigit()):
            ranges.append((int(low), int(high or low)))
        else:
            names.append(part)
    return ranges, names


def _address_problems(
    spec: str, versions: set[int], cluster: FwFile, own: FwFile | None
) -> list[str]:
    """`parse_address_list` and `$check_ipset_or_alias_property` for a -source/-dest."""
    if spec.startswith("+"):
        if len(spec) > IPSET_NAME_MAX + 1:
            return ["ipset name too long"]
        found = re.fullmatch(rf"\+(guest/|dc/|sdn/)?({NAME})", spec)
        if not found:
            return [f"invalid ipset name '{spec}'"]
        return []  # existence: a missing set may be SDN's, judged in _addresses
    alias = re.fullmatch(rf"(dc/|guest/)?({NAME})", spec)
    if alias:
        if len(spec) > ALIAS_NAME_MAX:
            return ["alias name too long"]
        name = alias.group(2).lower()
        if name not in cluster.aliases and (own is None or name not in own.aliases):
            return [f"no such alias '{spec}'"]
        found_alias = _scoped_alias(name, alias.group(1) or "", cluster, own)
        if found_alias is not None:
            versions.add(found_alias.version)
        return []
    parts = spec.split(",")
    seen: set[int] = set()
    for part in parts:
        try:
            sources = _net_ip(part)
        except _Skip as why:
            return [f"invalid IP address '{part}': {why}"]
        except _Doubt:
            continue  # read by Net::IP in a way the suite does not follow: see _addresses
        seen.add(sources.family)
        if "-" in part and len(parts) > 1:
            return ["you can't use a range in a list"]
    if len(seen) > 1:
        return [f"detected mixed ipv4/ipv6 addresses in address list '{spec}'"]
    versions |= seen
    return []


def _net_ip(text: str) -> Sources:
    """An address, `address/prefix` or `low-high` range as Perl's Net::IP takes it. _Skip for
    what it refuses (a prefix with host bits set, a reversed range, a bad octet), _Doubt for
    a form it reads that the suite does not follow (`10.1`, `010.0.0.1`)."""
    if "-" in text:
        low, _, high = text.partition("-")
        try:
            first, last = ipaddress.ip_address(low), ipaddress.ip_address(high)
        except ValueError:
            return _unreadable(text)
        if first.version != last.version:
            raise _Skip("mixed families in a range")
        if int(first) > int(last):
            raise _Skip("begin address is greater than end address")
        return Sources.of(first.version, [(int(first), int(last))])
    address, slash, prefix = text.partition("/")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return _unreadable(text)
    if "%" in address:
        raise _Skip("a scoped address")
    if not slash:
        return Sources.address(ip)
    if not prefix.isdigit():
        raise _Doubt(f"prefix '{prefix}'")
    if int(prefix) > BITS[ip.version]:
        raise _Skip(f"prefix length {prefix} is longer than the address")
    network = ipaddress.ip_network(f"{ip}/{int(prefix)}", strict=False)
    if network.network_address != ip:
        raise _Skip("invalid prefix (host bits set)")
    return Sources.parse(str(network))


def _unreadable(text: str) -> Sources:
    quads = text.split("/")[0].split("-")
    for quad in quads:
        if re.fullmatch(r"\d+(\.\d+){3}", quad) and any(int(o) > 255 for o in quad.split(".")):
            raise _Skip(f"invalid quad in '{quad}'")
        if ":" in quad or "%" in quad:
            raise _Skip(f"invalid IPv6 address '{quad}'")
    raise _Doubt(f"'{text}' is read by Perl's Net::IP in a way the suite does not follow")


def _macro_conflicts(rule: Rule) -> list[str]:
    """`$apply_macro` with verification: a rule's -p/-dport/-sport must equal what every
    rule of the macro sets."""
    _name, entries = MACROS[rule.macro.lower()]
    errors = []
    for entry in entries:
        for key in ("proto", "dport", "sport"):
            mine, theirs = getattr(rule, key), getattr(entry, key)
            if mine and theirs and mine != theirs:
                errors.append(f"parameter '{key}' already defined in macro (value = '{theirs}')")
    return sorted(set(errors))


# -- judging -----------------------------------------------------------------------------------


@dataclass
class _Chain:
    """The sources of one family still undecided, and the regions decided so far."""

    family: int
    pending: Sources
    regions: list[Region] = field(default_factory=list)

    def decide(self, sure: Sources, maybe: Sources, outcome: str, why: str, doubt: str) -> None:
        """`sure` sources take `outcome`; those that `maybe` match are unknown from here on."""
        taken = sure & self.pending
        if taken:
            self.regions.append(Region(taken, outcome, why))
        unsure = (maybe - sure) & self.pending
        if unsure:
            self.regions.append(Region(unsure, UNKNOWN, f"not understood: {why}: {doubt}"))
        self.pending = self.pending - sure - maybe

    def rest(self, outcome: str, why: str) -> Judgement:
        if self.pending:
            self.regions.append(Region(self.pending, outcome, why))
        return Judgement(self.family, tuple(self.regions))


@dataclass(frozen=True)
class _Match:
    """The sources a rule matches for sure, and those it may match (`doubt` says why)."""

    sure: Sources
    maybe: Sources
    doubt: str = ""


def _boolean(value: str) -> bool:
    """A Proxmox boolean (`parse_boolean`): 1, on, yes, true (any case)."""
    return value.lower() in ("1", "on", "yes", "true")


@dataclass(frozen=True)
class GuestFirewall:
    """The cluster's file and one guest's file, and whether the guest's NIC has `firewall=1`."""

    cluster: FwFile
    guest: FwFile
    guest_file: str
    nic_firewall: bool

    @classmethod
    def of(
        cls, cluster: str, guest: str, guest_file: str, nic_firewall: bool, kind: str = "ct"
    ) -> GuestFirewall:
        """From the files' texts: the cluster's first, the guest's verified against it."""
        cluster_fw = parse(cluster, "cluster")
        return cls(cluster_fw, parse(guest, kind, cluster_fw, guest_file), guest_file, nic_firewall)

    @staticmethod
    def nic_flag(value: str) -> bool:
        """`firewall=` of a NIC in `pct config` (a Proxmox boolean)."""
        return _boolean(value)

    def active(self) -> bool:
        """pve-firewall filters this NIC: cluster on, guest on, `firewall=1` on the NIC
        (`compile`, `compile_iptables_filter`)."""
        return self.cluster.enabled() and self.guest.enabled() and self.nic_firewall

    def why_inactive(self) -> str:
        for fw in (self.cluster, self.guest):
            if not fw.enabled():
                skipped = fw.option_skipped("enable")
                if skipped:
                    return skipped
                if fw is self.guest and not fw.present:
                    return f"{self.guest_file} is missing or empty"
                return f"{fw.name} has no `enable: 1`"
        return "net0 has no firewall=1"

    def skipped(self) -> list[str]:
        """What pve-firewall leaves out of these files for this guest, with the reason: lines it
        cannot read, rules it refuses, and rules whose names do not resolve in their scope."""
        notes = [*self.cluster.skipped, *self.guest.skipped, *self.guest.skipped_rules]
        for rule, own in self._rules_for_compile():
            for spec in (rule.source, rule.dest):
                try:
                    if spec:
                        self._addresses(spec, 4, own)
                except _Skip as why:
                    notes.append(f"{rule.shown()} skipped by pve-firewall: {why}")
                except _Doubt:
                    pass
        for rule in self.guest.rules:
            missing = rule.action not in self.cluster.groups
            if rule.kind == "group" and rule.enabled and not rule.errors and missing:
                notes.append(
                    f"{rule.shown()}: no security group '{rule.action}' in cluster.fw"
                    " (group names are lower case there): it does nothing"
                )
        return list(dict.fromkeys(notes))

    def _rules_for_compile(self) -> Iterator[tuple[Rule, FwFile | None]]:
        for rule in self.guest.rules:
            if not rule.enabled or rule.errors:
                continue
            if rule.kind == "group":
                for member in self.cluster.groups.get(rule.action, []):
                    if member.enabled and not member.errors:
                        yield member, None
            else:
                yield rule, self.guest

    def judge(self, family: int, daddr: str, dport: int, nic: str = "net0") -> Judgement:
        """What pve-firewall does to new TCP connections from every source of `family` to the
        guest's `daddr`:`dport` on `nic`, each region with the rule or policy deciding it."""
        if ipaddress.ip_address(daddr).version != family:
            raise ValueError(f"{daddr} is not an IPv{family} address")
        if not self.cluster.enabled() or not self.nic_firewall:
            return Judgement.uniform(
                family, ACCEPT, f"not filtered by the Proxmox firewall: {self.why_inactive()}"
            )
        chain = _Chain(family, Sources.everything(family))
        if "blacklist" in self.cluster.ipsets:
            listed = self._ipset(self.cluster.ipsets["blacklist"], family, None, "blacklist")
            why = "cluster.fw [IPSET blacklist] lists it"
            chain.decide(listed.sure, listed.maybe, DROP, why, listed.doubt)
        if not self.guest.enabled():
            return chain.rest(
                ACCEPT, f"not filtered by the Proxmox firewall: {self.why_inactive()}"
            )
        queued = (
            " (handed to the IPS queue: ips: 1)" if self.guest.options.get("ips") == "1" else ""
        )
        for rule in self.guest.rules:
            if not self._compiled(rule, family, nic):
                continue
            if rule.kind == "group":
                called = f" (group {rule.action}, called at {self.guest_file} line {rule.line})"
                for member in self.cluster.groups.get(rule.action, []):
                    if member.kind == "in" and self._compiled(member, family, nic):
                        self._step(chain, member, family, daddr, dport, None, called, queued)
                continue
            if rule.kind == "in":
                self._step(chain, rule, family, daddr, dport, self.guest, "", queued)
        policy = self.guest.options.get("policy_in", "DROP")
        outcome = ACCEPT if policy == "ACCEPT" else DROP
        why = f"{self.guest_file}: policy_in {policy} (no rule matched)"
        return chain.rest(outcome, why + (queued if outcome == ACCEPT else ""))

    @staticmethod
    def _compiled(rule: Rule, family: int, nic: str) -> bool:
        """Whether the rule joins this family's chain for this NIC (`ruleset_generate_vm_rules`,
        `generate_group_rules`)."""
        if not rule.enabled or rule.errors:
            return False
        if rule.iface and rule.iface != nic:
            return False
        return not rule.ipversion or rule.ipversion == family

    def _step(
        self,
        chain: _Chain,
        rule: Rule,
        family: int,
        daddr: str,
        dport: int,
        own: FwFile | None,
        called: str,
        queued: str,
    ) -> None:
        why = rule.shown() + called + (queued if rule.action == "ACCEPT" else "")
        try:
            found = self._match(rule, family, daddr, dport, own)
        except _Skip:
            return  # left out by pve-firewall (listed by skipped())
        outcome = ACCEPT if rule.action == "ACCEPT" else DROP
        chain.decide(found.sure, found.maybe, outcome, why, found.doubt)

    def _match(self, rule: Rule, family: int, daddr: str, dport: int, own: FwFile | None) -> _Match:
        """The sources for which the rule matches a new TCP connection to daddr:dport."""
        nothing, everything = Sources.nothing(family), Sources.everything(family)
        if rule.unseen:
            doubt = (
                f"IP set {rule.unseen} is not in cluster.fw nor above this line: pve-firewall"
                " keeps the rule only for an SDN IP set of that name"
            )
            return _Match(nothing, everything, doubt)
        try:
            if rule.macro:
                hit = self._macro_hits(rule, dport)
            elif rule.proto and rule.proto not in TCP:
                hit = False
            else:
                hit = _port_hit(rule.dport, dport) if rule.dport else True
            if hit and rule.sport and rule.action != "ACCEPT":
                hit = False  # a client steps around it by choosing another source port
            if hit and rule.dest:
                dest = self._addresses(rule.dest, family, own)
                if daddr in dest.maybe and daddr not in dest.sure:
                    raise _Doubt(dest.doubt)
                hit = daddr in dest.sure
        except _Doubt as why:
            sources = (
                self._addresses(rule.source, family, own)
                if rule.source
                else _Match(everything, nothing)
            )
            return _Match(nothing, sources.sure | sources.maybe, str(why))
        if not hit:
            return _Match(nothing, nothing)
        if not rule.source:
            return _Match(everything, nothing)
        return self._addresses(rule.source, family, own)

    @staticmethod
    def _macro_hits(rule: Rule, dport: int) -> bool:
        """Whether a macro rule has a TCP rule for dport (`$apply_macro` at compile time: a
        port copied onto a macro rule without ports drops the whole rule)."""
        known = MACROS.get(rule.macro.lower())
        if known is None:
            raise _Doubt(f"macro {rule.macro} is not one pve-firewall 6.0 ships")
        hit = False
        for entry in known[1]:
            ports = entry.dport or rule.dport
            if ports and entry.proto not in WITH_PORTS and entry.proto not in ICMP:
                raise _Skip(f"protocol {entry.proto} does not have ports")
            if entry.proto in TCP:
                hit = hit or (_port_hit(ports, dport) if ports else True)
        return hit

    def _addresses(self, spec: str, family: int, own: FwFile | None) -> _Match:
        """A -source/-dest as `ipt_gen_src_or_dst_match` compiles it for one family."""
        nothing = Sources.nothing(family)
        if spec.startswith("+"):
            found = re.fullmatch(rf"\+(guest/|dc/|sdn/)?({NAME})", spec)
            assert found is not None  # verified
            scope, name = found.group(1) or "", found.group(2)
            if scope in ("", "guest/") and own is not None and name in own.ipsets:
                return self._ipset(own.ipsets[name], family, own, name)
            if scope in ("", "dc/") and name in self.cluster.ipsets:
                return self._ipset(self.cluster.ipsets[name], family, None, name)
            if scope in ("", "sdn/"):
                doubt = f"IP set {name} is not in cluster.fw or {self.guest_file}: an SDN IP set?"
                return _Match(nothing, Sources.everything(family), doubt)
            raise _Skip(f"no such ipset '{name}' in scope {scope}")
        alias = re.fullmatch(rf"(dc/|guest/)?({NAME})", spec)
        if alias:
            found_alias = _scoped_alias(alias.group(2), alias.group(1) or "", self.cluster, own)
            if found_alias is None:
                raise _Skip(f"no such alias '{spec}' in its scope")
            return _network(found_alias.cidr, family)
        out = nothing
        for part in spec.split(","):
            try:
                sources = _net_ip(part)
            except _Doubt as why:
                return _Match(nothing, Sources.everything(family), str(why))
            except _Skip as why:
                raise _Skip(f"invalid IP address '{part}': {why}") from None
            if sources.family == family:
                out = out | sources
        return _Match(out, nothing)

    def _ipset(self, entries: list[Entry], family: int, own: FwFile | None, name: str) -> _Match:
        """What an IP set holds for one family (`generate_ipset_chains`, and the kernel's
        hash:net with nomatch: the longest matching prefix decides, `!` excluding)."""
        nothing, everything = Sources.nothing(family), Sources.everything(family)
        listed = list(entries)
        local_unknown = False
        if own is None and name == "management":  # compile adds the local network to it
            local = self.cluster.aliases.get("local_network")
            if local is None:
                local_unknown = True
            else:
                listed.append(Entry(0, local.cidr))
        try:
            sure = self._ipset_sure(listed, family, own)
        except _Doubt as why:
            return _Match(nothing, everything, f"IP set {name}: {why}")
        if local_unknown:
            doubt = "cluster.fw's IP set management also holds the host's local network"
            return _Match(sure, everything, doubt)
        return _Match(sure, nothing)

    def _ipset_sure(self, entries: list[Entry], family: int, own: FwFile | None) -> Sources:
        """The addresses a set holds. pve-firewall keys its entries by their text (a later
        entry of the same text replaces an earlier one); two texts that are one network to the
        kernel make `ipset restore` fail, so the set is not known then."""
        chosen: dict[str, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, bool]] = {}
        for entry in entries:
            if entry.error:
                continue
            cidr = entry.cidr
            alias = re.fullmatch(rf"(dc/|guest/)?({NAME})", cidr)
            if alias:
                scope = alias.group(1) or ""
                found = (
                    _scoped_alias(alias.group(2), scope, None, self.cluster)
                    if own is None
                    else _scoped_alias(alias.group(2), scope, self.cluster, own)
                )
                if found is None:
                    continue  # pve-firewall warns and leaves the entry out
                cidr = found.cidr
            try:
                network = ipaddress.ip_network(cidr, strict=False)
            except ValueError as error:
                raise _Doubt(f"ipset refuses '{cidr}'") from error
            if network.prefixlen == 0:
                raise _Doubt(f"ipset refuses a zero prefix ('{cidr}')")
            chosen[_ipset_key(cidr, network)] = (network, entry.nomatch)
        elements = [network for network, _nomatch in chosen.values()]
        if len(set(elements)) < len(elements):
            raise _Doubt("two of its entries are one element to ipset")
        sure = Sources.nothing(family)
        for network, nomatch in sorted(chosen.values(), key=lambda item: item[0].prefixlen):
            if network.version == family:
                block = Sources.parse(str(network))
                sure = sure - block if nomatch else sure | block
        return sure

    def fate(self, saddr: str, daddr: str, dport: int, nic: str = "net0") -> Fate:
        """What pve-firewall does to a new TCP connection from saddr to the guest's daddr:dport."""
        family = ipaddress.ip_address(saddr).version
        outcome, why = self.judge(family, daddr, dport, nic).fate(saddr)
        return Fate(outcome, why)


def _ipset_key(cidr: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """An entry's text as `generate_ipset_chains` keys it: no /32 (/128), IPv6 compressed."""
    address, slash, prefix = cidr.partition("/")
    if network.version == 6:
        address = str(ipaddress.IPv6Address(address))
    text = f"{address}{slash}{prefix}"
    return re.sub(r"/32$" if network.version == 4 else r"/128$", "", text)


def _port_hit(spec: str, dport: int) -> bool:
    ranges, names = _ports(spec)
    if any(low <= dport <= high for low, high in ranges):
        return True
    if names:
        raise _Doubt(f"port names {', '.join(names)} are read from the host's /etc/services")
    return False


def _network(cidr: str, family: int) -> _Match:
    """An alias's address or network (iptables masks host bits)."""
    nothing = Sources.nothing(family)
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return _Match(nothing, Sources.everything(family), f"'{cidr}' is refused by iptables")
    if network.version != family:
        return _Match(nothing, nothing)
    return _Match(Sources.parse(str(network)), nothing)

"""Facts about how pve-firewall treats a new TCP connection into a guest's net0, as a table of
our own firewall files and probes (see test_pve_corpus.py).

Every text here is ours, written to show one fact with the fewest lines. `upstream` names the
pve-firewall test folder (`test/test-*`) and the lines the fact was learnt from: a pointer to
where its expected verdict is pinned, not a copy of it. A row marked "sharpened" asks what the
upstream case only implies (pve-firewall's verdict is certain by its design) so that a wrong
reader cannot pass it by chance.
"""

from __future__ import annotations

from dataclasses import dataclass

# Addresses and ports of our own: the guest, the Proxmox host, a peer on the guest's LAN and a
# client further away.
GUEST = "10.20.0.50"
HOST = "10.20.0.1"
PEER = "10.20.0.77"
REMOTE = "198.51.100.23"
OPEN, CLOSED = 11434, 8080

# The datacenter firewall: on, and nothing else.
CLUSTER = "# datacenter firewall\n[OPTIONS]\nenable: 1\n"
# On, with outbound traffic of the host refused by default.
CLUSTER_OUT_DROP = "[OPTIONS]\nenable: 1\npolicy_out: DROP\n"
# On, with two security groups of our own.
CLUSTER_GROUPS = """\
[OPTIONS]
enable: 1

# clients of the model server
[GROUP ollama_clients]
IN ACCEPT -source 10.30.1.0/24 -p tcp -dport 11434

# administrators' workstations
[GROUP admins]
IN ACCEPT -source 10.30.2.0/24 -p tcp -dport 22
"""

NO_FILE = ""  # the guest has no <vmid>.fw
ON_NO_RULES = "[OPTIONS]\nenable: 1\n"
ONE_PORT = """\
[OPTIONS]
enable: 1
[RULES]
IN ACCEPT -p tcp -dport 11434
"""
ICMP_ONLY = """\
[OPTIONS]
enable: 1
[RULES]
# answer pings, nothing else
IN ACCEPT -p icmp -dport echo-request
"""
OUT_SAME_PORT = """\
[OPTIONS]
enable: 1
[RULES]
OUT REJECT -p tcp -dport 11434
IN ACCEPT -p tcp -dport 11434
"""
PORT_WITHOUT_PROTO = """\
[OPTIONS]
enable: 1
[RULES]
# no protocol given: pve-firewall refuses the port
IN ACCEPT -dport 8080
IN ACCEPT -p tcp -dport 11434
"""
BAD_OPTION = """\
[options]
tuning: max
enable: 1
[rules]
IN ACCEPT -p tcp -dport 11434
"""
UNDEFINED_NAMES = """\
[OPTIONS]
enable: 1
[RULES]
IN ACCEPT -source office_lan -dport 8080
IN ACCEPT -source +office_hosts -dport 8080
IN ACCEPT -p tcp -dport 11434
"""
UNDEFINED_ALIAS = """\
[OPTIONS]
enable: 1
[RULES]
IN ACCEPT -source office_lan -p tcp -dport 8080
"""
GROUP_CALLS = """\
[OPTIONS]
enable: 1
[RULES]
IN ACCEPT -source 10.20.0.1 -p tcp -dport 22
IN ACCEPT -source 127.0.0.1 -p tcp -dport 11434
IN ACCEPT -i net0 -source 10.30.3.0/24 -p tcp -dport 22
GROUP ollama_clients -i net0
"""
# An IP set name longer than the kernel's 31 characters (pve-firewall hashes such names).
LONG_SET = "model-frontends-served-by-this-very-guest"
LOCAL_SET = f"""\
[options]
enable: 1
[ipset {LONG_SET}]
10.20.0.50
10.20.0.51
[rules]
IN ACCEPT -p tcp -dport 11434 -dest +{LONG_SET}
"""


@dataclass(frozen=True)
class Row:
    """One probe: a new TCP connection from `source` to `dest`:`port` on the guest's net0, with
    the guest's and the cluster's files, and the action pve-firewall takes."""

    key: str  # a short name of the fact, for test ids
    fact: str
    upstream: str
    cluster: str
    guest: str
    kind: str  # ct or vm
    source: str
    dest: str
    port: int
    pve: str  # ACCEPT or DROP


def _rows(
    key: str,
    fact: str,
    upstream: str,
    cluster: str,
    guest: str,
    probes: list[tuple[str, str, str, int, str]],
) -> list[Row]:
    """The rows of one fact: each probe is (kind, source, dest, port, pve action)."""
    return [Row(key, fact, upstream, cluster, guest, *probe) for probe in probes]


POLICY_OUT = (
    "the cluster's policy_out has no say over connections into a guest from elsewhere than the"
    " host: an unfiltered guest still admits, an enabled one without rules still drops"
)

ROWS: list[Row] = [
    *_rows(
        "unfiltered",
        "a guest with no firewall file of its own is not filtered: every source reaches it",
        "test-unconfigured tests lines 1, 3; test-default-rules1 tests lines 40, 43",
        CLUSTER,
        NO_FILE,
        [
            ("ct", HOST, GUEST, OPEN, "ACCEPT"),
            ("ct", PEER, GUEST, CLOSED, "ACCEPT"),
            ("vm", HOST, GUEST, OPEN, "ACCEPT"),
            ("vm", REMOTE, GUEST, OPEN, "ACCEPT"),
        ],
    ),
    *_rows(
        "no-rules",
        "a guest file with `enable: 1` and no rules refuses everything, the host included:"
        " policy_in defaults to DROP",
        "test-unconfigured 101.fw, 201.fw, tests lines 2, 4; test-default-rules1 tests lines"
        " 41, 44",
        CLUSTER,
        ON_NO_RULES,
        [
            ("ct", HOST, GUEST, OPEN, "DROP"),
            ("ct", PEER, GUEST, OPEN, "DROP"),
            ("vm", HOST, GUEST, OPEN, "DROP"),
            ("vm", REMOTE, GUEST, CLOSED, "DROP"),
        ],
    ),
    *_rows(
        "policy-out",
        POLICY_OUT,
        "test-default-rules1 cluster.fw line 4, tests lines 40, 41, 43, 44",
        CLUSTER_OUT_DROP,
        NO_FILE,
        [("ct", PEER, GUEST, OPEN, "ACCEPT"), ("vm", REMOTE, GUEST, OPEN, "ACCEPT")],
    ),
    *_rows(
        "policy-out",
        POLICY_OUT,
        "test-default-rules1 cluster.fw line 4, 101.fw, 201.fw, tests lines 41, 44",
        CLUSTER_OUT_DROP,
        ON_NO_RULES,
        [("ct", PEER, GUEST, OPEN, "DROP"), ("vm", REMOTE, GUEST, OPEN, "DROP")],
    ),
    *_rows(
        "one-port",
        "`IN ACCEPT -p tcp -dport N` without -source admits port N from every source (the host,"
        " a peer, a remote client); any other port falls to the default policy_in DROP",
        "test-basic1 200.fw line 7 (tests lines 6, 7, 13, 18, 19, 28, 29, 51, 52) and 100.fw"
        " line 7 (tests lines 9, 11, 15, 16, 21, 22, 30, 31, 49, 50); test-errors3 100.fw line 7"
        " (tests lines 2, 3)",
        CLUSTER,
        ONE_PORT,
        [
            ("ct", HOST, GUEST, OPEN, "ACCEPT"),
            ("ct", PEER, GUEST, OPEN, "ACCEPT"),
            ("ct", REMOTE, GUEST, OPEN, "ACCEPT"),
            ("ct", HOST, GUEST, CLOSED, "DROP"),
            ("ct", PEER, GUEST, 22, "DROP"),
            ("vm", HOST, GUEST, OPEN, "ACCEPT"),
            ("vm", REMOTE, GUEST, OPEN, "ACCEPT"),
            ("vm", PEER, GUEST, CLOSED, "DROP"),
        ],
    ),
    *_rows(
        "icmp",
        "an ICMP rule (its type given as -dport) admits no TCP connection",
        "test-basic1 100.fw lines 8, 9 (tests lines 9, 15, 30, 50: TCP still dropped)",
        CLUSTER,
        ICMP_ONLY,
        [("vm", PEER, GUEST, OPEN, "DROP"), ("ct", REMOTE, GUEST, CLOSED, "DROP")],
    ),
    *_rows(
        "out-rule",
        "an OUT rule has no say over inbound connections (sharpened: an OUT REJECT on the very"
        " port an IN rule below it accepts)",
        "test-basic1 100.fw line 10, 200.fw line 8",
        CLUSTER,
        OUT_SAME_PORT,
        [("ct", PEER, GUEST, OPEN, "ACCEPT"), ("vm", REMOTE, GUEST, OPEN, "ACCEPT")],
    ),
    *_rows(
        "no-proto",
        "`-dport` without `-p` makes the rule invalid: pve-firewall skips it (its port stays"
        " closed) and the valid rule after it still admits",
        "test-errors1 100.fw lines 8, 10 (tests lines 1, 2, 3)",
        CLUSTER,
        PORT_WITHOUT_PROTO,
        [
            ("vm", REMOTE, GUEST, CLOSED, "DROP"),
            ("vm", REMOTE, GUEST, CLOSED + 1, "DROP"),
            ("vm", REMOTE, GUEST, OPEN, "ACCEPT"),
        ],
    ),
    *_rows(
        "bad-option",
        "an option line pve-firewall cannot parse is skipped, the options and rules around it"
        " still apply; section headers are read in any case (`[options]`, `[rules]`)",
        "test-errors4 100.fw lines 1, 3, 5, 7, 9 (tests lines 1, 2); test-basic1 cluster.fw line 1",
        "[options]\nenable: 1\n",
        BAD_OPTION,
        [("vm", REMOTE, GUEST, OPEN, "ACCEPT"), ("vm", REMOTE, GUEST, CLOSED, "DROP")],
    ),
    *_rows(
        "undefined-names",
        "rules naming an alias or an IP set defined nowhere (and, as upstream writes them,"
        " giving -dport without -p) are skipped; the valid rule after them still admits",
        "test-errors2 100.fw lines 7, 8, 9 (tests lines 1, 2, 3)",
        CLUSTER,
        UNDEFINED_NAMES,
        [
            ("vm", REMOTE, GUEST, CLOSED, "DROP"),
            ("vm", REMOTE, GUEST, OPEN, "ACCEPT"),
            ("vm", REMOTE, GUEST, CLOSED + 1, "DROP"),
        ],
    ),
    *_rows(
        "undefined-alias",
        "a rule naming an alias defined nowhere is skipped even with -p given (sharpened:"
        " pve-firewall's verify_rule refuses the alias by itself)",
        "test-errors2 100.fw line 7",
        CLUSTER,
        UNDEFINED_ALIAS,
        [("ct", PEER, GUEST, CLOSED, "DROP")],
    ),
    *_rows(
        "group",
        "`GROUP name -i net0` in a guest's rules applies that cluster security group's IN rules"
        " on net0: a source in the group's range is admitted, one in no rule's range is dropped",
        "test-group1 cluster.fw lines 12-18, 100.fw line 12, 200.fw line 11 (tests lines 1, 2,"
        " 13, 14, 16, 17)",
        CLUSTER_GROUPS,
        GROUP_CALLS,
        [
            ("vm", "10.30.1.9", GUEST, OPEN, "ACCEPT"),
            ("vm", HOST, GUEST, OPEN, "DROP"),
            ("vm", "10.30.9.9", GUEST, OPEN, "DROP"),
            ("ct", "10.30.1.200", GUEST, OPEN, "ACCEPT"),
            ("ct", "10.30.2.9", GUEST, OPEN, "DROP"),
        ],
    ),
    *_rows(
        "one-source",
        "a guest rule's -source of one address admits that address (the host's, even the"
        " loopback's) on its port and nobody else; a rule with `-i net0` applies on net0"
        " (sharpened: a source in its range)",
        "test-group1 100.fw lines 7, 9, 11 and 200.fw lines 7, 9 (tests lines 1, 4, 7, 14)",
        CLUSTER_GROUPS,
        GROUP_CALLS,
        [
            ("vm", HOST, GUEST, 22, "ACCEPT"),
            ("ct", HOST, GUEST, 22, "ACCEPT"),
            ("vm", "127.0.0.1", GUEST, OPEN, "ACCEPT"),
            ("ct", "127.0.0.1", GUEST, OPEN, "ACCEPT"),
            ("vm", "10.30.3.40", GUEST, 22, "ACCEPT"),
            ("vm", PEER, GUEST, 22, "DROP"),
        ],
    ),
    *_rows(
        "local-set",
        "an IP set of the guest's own file, named longer than the kernel allows, matches as"
        " -dest: the set's address is admitted on the rule's port, not on another (sharpened:"
        " nor is an address outside the set)",
        "test-ipset2 100.fw lines 5-7, 12 (tests lines 1, 3)",
        CLUSTER,
        LOCAL_SET,
        [
            ("vm", REMOTE, GUEST, OPEN, "ACCEPT"),
            ("vm", REMOTE, "10.20.0.51", OPEN, "ACCEPT"),
            ("vm", REMOTE, GUEST, 22, "DROP"),
            ("vm", REMOTE, "10.20.0.52", OPEN, "DROP"),
        ],
    ),
]

# The pve-firewall test folders whose guest cases these rows re-express.
UPSTREAM_FOLDERS = (
    "test-basic1",
    "test-default-rules1",
    "test-errors1",
    "test-errors2",
    "test-errors3",
    "test-errors4",
    "test-group1",
    "test-ipset2",
    "test-unconfigured",
)

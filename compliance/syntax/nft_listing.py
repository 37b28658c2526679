"""What the ruleset is, read from one shell command: `nft -j list ruleset`, completed with
what that JSON leaves out (nft 1.0.6, Debian 12's), taken from nft's other listings.

- Ingress chains' devices: the JSON prints none; `nft list chains` does.
- A family match before `reject with tcp reset`: nft prints `meta nfproto ipv4 tcp dport 22
  reject with tcp reset` (and `meta protocol ip ...` in a netdev table) as `tcp dport 22 reject
  with tcp reset`, as if the match were a dependency of the reject, so the listing says "both
  families" where the kernel rejects one (seen in the kernel differential test). The kernel's
  own expressions (`nft --debug=netlink`, printed before the JSON) show it; each such reject
  is annotated with `"nfproto"`: "ipv4", "ipv6" or "any".

`COMMAND` prints all three; `read_listing` reads its output.
"""

from __future__ import annotations

import re
from typing import Any

from compliance.syntax.nft import read_ruleset
from compliance.syntax.nft_grammar import ChainKey

COMMAND = (
    "nft --debug=netlink -j list ruleset 2>/dev/null; echo @@chains; nft list chains 2>/dev/null"
)
RuleKey = tuple[str, str, str, int]  # family, table, chain, handle

_TABLE = re.compile(r"^table (\w+) (\S+) \{$")
_CHAIN = re.compile(r"^chain (\S+) \{$")
_DEVICE = re.compile(r"\bhook ingress (?:device (\S+)|devices = \{([^}]*)\})")
_RULE = re.compile(r"^(ip|ip6|inet|netdev|bridge|arp) (\S+) (\S+) (\d+)(?: \d+)?$")
_LOAD = re.compile(r"^\[ meta load (nfproto|protocol) => reg (\d+) \]$")
_WRITES = re.compile(r"=> reg (\d+)|\breg (\d+) = ")
_CMP_EQ = re.compile(r"^\[ cmp eq reg (\d+) (0x[0-9a-f]+) \]$")
# The value as the kernel's register holds it (nfproto a byte, ethertype big-endian).
FAMILY_VALUES = {
    ("nfproto", "0x00000002"): "ipv4",
    ("nfproto", "0x0000000a"): "ipv6",
    ("protocol", "0x00000008"): "ipv4",
    ("protocol", "0x0000dd86"): "ipv6",
}


def read_listing(output: str) -> list[dict[str, Any]]:
    """The ruleset's objects from `COMMAND`'s output, completed (empty without JSON)."""
    listed, _, chains = output.partition("@@chains")
    lines = listed.splitlines()
    at = next((i for i, line in enumerate(lines) if line.lstrip().startswith("{")), len(lines))
    items = read_ruleset("\n".join(lines[at:]))
    items = with_devices(items, ingress_devices(chains))
    return with_reject_families(items, reject_families("\n".join(lines[:at])))


def ingress_devices(text: str) -> dict[ChainKey, list[str]]:
    """The devices of ingress chains in `nft list chains` (or `list ruleset`) text."""
    found: dict[ChainKey, list[str]] = {}
    table: tuple[str, str] | None = None
    chain = ""
    for raw in text.splitlines():
        line = raw.strip()
        if match := _TABLE.match(line):
            table, chain = (match[1], match[2].strip('"')), ""
        elif match := _CHAIN.match(line):
            chain = match[1].strip('"')
        elif table and chain and (match := _DEVICE.search(line)):
            names = [match[1]] if match[1] else match[2].split(",")
            found[(table[0], table[1], chain)] = [name.strip().strip('"') for name in names]
    return found


def reject_families(text: str) -> dict[RuleKey, str]:
    """For each rule whose kernel expressions end in a TCP reset (`reject type 1`), the
    family an equality on `meta nfproto` or `meta protocol` restricts it to ("any": none)."""
    found: dict[RuleKey, str] = {}
    rule: RuleKey | None = None
    loaded: dict[str, str] = {}  # register -> what was loaded into it
    family = "any"
    for raw in text.splitlines():
        line = raw.strip()
        if match := _RULE.match(line):
            rule, loaded, family = (match[1], match[2], match[3], int(match[4])), {}, "any"
        elif rule is None:
            continue
        elif match := _LOAD.match(line):
            loaded[match[2]] = match[1]
        elif (match := _CMP_EQ.match(line)) and match[1] in loaded:
            family = FAMILY_VALUES.get((loaded.pop(match[1]), match[2]), family)
        elif line.startswith("[ reject type 1 "):
            found[rule] = family
        elif line.startswith("[ ") and (reg := _WRITES.search(line)):
            loaded.pop(reg[1] or reg[2], None)  # the register now holds something else
    return found


def with_devices(
    items: list[dict[str, Any]], devices: dict[ChainKey, list[str]]
) -> list[dict[str, Any]]:
    """Each ingress chain with its devices (`dev`) where the JSON left them out."""
    out = []
    for item in items:
        chain = item.get("chain")
        if isinstance(chain, dict) and "dev" not in chain:
            key = (chain.get("family"), chain.get("table"), chain.get("name"))
            if key in devices:
                item = {"chain": {**chain, "dev": devices[key]}}
        out.append(item)
    return out


def with_reject_families(
    items: list[dict[str, Any]], families: dict[RuleKey, str]
) -> list[dict[str, Any]]:
    """Each `reject with tcp reset` annotated with the family its rule is restricted to."""
    out = []
    for item in items:
        rule = item.get("rule")
        if isinstance(rule, dict) and isinstance(rule.get("expr"), list):
            key = (rule.get("family"), rule.get("table"), rule.get("chain"), rule.get("handle"))
            if key in families:
                exprs = [_annotated(expr, families[key]) for expr in rule["expr"]]
                item = {"rule": {**rule, "expr": exprs}}
        out.append(item)
    return out


def _annotated(expr: Any, family: str) -> Any:
    if isinstance(expr, dict) and isinstance(expr.get("reject"), dict):
        return {"reject": {**expr["reject"], "nfproto": family}}
    return expr

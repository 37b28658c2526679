"""Sets of source addresses, and what a filter does to each: the exposure judgement's algebra.

A filter (the CT's nftables ruleset, Proxmox's firewall) is judged for a whole address family
at once, as a firewall compiler reasons: the sources that reach a destination are a set of
address intervals, never one sampled client. `Sources` is such a set (sorted, disjoint,
inclusive integer intervals of one family); a `Judgement` partitions a family's whole address
space into `Region`s, each with one outcome (accept, drop, unknown) and the reason (the rule
or policy that decided it). Filters in a row compose with `then`: a drop by either is final,
what either cannot read is unknown, and only what both accept is accepted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

BITS = {4: 32, 6: 128}
ACCEPT, DROP, UNKNOWN = "accept", "drop", "unknown"
OUTCOMES = (ACCEPT, DROP, UNKNOWN)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def family_of(text: str) -> int:
    """4 or 6 for an address or network in text (ValueError if it is neither)."""
    return ipaddress.ip_network(text, strict=False).version


@dataclass(frozen=True)
class Sources:
    """A set of addresses of one family: sorted, disjoint, non-adjacent inclusive intervals."""

    family: int
    spans: tuple[tuple[int, int], ...] = ()

    # -- making sets ---------------------------------------------------------------------

    @classmethod
    def nothing(cls, family: int) -> Sources:
        return cls(family)

    @classmethod
    def everything(cls, family: int) -> Sources:
        return cls(family, ((0, (1 << BITS[family]) - 1),))

    @classmethod
    def of(cls, family: int, spans: Iterable[tuple[int, int]]) -> Sources:
        """Normalised: sorted, overlapping and adjacent spans merged."""
        merged: list[tuple[int, int]] = []
        for low, high in sorted(spans):
            if low > high:
                continue
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        return cls(family, tuple(merged))

    @classmethod
    def parse(cls, text: str) -> Sources:
        """`10.0.3.7`, `10.0.3.0/24`, `fe80::/10` or a range `10.0.3.2-10.0.3.9`."""
        if "-" in text:
            low_text, high_text = text.split("-", 1)
            low, high = ipaddress.ip_address(low_text), ipaddress.ip_address(high_text)
            if low.version != high.version:
                raise ValueError(f"range {text} mixes families")
            return cls.of(low.version, [(int(low), int(high))])
        network = ipaddress.ip_network(text, strict=False)
        first, last = int(network.network_address), int(network.broadcast_address)
        return cls(network.version, ((first, last),))

    @classmethod
    def address(cls, address: str | Address) -> Sources:
        ip = ipaddress.ip_address(address)
        return cls(ip.version, ((int(ip), int(ip)),))

    # -- algebra -------------------------------------------------------------------------

    def _same(self, other: Sources) -> None:
        if other.family != self.family:
            raise ValueError(f"IPv{self.family} set combined with an IPv{other.family} set")

    def __or__(self, other: Sources) -> Sources:
        self._same(other)
        return Sources.of(self.family, [*self.spans, *other.spans])

    def __and__(self, other: Sources) -> Sources:
        self._same(other)
        out: list[tuple[int, int]] = []
        i = j = 0
        while i < len(self.spans) and j < len(other.spans):
            low = max(self.spans[i][0], other.spans[j][0])
            high = min(self.spans[i][1], other.spans[j][1])
            if low <= high:
                out.append((low, high))
            if self.spans[i][1] < other.spans[j][1]:
                i += 1
            else:
                j += 1
        return Sources(self.family, tuple(out))

    def __invert__(self) -> Sources:
        top = (1 << BITS[self.family]) - 1
        out: list[tuple[int, int]] = []
        start = 0
        for low, high in self.spans:
            if low > start:
                out.append((start, low - 1))
            start = high + 1
        if start <= top:
            out.append((start, top))
        return Sources(self.family, tuple(out))

    def __sub__(self, other: Sources) -> Sources:
        return self & ~other

    def __bool__(self) -> bool:
        return bool(self.spans)

    def __contains__(self, address: object) -> bool:
        ip = ipaddress.ip_address(str(address))
        if ip.version != self.family:
            return False
        value = int(ip)
        return any(low <= value <= high for low, high in self.spans)

    # -- showing sets --------------------------------------------------------------------

    def first(self) -> str | None:
        """The lowest address in the set, as text (None when empty)."""
        return str(ipaddress.ip_address(self.spans[0][0])) if self.spans else None

    def networks(self) -> Iterator[str]:
        """The set as CIDR blocks, lowest first."""
        cls = ipaddress.IPv4Address if self.family == 4 else ipaddress.IPv6Address
        for low, high in self.spans:
            for net in ipaddress.summarize_address_range(cls(low), cls(high)):
                yield str(net)

    def __str__(self) -> str:
        if not self.spans:
            return "no address"
        if self == Sources.everything(self.family):
            return "any IPv4 address" if self.family == 4 else "any IPv6 address"
        shown = list(self.networks())
        return ", ".join(shown[:4]) + (
            f" and {len(shown) - 4} more blocks" if len(shown) > 4 else ""
        )


@dataclass(frozen=True)
class Region:
    """Sources with one outcome, and why (the rule or policy that decided it)."""

    sources: Sources
    outcome: str
    why: str


@dataclass(frozen=True)
class Judgement:
    """What a filter does to new connections from every source of a family to one address
    and port: a partition of the family's address space into regions."""

    family: int
    regions: tuple[Region, ...]

    @classmethod
    def uniform(cls, family: int, outcome: str, why: str) -> Judgement:
        return cls(family, (Region(Sources.everything(family), outcome, why),))

    def with_outcome(self, outcome: str) -> Sources:
        found = Sources.nothing(self.family)
        for region in self.regions:
            if region.outcome == outcome:
                found = found | region.sources
        return found

    def fate(self, address: str) -> tuple[str, str]:
        """(outcome, why) for one source address."""
        for region in self.regions:
            if address in region.sources:
                return region.outcome, region.why
        raise ValueError(f"{address} is not an IPv{self.family} address")

    def among(self, sources: Sources, outcome: str) -> list[Region]:
        """The regions of `outcome` that meet `sources`, cut to them."""
        return [
            Region(cut, region.outcome, region.why)
            for region in self.regions
            if region.outcome == outcome and (cut := region.sources & sources)
        ]

    def then(self, inner: Judgement) -> Judgement:
        """This filter, then `inner` on what it lets through: a drop by either is final,
        unknown by either (and dropped by neither) is unknown, accepted by both accepted."""
        if inner.family != self.family:
            raise ValueError("filters of different families composed")
        out: list[Region] = []
        for outer in self.regions:
            if outer.outcome == DROP:
                out.append(outer)
                continue
            for region in inner.regions:
                cut = outer.sources & region.sources
                if not cut:
                    continue
                if region.outcome == DROP:
                    out.append(Region(cut, DROP, region.why))
                elif UNKNOWN in (outer.outcome, region.outcome):
                    why = outer.why if outer.outcome == UNKNOWN else region.why
                    out.append(Region(cut, UNKNOWN, why))
                else:
                    out.append(Region(cut, ACCEPT, f"{outer.why}; then {region.why}"))
        return Judgement(self.family, tuple(out))

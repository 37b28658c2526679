"""A live try of the CT's port from another client, and what it proves.

A try proves something only when it happened: the vantage exists, the try reached the CT's
network (a route to the address and, on a link, the CT's ARP/ND answer) and the connection
itself was answered (accepted: open) or refused or silently dropped (closed). Everything else
(a namespace that does not exist, no route, a neighbour that never answered) proves nothing:
"not judged", with the reason. Both vantages (a namespace on the Proxmox host, the runner)
print the same lines, read here:

    @@vantage <interface>       or  @@no-vantage <why>
    @@route ok                  or  @@route <why not>
    @@connect <rc> <error text> (0: connected, 124: no answer in time, else the OS's reason)
    @@neigh <ip neigh line>     (empty: no entry)

The connection is a plain TCP connect (bash's /dev/tcp on the host, a socket on the runner),
so the OS's own reason comes back: refused, no route to host, network unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN, CLOSED, UNJUDGED = "open", "closed", "not judged"
RESOLVED = ("REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP")  # an answer came back
CONNECTED, TIMED_OUT = 0, 124
TRY_SECONDS = 2  # a connection on a local link answers in milliseconds or not at all


@dataclass(frozen=True)
class Try:
    """What one try from a vantage saw; `outcome()` says what it proves."""

    vantage: str = ""  # the vantage's interface on the CT's network ('' when unknown)
    missing: str = ""  # why the vantage cannot be used ('' when it can)
    route: str = ""  # "ok", or why there is no route
    rc: int | None = None  # 0 connected, 124 no answer in time, else failed (see `error`)
    error: str = ""
    neighbour: str = ""  # the neighbour entry's state after the try (REACHABLE, FAILED, ...)

    @classmethod
    def parse(cls, output: str) -> Try:
        fields: dict[str, str] = {}
        for line in output.splitlines():
            if line.startswith("@@"):
                key, _, value = line[2:].partition(" ")
                fields.setdefault(key, value.strip())
        rc_text, _, error = fields.get("connect", "").partition(" ")
        return cls(
            vantage=fields.get("vantage", ""),
            missing=fields.get("no-vantage", ""),
            route=fields.get("route", ""),
            rc=int(rc_text) if rc_text.isdigit() else None,
            error=error.rsplit(": ", 1)[-1] if error else "",
            neighbour=_state(fields.get("neigh", "")),
        )

    @property
    def reached_link(self) -> bool:
        """The CT's network answered (its ARP/ND reply is in the neighbour table)."""
        return self.neighbour in RESOLVED

    def outcome(self) -> tuple[str, str]:
        """(open | closed | not judged, the evidence in a few words)."""
        if self.missing:
            return UNJUDGED, f"the vantage cannot be used: {self.missing}"
        if self.rc == CONNECTED:
            return OPEN, "it accepted a TCP connection"
        if self.route != "ok":
            return UNJUDGED, f"no route to the CT from the vantage ({self.route or 'unknown'})"
        if self.rc is None:
            return UNJUDGED, "the try did not run"
        error = self.error.lower()
        if "refused" in error:
            return CLOSED, "the connection was refused (a reset: a reject rule, or no listener)"
        if "network is unreachable" in error:
            return UNJUDGED, "the network is unreachable from the vantage"
        if not self.reached_link:
            seen = self.neighbour or "no neighbour entry"
            return UNJUDGED, f"the CT never answered ARP/ND from the vantage ({seen})"
        if self.rc == TIMED_OUT:
            return CLOSED, "no answer while the CT answers on the link (dropped)"
        return CLOSED, f"refused on the CT's link ({self.error or 'no reason given'})"


def _state(line: str) -> str:
    """The state word of an `ip neigh` line (`10.0.3.5 dev eth0 lladdr .. REACHABLE`)."""
    words = line.split()
    return words[-1] if words and words[-1].isupper() else ""

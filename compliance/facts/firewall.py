"""Facts of the hardened profile's guard in the container: its files, nft, the loaded table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Self

from compliance.facts import Fact, Scope
from compliance.facts.files import file_states, files_command
from compliance.syntax.nft import Fate, Packet, fate
from compliance.syntax.nft_listing import COMMAND as LISTING
from compliance.syntax.nft_listing import read_listing

GUARD_RULES = "/etc/ollama-guard.nft"
GUARD_UNIT = "/etc/systemd/system/ollama-guard.service"
BOOT_UNITS = ("ollama-guard.service", "nftables.service")  # what loads a filter at boot


@dataclass(frozen=True)
class Guard(Fact):
    """The guard's files' contents, whether nft is there, whether its table is loaded."""

    files: dict[str, str] = field(default_factory=dict)
    nft: bool = False
    loaded: bool = False
    hardened = True
    label = "cat the guard's rules and unit; is nft there, is the table loaded"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return (
            files_command(GUARD_RULES, GUARD_UNIT)
            + "; command -v nft >/dev/null && echo @@nft"
            + "; nft list table inet ollama_guard >/dev/null 2>&1 && echo @@loaded; true"
        )

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        files = {path: state.text for path, state in file_states(output).items()}
        lines = output.splitlines()
        return cls(files, "@@nft" in lines, "@@loaded" in lines)


@dataclass(frozen=True)
class CtRuleset(Fact):
    """The packet filter loaded in the CT's kernel now (`nft -j list ruleset`, completed with
    what its JSON leaves out: `compliance/syntax/nft_listing.py`), and which of the units that
    load one at boot are enabled."""

    items: tuple[dict[str, Any], ...] = ()
    nft: bool = False
    enabled: tuple[str, ...] = ()  # of BOOT_UNITS
    hardened = True
    label = "nft --debug=netlink -j list ruleset; systemctl is-enabled ollama-guard nftables"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return (
            f"command -v nft >/dev/null && echo @@nft && {{ {LISTING}; }}; echo @@listed"
            f"; for u in {' '.join(BOOT_UNITS)}; do"
            ' [ "$(systemctl is-enabled "$u" 2>/dev/null)" = enabled ] && echo "@@enabled $u"'
            "; done; true"
        )

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        lines = output.splitlines()
        listed = output.partition("@@nft\n")[2].partition("@@listed")[0]
        enabled = tuple(line.split()[1] for line in lines if line.startswith("@@enabled "))
        return cls(tuple(read_listing(listed)), "@@nft" in lines, enabled)

    def fate(self, packet: Packet) -> Fate:
        """What the loaded filter does to a new connection like `packet`."""
        return fate(list(self.items), packet)

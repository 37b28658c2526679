"""Facts of the hardened profile's guard in the container: its files, nft, the loaded table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from compliance.facts import Fact, Scope
from compliance.facts.files import file_states, files_command

if TYPE_CHECKING:  # the nft modules load in a hardened run only (they cost a plain audit ~20 ms)
    from compliance.syntax.nft import Fate, Packet

GUARD_RULES = "/etc/ollama-guard.nft"
GUARD_UNIT = "/etc/systemd/system/ollama-guard.service"
BOOT_UNITS = ("ollama-guard.service", "nftables.service")  # what loads a filter at boot
OUR_MARKS = ("@@boot", "@@enabled", "@@nft", "@@listed")  # the fact's own lines, not nft's


@dataclass(frozen=True)
class Guard(Fact):
    """The guard's files' contents, whether nft is there, whether its table is loaded."""

    files: dict[str, str] = field(default_factory=dict)
    nft: bool = False
    loaded: bool = False
    hardened = True
    label = "cat the guard's rules and unit; is nft there, is the table loaded"
    observes = "firewall"

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


# What each boot unit loads: the guard its own file; nftables.service the file its ExecStart
# names (Debian: /etc/nftables.conf).
BOOT_FILES = r"""files=""
if [ "$(systemctl is-enabled nftables.service 2>/dev/null)" = enabled ]; then
  f=$(systemctl show -p ExecStart --value nftables.service \
    | sed -n 's/.*argv\[\]=[^;]* -f \([^ ;]*\).*/\1/p' | head -1)
  files="${f:-/etc/nftables.conf}"
fi
if [ "$(systemctl is-enabled ollama-guard.service 2>/dev/null)" = enabled ]; then
  files="$files %(guard)s"
fi
for f in $files; do echo "@@bootfile $f"; done
scratch='for f; do nft -f "$f" >/dev/null 2>&1 || echo "@@bootbroken $f"; done; %(listing)s'
load() {
  out=$(unshare -n sh -c "$scratch" sh "$@" 2>&1) || {
    echo "@@booterror cannot load the boot rules in a scratch network namespace: $out"
    return
  }
  printf '%%s\n' "$out"
}
set -- $files
if [ $# -gt 0 ]; then echo "@@boot $*"; load "$@"; echo; fi
if [ $# -eq 2 ] \
  && ! systemctl show -p After --value ollama-guard.service | grep -qw nftables.service; then
  echo "@@boot $2 $1"; load "$2" "$1"; echo
fi
"""


@dataclass(frozen=True)
class CtRuleset(Fact):
    """The packet filter loaded in the CT's kernel now (`nft -j list ruleset`, completed with
    what its JSON leaves out: `compliance/syntax/nft_listing.py`), which of the units that load
    one at boot are enabled, and what they would load: their files loaded in
    a scratch network namespace, in each order the units may run in (unless the guard is
    ordered after nftables.service, systemd orders neither before the other, and the
    `flush ruleset` that starts Debian's nftables.conf empties what the guard loaded)."""

    items: tuple[dict[str, Any], ...] = ()
    nft: bool = False
    enabled: tuple[str, ...] = ()  # of BOOT_UNITS
    boot_files: tuple[str, ...] = ()
    boot: tuple[tuple[str, tuple[dict[str, Any], ...]], ...] = ()  # (the order, its ruleset)
    boot_error: str = ""  # why the boot rules could not be loaded to be judged
    boot_broken: str = ""  # a boot file `nft -f` refuses: at boot nothing of it is loaded
    hardened = True
    label = "nft --debug=netlink -j list ruleset; the boot units and what their files load"
    observes = "firewall"
    bound = 20.0  # the boot files are loaded twice in scratch namespaces

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        from compliance.syntax.nft_listing import COMMAND as LISTING

        return (
            f"command -v nft >/dev/null && echo @@nft && {{ {LISTING}; }}; echo @@listed"
            f"; for u in {' '.join(BOOT_UNITS)}; do"
            ' [ "$(systemctl is-enabled "$u" 2>/dev/null)" = enabled ] && echo "@@enabled $u"'
            "; done\n" + BOOT_FILES % {"guard": GUARD_RULES, "listing": LISTING} + "true"
        )

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        """The loaded ruleset is the listing between `@@nft` and `@@listed`; each boot order's
        listing follows its own `@@boot` line."""
        from compliance.syntax.nft_listing import read_listing

        lines = output.splitlines()
        enabled = tuple(line.split()[1] for line in lines if line.startswith("@@enabled "))
        files = tuple(line.split(None, 1)[1] for line in lines if line.startswith("@@bootfile "))
        errors = [line.split(None, 1)[1] for line in lines if line.startswith("@@booterror ")]
        broken = [line.split(None, 1)[1] for line in lines if line.startswith("@@bootbroken ")]
        listed = output.partition("@@nft\n")[2].partition("@@listed")[0]
        sections: list[tuple[str, list[str]]] = []
        for line in lines:
            if line.startswith("@@boot "):
                sections.append((line.split(None, 1)[1], []))
            elif sections and not line.startswith(OUR_MARKS):
                sections[-1][1].append(line)
        boot = tuple((order, tuple(read_listing("\n".join(body)))) for order, body in sections)
        return cls(
            tuple(read_listing(listed)),
            "@@nft" in lines,
            enabled,
            files,
            boot,
            "" if broken or not errors else errors[0],
            broken[0] if broken else "",
        )

    def fate(self, packet: Packet) -> Fate:
        """What the loaded filter does to a new connection like `packet`."""
        from compliance.syntax.nft import fate

        return fate(list(self.items), packet)

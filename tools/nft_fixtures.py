"""Regenerate the nftables unit fixtures from the real kernel and nft.

For each `selftests/unit/nft/<name>.nft`, load it into a private network namespace made for
it (with an `eth0` for ingress chains) and store what the audit reads back:
`<name>.listing`, the output of `compliance.syntax.nft_listing.COMMAND` (the kernel's
expressions, the JSON of `nft -j list ruleset`, and `nft list chains`). The namespace is
deleted afterwards, also on failure. Needs root, `ip` and `nft`; touches no other namespace.

    python3 tools/nft_fixtures.py [name ...]
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compliance.syntax.nft_listing import COMMAND, read_listing  # noqa: E402

FIXTURES = REPO / "selftests" / "unit" / "nft"


def _run(argv: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def regenerate(names: list[str]) -> None:
    for source in sorted(FIXTURES.glob("*.nft")):
        if not names or source.stem in names:
            listing = listed(source.read_text())
            source.with_suffix(".listing").write_text(listing)
            print(f"{source.stem}: {len(read_listing(listing))} objects")


def listed(text: str) -> str:
    """What the audit reads of a ruleset, loaded alone in a fresh namespace (so handles are
    those of a first load)."""
    netns = f"nfttest-{secrets.token_hex(3)}-fix"
    _run(["ip", "netns", "add", netns])
    try:
        _run(["ip", "-n", netns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"])
        inside = ["ip", "netns", "exec", netns]
        _run([*inside, "nft", "-f", "-"], stdin=text)
        return _run([*inside, "sh", "-c", COMMAND])
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False, timeout=30)


if __name__ == "__main__":
    regenerate(sys.argv[1:])

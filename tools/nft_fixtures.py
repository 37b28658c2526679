"""Regenerate the nftables unit fixtures from the real kernel and nft.

For each `selftests/unit/nft/<name>.nft`, load it into a private network namespace made for
the purpose (with an `eth0` for ingress chains), and store what nft lists back:
`<name>.json` (`nft -j list ruleset`, re-indented) and `<name>.listed` (`nft list ruleset`,
whose ingress devices nft 1.0.6's JSON leaves out). The namespace is deleted afterwards, also
on failure. Needs root, `ip` and `nft`; touches no other namespace.

    python3 tools/nft_fixtures.py [name ...]
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "selftests" / "unit" / "nft"


def _run(argv: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def regenerate(names: list[str]) -> None:
    netns = f"nfttest-{secrets.token_hex(3)}-fix"
    _run(["ip", "netns", "add", netns])
    try:
        _run(["ip", "-n", netns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"])
        inside = ["ip", "netns", "exec", netns, "nft"]
        for source in sorted(FIXTURES.glob("*.nft")):
            if names and source.stem not in names:
                continue
            _run([*inside, "flush", "ruleset"])
            _run([*inside, "-f", "-"], stdin=source.read_text())
            listed = json.loads(_run([*inside, "-j", "list", "ruleset"]))
            source.with_suffix(".json").write_text(json.dumps(listed, indent=1) + "\n")
            source.with_suffix(".listed").write_text(_run([*inside, "list", "ruleset"]))
            print(f"{source.stem}: {len(listed['nftables'])} objects")
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False, timeout=30)


if __name__ == "__main__":
    regenerate(sys.argv[1:])

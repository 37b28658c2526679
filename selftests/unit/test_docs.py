"""The docs say what the code does: lab/README.md's fault table is lab/faults.py's."""

from __future__ import annotations

import re
from pathlib import Path

from lab.faults import FAULTS

ROOT = Path(__file__).resolve().parents[2]


def test_the_lab_readme_lists_every_fault_with_the_checks_it_breaks():
    rows = {}
    for line in (ROOT / "lab" / "README.md").read_text().splitlines():
        found = re.match(r"\| `([a-z0-9_]+)` \| .* \| ([a-z_, ]+) \| [^|]* \|$", line)
        if found and found.group(1) in FAULTS:
            rows[found.group(1)] = {c.strip() for c in found.group(2).split(",")}
    assert set(rows) == set(FAULTS)
    for name, fault in FAULTS.items():
        assert rows[name] == set(fault.breaks), name

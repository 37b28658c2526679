"""The docs say what the code does: their tables are computed (selftests/doctables.py)."""

from __future__ import annotations

import pytest

from selftests import doctables


@pytest.mark.parametrize(
    "path", list(doctables.TABLES), ids=lambda p: str(p.relative_to(doctables.ROOT))
)
def test_generated_tables_are_current(path):
    """Run `python3 -m selftests.doctables` after adding a check or a lab fault."""
    assert path.read_text() == doctables.rendered(path, doctables.TABLES[path]), (
        f"{path.relative_to(doctables.ROOT)} is stale: run {doctables.COMMAND}"
    )

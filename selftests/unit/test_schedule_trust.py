"""The schedule runs as root only code that only root can change (compliance/schedule/trust.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from compliance.schedule import install, trust
from compliance.schedule.units import Schedule, ScheduleError

NOBODY = 65534


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "suite"
    (root / "tests").mkdir(parents=True)
    (root / "conftest.py").write_text("")
    (root / "tests" / "test_x.py").write_text("")
    for path in (tmp_path, root, root / "tests"):
        path.chmod(0o755)
    return root


def test_a_checkout_only_root_writes_is_trusted(checkout):
    assert trust.untrusted([("checkout", checkout)], [("checkout", checkout)]) is None


@pytest.mark.parametrize(
    ("where", "how", "who"),
    [
        ("tests/test_x.py", "chmod", "everyone (mode o+w)"),
        ("tests", "chown", f"its owner (uid {NOBODY})"),
        (".", "chmod", "everyone (mode o+w)"),
        ("..", "chown", f"its owner (uid {NOBODY})"),
    ],
)
def test_a_path_another_user_can_write_is_named(checkout, where, how, who):
    target = (checkout / where).resolve()
    if how == "chmod":
        target.chmod(target.stat().st_mode | 0o002)
    else:
        os.chown(target, NOBODY, -1)
    why = trust.untrusted(
        [("the suite's checkout", checkout)], [("the suite's checkout", checkout)]
    )
    assert why == f"the suite's checkout {checkout}: {target} can be written by {who}"


def test_a_sticky_root_parent_like_tmp_is_allowed(tmp_path):
    sticky = tmp_path / "shared"
    sticky.mkdir()
    sticky.chmod(0o1777)
    inside = sticky / "suite"
    inside.mkdir(mode=0o755)
    assert trust.untrusted([("checkout", inside)], []) is None


def test_install_refuses_before_writing_anything(checkout, tmp_path):
    (checkout / "tests" / "test_x.py").chmod(0o666)
    units = tmp_path / "units"
    units.mkdir()
    calls: list[list[str]] = []

    def command(argv):
        calls.append(list(argv))
        return 0, ""

    s = Schedule(suite_dir=checkout, python=sys.executable, state_dir=tmp_path / "state")
    with pytest.raises(ScheduleError, match=r"^refused: the audit would run as root the suite"):
        install.install(s, units, command)
    assert list(units.iterdir()) == []
    assert calls == []


def test_this_interpreter_and_checkout_are_trusted_here():
    """The machine CI runs on installs the schedule with the suite it tests."""
    from compliance.schedule.units import SUITE_DIR

    assert trust.root_can_trust(SUITE_DIR, sys.executable) is None

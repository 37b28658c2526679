"""--drift host-free: what is tracked is stable, changes are named, the baseline is written
whole, kept by a red run and replaced by a green one."""

from __future__ import annotations

import json
from pathlib import Path

from compliance.facts.systemd import UnitState
from compliance.report import drift, outcomes
from compliance.report.outcomes import Row

SAMPLES = Path(__file__).parent / "facts"
GREEN = [Row("listener", "proxmox/ct955", outcomes.PASSED)]
RED = [Row("site_file", "proxmox/ct955", outcomes.FAILED, "listen 8080")]
VIEW = {
    "proxmox": {"site_config:955: file": "sha256:aaa root:root 644"},
    "proxmox/ct955": {"unit_state: ExecStart": "/usr/local/bin/ollama serve"},
}


def test_unit_state_tracks_its_settings_not_its_run_state():
    case = json.loads((SAMPLES / "unit_state" / "running.json").read_text())
    base = UnitState.parse(case["rc"], case["output"])
    volatile = {"MainPID": "977", "NRestarts": "4", "ActiveState": "activating", "Now": "@9"}
    later = UnitState({**base.props, **volatile, "ExecMainStartTimestamp": "@900"})
    assert base.drift() == later.drift()
    assert base.drift()["ExecStart"] == "/usr/local/bin/ollama serve"
    assert UnitState({**base.props, "Restart": "no"}).drift()["Restart"] == "no"


def test_changes_are_named_target_by_target():
    now = {
        "proxmox": {
            "site_config:955: file": "sha256:bbb root:root 644",
            "nginx_loaded: /x": "sha256:c",
        },
        "proxmox/ct955": {},
        "proxmox/ct956": {"unit_state: User": "root"},  # new target: nothing to compare with
    }
    changes = drift.compare(VIEW, now)
    assert [c.line() for c in changes] == [
        "proxmox nginx_loaded: /x: added (sha256:c)",
        "proxmox site_config:955: file: 'sha256:aaa root:root 644' -> 'sha256:bbb root:root 644'",
        "proxmox/ct955 unit_state: ExecStart: removed (was /usr/local/bin/ollama serve)",
    ]
    assert drift.compare(VIEW, VIEW) == []


def test_a_green_run_becomes_the_baseline_and_a_red_one_is_compared_with_it(tmp_path):
    path = tmp_path / "state" / "last-green.json"
    first = drift.judge(path, VIEW, GREEN, changed=False)
    assert first.baseline is None
    assert first.recorded
    assert first.lines()[0] == f"drift: no green run recorded yet in {path}"
    saved = json.loads(path.read_text())
    assert saved["targets"] == VIEW

    broken = {**VIEW, "proxmox": {"site_config:955: file": "sha256:bbb root:root 644"}}
    red = drift.judge(path, broken, RED, changed=False)
    assert not red.recorded
    assert json.loads(path.read_text()) == saved  # a red run keeps the last green one
    head, line = red.lines()
    assert head.startswith("drift since the last green run (")
    assert head.endswith("): 1 change")
    assert "sha256:aaa" in line
    assert "sha256:bbb" in line


def test_a_run_whose_fixes_changed_a_host_is_not_recorded(tmp_path):
    path = tmp_path / "last-green.json"
    assert not drift.judge(path, VIEW, GREEN, changed=True).recorded
    assert not path.exists()
    assert not drift.judge(path, {"proxmox": {}}, GREEN, changed=False).recorded  # unread target


def test_an_unreadable_baseline_is_one_warning_and_a_new_start(tmp_path):
    path = tmp_path / "last-green.json"
    path.write_text("{not json")
    result = drift.judge(path, VIEW, GREEN, changed=False)
    assert result.baseline is None
    assert result.lines()[0].startswith(f"drift: {path} is unreadable (JSONDecodeError)")
    assert result.recorded
    assert json.loads(path.read_text())["targets"] == VIEW

"""--metrics host-free: the file Prometheus's own parser reads back, every label escaped,
the verdict as the summary words it, written whole or not at all."""

from __future__ import annotations

import os
import stat

import pytest
from prometheus_client.parser import text_string_to_metric_families

from compliance.report import metrics, outcomes
from compliance.report.metrics import RunResult
from compliance.report.outcomes import Row

ROWS = [
    Row("site_file", "proxmox/ct955", outcomes.FAILED, "listen 8080"),
    Row("unit_active", "proxmox/ct955", outcomes.FIXED, "inactive (dead)", "unit: fixed"),
    Row("listener", "proxmox/ct955", outcomes.PASSED),
    Row("nginx_valid", "proxmox", outcomes.SKIPPED, "not judged"),
    Row("proxy_streams", "proxmox/ct955", outcomes.NOT_REQUESTED, "not requested: ..."),
]


def samples(run: RunResult) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(metrics.render(run).decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def run_of(rows: list[Row], code: int | None = None, **extra) -> RunResult:
    code = outcomes.exit_code(rows) if code is None else code
    return RunResult(rows, code, 2.5, 1_700_000_000.0, **extra)


def test_a_gauge_per_check_and_target_passing_now_is_one():
    checks = {s[0]["check"]: s for s in samples(run_of(ROWS))["ollama_compliance_check"]}
    assert checks["site_file"] == (
        {"check": "site_file", "section": "5", "target": "proxmox/ct955", "outcome": "failed"},
        0.0,
    )
    assert checks["unit_active"][1] == 1.0  # fixed: passes now
    assert checks["listener"][1] == 1.0
    assert checks["nginx_valid"][1] == 0.0  # not judged is not a pass
    assert "proxy_streams" not in checks  # the person did not ask for it


@pytest.mark.parametrize(
    ("rows", "code", "word", "value"),
    [
        ([Row("listener", "proxmox/ct955", outcomes.PASSED)], None, "PASS", 1.0),
        (ROWS, None, "FAIL", 0.0),
        ([Row("nginx_valid", "proxmox", outcomes.SKIPPED, "x"), ROWS[2]], None, "NOT JUDGED", 0.0),
        ([], outcomes.EXIT_UNREACHABLE, "FAIL", 0.0),
    ],
)
def test_the_verdict_is_the_summarys_word(rows, code, word, value):
    found = samples(run_of(rows, code))
    assert found["ollama_compliance_verdict"] == [({"verdict": word}, value)]
    expected_code = outcomes.exit_code(rows) if code is None else code
    assert found["ollama_compliance_exit_code"] == [({}, float(expected_code))]


def test_run_facts_counts_and_the_drift_gauges():
    found = samples(run_of(ROWS, extra={"drift_changes": ("d", 2), "unknown": ("u", None)}))
    assert found["ollama_compliance_run_duration_seconds"] == [({}, 2.5)]
    assert found["ollama_compliance_run_end_timestamp_seconds"] == [({}, 1_700_000_000.0)]
    assert ({"outcome": "failed"}, 1.0) in found["ollama_compliance_checks"]
    ((labels, one),) = found["ollama_compliance_info"]
    assert labels["version"] == outcomes.suite_version()
    assert one == 1.0
    assert found["ollama_compliance_drift_changes"] == [({}, 2.0)]
    assert "ollama_compliance_unknown" not in found  # a gauge with no value is left out


def test_label_values_from_the_target_are_escaped_and_read_back_intact():
    odd = 'pve "lab"\\1\nct955'
    found = samples(run_of([Row("listener", odd, outcomes.PASSED)]))
    assert found["ollama_compliance_check"][0][0]["target"] == odd


def test_the_file_is_written_whole_world_readable_in_a_new_directory(tmp_path):
    path = tmp_path / "textfile" / "ollama_compliance.prom"
    metrics.write(path, run_of(ROWS))
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_bytes() == metrics.render(run_of(ROWS))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no staged file left


def test_the_mode_is_set_on_the_open_file_never_by_path(tmp_path, monkeypatch):
    """A link swapped in at the staged name before the rename gets no chmod of ours."""

    def by_path(*args, **kwargs):
        raise AssertionError("chmod by path")

    monkeypatch.setattr(os, "chmod", by_path)
    path = tmp_path / "m.prom"
    metrics.write(path, run_of(ROWS))
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failed_write_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.prom"
    path.write_text("previous\n")

    def broken(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="No space left"):
        metrics.write(path, run_of(ROWS))
    assert path.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.prom"]

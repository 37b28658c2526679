"""Several containers on one host: each reported on its own, audited and converged in parallel."""

from __future__ import annotations

import itertools

import pytest

from lab import states
from selftests.lab.harness import CHECKS, fleet_args, run_suite

FLEET = [955, 956, 957]
HOST_CHECKS = {"nginx_valid", "nginx_running"}


@pytest.fixture
def fleet_compliant():
    for ctid in FLEET:
        states.make_compliant(ctid)


def test_three_containers_pass_and_are_reported_apart(fleet_compliant, tmp_path):
    run = run_suite(*fleet_args(FLEET), tmp_path=tmp_path)
    assert run.rc == 0, run.explain()
    per_ct = set(CHECKS) - HOST_CHECKS
    expected = {(c, f"proxmox-ct{ctid}") for ctid in FLEET for c in per_ct}
    expected |= {(c, "proxmox") for c in HOST_CHECKS}
    assert set(run.rows) == expected
    assert all(row.status == "passed" for row in run.rows.values()), run.explain()
    assert "remote commands this run: 4" in run.output  # 1 host batch + 1 per container


def test_a_fault_in_one_container_fails_only_its_rows(fleet_compliant, tmp_path):
    states.apply_fault("unit_stopped", 956)
    run = run_suite(*fleet_args(FLEET), tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    assert run.failed_rows() == {
        (check, "proxmox-ct956")
        for check in ("unit_active", "listener", "direct_api", "proxy_parity")
    }, run.explain()


def test_parallel_converge_of_three_containers(tmp_path):
    for ctid in FLEET:
        states.reset(ctid)
    fix = run_suite(
        "-n", "3", "--dist", "loadgroup", "--fix", *fleet_args(FLEET), tmp_path=tmp_path
    )
    assert fix.rc == 0, fix.explain()
    windows = sorted(
        {
            (float(row.properties["fix_started"]), float(row.properties["fix_finished"]))
            for row in fix.rows.values()
            if row.properties.get("fix_status") == "changed"
        }
    )
    assert len(windows) >= 3 * 3, fix.explain()  # profile_d, systemd_unit, nginx_site per CT
    for (_start, end), (next_start, _end) in itertools.pairwise(windows):
        assert end <= next_start + 0.01, "two fixes ran against the host at the same time"
    audit = run_suite(*fleet_args(FLEET), tmp_path=tmp_path / "audit")
    assert audit.rc == 0, audit.explain()

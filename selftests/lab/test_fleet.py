"""Several containers on one host: each reported on its own, audited and converged in parallel."""

from __future__ import annotations

import itertools
import os

import pytest

from lab import states
from selftests.lab.harness import CHECKS, HOST_CHECKS, SSH_CONFIG, fleet_args, run_suite

FLEET = [955, 956, 957]


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


def test_n_alone_keeps_each_target_on_one_worker(fleet_compliant, tmp_path):
    """`-n 2` without --dist groups by target: each container's facts are gathered once."""
    grouped = run_suite("-n", "2", "-v", *fleet_args(FLEET), tmp_path=tmp_path / "grouped")
    assert grouped.rc == 0, grouped.explain()
    assert "scheduling tests via LoadGroupScheduling" in grouped.output
    # one host batch per worker + one batch per container
    assert "remote commands this run: 5" in grouped.output, grouped.output
    spread = run_suite("-n", "2", "-v", "--dist", "load", *fleet_args(FLEET), tmp_path=tmp_path)
    assert spread.rc == 0, spread.explain()
    assert "scheduling tests via LoadScheduling" in spread.output  # the user's choice is kept


def test_parallel_converge_of_three_containers(tmp_path):
    for ctid in FLEET:
        states.reset(ctid)
    fix = run_suite("-n", "3", "--fix", *fleet_args(FLEET), tmp_path=tmp_path)
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


def _two_aliases(tmp_path):
    """An ssh config where `pve-b` is a second name for the lab host."""
    config = tmp_path / "ssh_config"
    text = SSH_CONFIG.read_text()
    config.write_text(text + "\n" + text.replace("Host proxmox", "Host pve-b"))
    return config


def test_two_hosts_are_audited_and_reported_apart(tmp_path):
    """--hosts with two specs (two ssh aliases of the lab host): every row says which host."""
    states.make_compliant()
    config = _two_aliases(tmp_path)
    run = run_suite("--hosts=proxmox,pve-b", ssh_config=config, tmp_path=tmp_path / "r")
    assert run.rc == 0, run.explain()
    targets = {target for _check, target in run.rows}
    assert targets == {"proxmox", "proxmox-ct955", "pve-b", "pve-b-ct955"}
    assert all(row.status == "passed" for row in run.rows.values())


def test_ansible_inventory_and_lxc_attach_transport(tmp_path):
    """testinfra's ansible:// inventory as --hosts, and the plain-LXC transport."""
    states.make_compliant()
    key = SSH_CONFIG.parent / ".state" / "id_ed25519"
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(
        "[pve]\n"
        f"proxmox ansible_host=127.0.0.1 ansible_port=2222 ansible_user=pvelab "
        f"ansible_ssh_private_key_file={key} "
        "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n"
    )
    run = run_suite(
        f"--hosts=ansible://all?ansible_inventory={inventory}",
        "--ct-transport=lxc-attach",
        tmp_path=tmp_path / "r",
    )
    assert run.rc == 0, run.explain()
    assert len(run.rows) == len(CHECKS)
    evidence = run.rows[("unit_enabled", "proxmox-ct955")].properties["evidence"]
    assert "ct 955 on proxmox" in evidence


def test_n_auto_runs_one_host_in_process(fleet_compliant, tmp_path):
    """`-n auto` on one host starts no workers: its containers are already read in parallel."""
    run = run_suite("-n", "auto", *fleet_args(FLEET), tmp_path=tmp_path)
    assert run.rc == 0, run.explain()
    assert "-n auto: one host, no xdist workers" in run.output
    assert "created:" not in run.output  # xdist's line when it starts workers
    assert "remote commands this run: 4" in run.output


def test_n_auto_converges_two_aliases_of_one_host_one_fix_at_a_time(tmp_path):
    """Two workers for two host names; the fix lock is keyed by address, so they never overlap."""
    states.reset()
    config = _two_aliases(tmp_path)
    fix = run_suite(
        "-n", "auto", "--fix", "--hosts=proxmox,pve-b", ssh_config=config, tmp_path=tmp_path / "f"
    )
    assert fix.rc == 0, fix.explain()
    workers = min(2, os.cpu_count() or 1)
    assert f"-n auto: {workers} xdist worker{'s' * (workers > 1)} for 2 hosts" in fix.output
    windows = sorted(  # one window per fix run: every check it fixed reports the same one
        {
            (float(row.properties["fix_started"]), float(row.properties["fix_finished"]))
            for row in fix.rows.values()
            if row.properties.get("fix_status") == "changed"
        }
    )
    assert len(windows) >= 3, fix.explain()  # profile_d, systemd_unit, nginx_site
    for (_start, end), (next_start, _end) in itertools.pairwise(windows):
        assert end <= next_start + 0.01, "two fixes ran against one machine at the same time"
    audit = run_suite("--hosts=proxmox,pve-b", ssh_config=config, tmp_path=tmp_path / "a")
    assert audit.rc == 0, audit.explain()

"""Several containers on one host: each reported on its own, audited and converged in parallel."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from lab import container, nginx, states
from lab.plan import site_for
from selftests.lab.harness import CHECKS, HOST_CHECKS, REPO, SSH_CONFIG, fleet_args, run_suite

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
    overlapping = _assert_rounds_overlap_only_on_other_containers(fix)
    # each worker has one CT: their rounds inside the CTs run at once
    assert overlapping, fix.explain()
    audit = run_suite(*fleet_args(FLEET), tmp_path=tmp_path / "audit")
    assert audit.rc == 0, audit.explain()


def _rounds(run) -> dict[tuple[float, float], list[tuple[float, float]]]:
    """Each round's span (one fix for several CTs at once) -> the changed fixes' windows in it."""
    found: dict[tuple[float, float], set[tuple[float, float]]] = {}
    for row in run.rows.values():
        props = row.properties
        if props.get("fix_status") != "changed":
            continue
        start, _, end = props["fix_round"].partition("-")
        window = (float(props["fix_started"]), float(props["fix_finished"]))
        found.setdefault((float(start), float(end)), set()).add(window)
    return {span: sorted(windows) for span, windows in sorted(found.items())}


def _assert_rounds_never_overlap(run) -> None:
    """Rounds against one host in one process run one after another."""
    for (_start, end), (next_start, _end) in itertools.pairwise(_rounds(run)):
        assert end <= next_start + 0.01, "two rounds ran against the host at the same time"


def _assert_rounds_overlap_only_on_other_containers(run) -> int:
    """Two rounds at once (from two workers) never share a container, nor both change nginx
    (a round holds its CTs' locks, and the host's for nginx); how many pairs overlapped."""
    rounds: dict[tuple[float, float], tuple[set[str], set[str]]] = {}
    for (_check, target), row in run.rows.items():
        props = row.properties
        if props.get("fix_status") != "changed":
            continue
        start, _, end = props["fix_round"].partition("-")
        cts, fixes = rounds.setdefault((float(start), float(end)), (set(), set()))
        cts.add(target)
        fixes.add(props["fix"])
    overlapping = 0
    for (a, (cts_a, fixes_a)), (b, (cts_b, fixes_b)) in itertools.combinations(
        sorted(rounds.items()), 2
    ):
        if a[0] < b[1] - 0.01 and b[0] < a[1] - 0.01:
            overlapping += 1
            assert not cts_a & cts_b, f"rounds {a} and {b} both changed {cts_a & cts_b}"
            assert not {"nginx_site"} <= fixes_a & fixes_b, f"rounds {a}, {b}: nginx at once"
    return overlapping


def _nginx_commands(run) -> tuple[int, int]:
    """How many times the run's fixes ran nginx -t, and reloaded (or started) nginx."""
    tests = run.output.count("] $ nginx -t  -> exit")
    reloads = len(
        re.findall(r"\] \$ (nginx -s reload|nginx|systemctl (reload|start) nginx)  ->", run.output)
    )
    return tests, reloads


def test_a_hosts_containers_converge_in_rounds_with_one_nginx_reload(tmp_path):
    """Without -n: each fix runs for the three CTs at once, their sites in one nginx round."""
    for ctid in FLEET:
        states.reset(ctid)
    states.apply_fault("site_syntax_error", 956)  # one CT's site invalid among good ones
    fix = run_suite("--fix", *fleet_args(FLEET), tmp_path=tmp_path)
    assert fix.rc == 0, fix.explain()
    rounds = _rounds(fix)
    _assert_rounds_never_overlap(fix)
    together = [windows for windows in rounds.values() if len(windows) >= 2]
    assert together, f"no round fixed several CTs at once: {rounds}"
    for windows in together:  # the CTs of one round are fixed at the same time
        assert max(start for start, _ in windows) < min(end for _, end in windows), rounds
    assert _nginx_commands(fix) == (1, 1), fix.explain()
    assert "applied and verified (3 sites, one reload)" in fix.output, fix.explain()
    audit = run_suite(*fleet_args(FLEET), tmp_path=tmp_path / "audit")
    assert audit.rc == 0, audit.explain()


@pytest.mark.parametrize("delay", [3.0, 6.0, 9.0])
def test_killed_multi_ct_round_leaves_nginx_valid_and_no_temp_files(delay, tmp_path):
    """SIGKILL a --fix of three CTs mid-round: nginx -t passes, every site is whole, no temp
    file is left, and the next --fix converges."""
    for ctid in FLEET:
        states.reset(ctid)
    command = [
        sys.executable, "-m", "pytest", f"--ssh-config={SSH_CONFIG}", "--hosts=proxmox",
        "--fix", "-p", "no:cacheprovider", *fleet_args(FLEET),
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # a command the runner had started on the host ends on its own
    nginx.test()
    for ctid in FLEET:
        site = site_for(ctid)
        wanted = site.render(container.ct_ip(ctid))
        text = site.file.read_text() if site.file.exists() else None
        assert text is None or text == wanted, f"{site.file} is partial: {text!r}"
        leftovers = [*site.file.parent.glob(f".{site.file.name}.compliance-tmp*")]
        leftovers += site.link.parent.glob(f".{site.link.name}.compliance-tmp*")
        assert not leftovers, f"temp files left: {leftovers}"
    again = run_suite("--fix", *fleet_args(FLEET), tmp_path=tmp_path / "again")
    assert again.rc == 0, again.explain()
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

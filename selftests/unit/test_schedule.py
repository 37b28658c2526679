"""The schedule host-free: settings refused in one line, the units as systemd reads them,
the scheduled run's folders, install's verify/backup/restore and status, against a recording
systemctl. What systemd does with the units is proven on the lab (selftests/lab)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from compliance.schedule import install, runner, units
from compliance.schedule.__main__ import main
from compliance.schedule.units import Schedule, ScheduleError


class Systemctl:
    """Records each command; answers from `replies` (argv prefix -> (rc, output))."""

    def __init__(self, **replies: tuple[int, str]) -> None:
        self.calls: list[list[str]] = []
        self.replies = {tuple(k.split("_")): v for k, v in replies.items()}

    def __call__(self, argv: Sequence[str]) -> tuple[int, str]:
        self.calls.append(list(argv))
        for prefix, reply in self.replies.items():
            if tuple(argv[: len(prefix)]) == prefix:
                return reply
        return 0, ""


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"every": "hourly; rm -rf /"}, "--every"),
        ({"delay": "soon"}, "--delay"),
        ({"keep": 0}, "--keep"),
        ({"metrics": Path("relative.prom")}, "--metrics"),
        ({"metrics": Path("/var/lib/x/metrics.txt")}, "--metrics"),
        ({"metrics": Path("/var/lib/x\n.prom")}, "--metrics"),
        ({"state_dir": Path("var/lib")}, "--state-dir"),
        ({"user": "Root Admin"}, "--user"),
        ({"pytest_args": ("--hosts=proxmox", "--fix")}, "'--fix' refused: a schedule only"),
        ({"pytest_args": ("--dry-run",)}, "'--dry-run' refused"),
        ({"pytest_args": ("--metrics=/tmp/x.prom",)}, "the run sets it"),
        ({"pytest_args": ("--hosts=a\nb",)}, "control characters"),
        ({"suite_dir": Path("/nonexistent")}, "no conftest.py"),
        ({"python": "/opt/my python/bin/python3"}, "python"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(change, named):
    with pytest.raises(ScheduleError) as caught:
        Schedule(**change).validate()
    assert named in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("arg", "word"),
    [
        ("--hosts=local://", "--hosts=local://"),
        ("--server-name=my host", '"--server-name=my host"'),
        ("50%", '"50%%"'),
        ("$HOME", '"$$HOME"'),
        ('say "hi" \\', '"say \\"hi\\" \\\\"'),
    ],
)
def test_exec_start_words_are_quoted_as_systemd_reads_them(arg, word):
    assert units.exec_word(arg) == word


def test_the_service_runs_this_module_as_root_and_never_fixes():
    s = Schedule(pytest_args=("--hosts=proxmox", "--server-name=a b")).validate()
    service, timer = units.service(s), units.timer(s)
    exec_start = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith(
        "run --keep=24 " + f"--metrics={units.METRICS} "
        f'--state-dir={units.STATE_DIR} -- --hosts=proxmox "--server-name=a b"'
    )
    assert "User=root" in service
    assert "Type=oneshot" in service
    assert "--fix" not in exec_start
    assert f"WorkingDirectory={units.SUITE_DIR}" in service
    assert "OnCalendar=hourly" in timer
    assert "RandomizedDelaySec=15min" in timer
    assert "Persistent=true" in timer
    assert "WantedBy=timers.target" in timer


def test_a_run_gets_its_own_folder_and_only_the_newest_are_kept(tmp_path):
    first = runner.run_folder(tmp_path, now=0)
    again = runner.run_folder(tmp_path, now=0)
    assert first.name == "audit-19700101T000000Z"
    assert again.name == "audit-19700101T000000Z-2"
    for hour in range(1, 5):
        runner.run_folder(tmp_path, now=hour * 3600)
    removed = runner.prune(tmp_path, keep=2)
    kept = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert kept == ["audit-19700101T030000Z", "audit-19700101T040000Z"]
    assert first in removed
    assert len(removed) == 4


def test_the_scheduled_run_writes_its_reports_metrics_and_drift_and_exits_as_the_audit(
    tmp_path, monkeypatch
):
    seen: dict[str, object] = {}

    def fake_call(argv, cwd):
        seen["argv"], seen["cwd"] = argv, cwd
        return 101

    monkeypatch.setattr(subprocess, "call", fake_call)
    s = Schedule(state_dir=tmp_path, metrics=tmp_path / "m.prom", keep=1)
    assert runner.run(s) == 101
    argv = seen["argv"]
    assert isinstance(argv, list)
    assert argv[1:3] == ["-m", "pytest"]
    latest = tmp_path / "reports" / "latest"
    assert latest.is_symlink()
    assert latest.resolve().name.startswith("audit-")
    assert f"--html={latest.resolve() / 'report.html'}" in argv
    assert f"--metrics={tmp_path / 'm.prom'}" in argv
    assert f"--drift={tmp_path / runner.BASELINE}" in argv
    assert seen["cwd"] == units.SUITE_DIR


def test_install_verifies_backs_up_what_it_replaces_and_enables_the_timer(tmp_path):
    (tmp_path / units.SERVICE).write_text("# a hand-made unit\n")
    systemctl = Systemctl()
    done = install.install(Schedule(), tmp_path, systemctl)
    assert systemctl.calls[0][:2] == ["systemd-analyze", "verify"]
    assert ["systemctl", "enable", "--now", units.TIMER] in systemctl.calls
    assert (tmp_path / f"{units.SERVICE}.bak").read_text() == "# a hand-made unit\n"
    assert (tmp_path / units.TIMER).read_text() == units.timer(Schedule())
    assert done[-1] == f"enabled and started {units.TIMER}"
    again = Systemctl()
    assert install.install(Schedule(), tmp_path, again) == [f"enabled and started {units.TIMER}"]


def test_install_refused_by_verify_changes_nothing(tmp_path):
    systemctl = Systemctl(**{"systemd-analyze_verify": (1, "x.timer:7: Failed to parse\nmore")})
    with pytest.raises(ScheduleError, match=r"refused the units: x\.timer:7: Failed to parse$"):
        install.install(Schedule(), tmp_path, systemctl)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_enable_puts_the_previous_units_back(tmp_path):
    (tmp_path / units.SERVICE).write_text("# the old unit\n")
    systemctl = Systemctl(systemctl_enable=(1, "Failed to enable unit: Access denied"))
    with pytest.raises(ScheduleError, match="Access denied; units restored"):
        install.install(Schedule(), tmp_path, systemctl)
    assert (tmp_path / units.SERVICE).read_text() == "# the old unit\n"
    assert not (tmp_path / units.TIMER).exists()
    assert systemctl.calls[-1] == ["systemctl", "daemon-reload"]


def test_remove_disables_and_removes_the_units_and_the_metrics(tmp_path):
    metrics = tmp_path / "m.prom"
    for path in (tmp_path / units.SERVICE, tmp_path / units.TIMER, metrics):
        path.write_text("x")
    systemctl = Systemctl()
    done = install.remove(Schedule(metrics=metrics), tmp_path, systemctl)
    assert ["systemctl", "disable", "--now", units.TIMER] in systemctl.calls
    assert not any(p.exists() for p in (tmp_path / units.SERVICE, tmp_path / units.TIMER, metrics))
    assert f"removed {metrics}" in done
    assert install.remove(Schedule(metrics=metrics), tmp_path, Systemctl()) == [
        "nothing was installed"
    ]


def test_status_says_the_last_run_and_exits_by_it(tmp_path):
    assert install.status(Schedule(), tmp_path, Systemctl())[0] == 3
    (tmp_path / units.TIMER).write_text("x")
    failed = Systemctl(
        **{f"systemctl_show_{units.SERVICE}": (0, "Result=exit-code\nExecMainStatus=1")}
    )
    code, lines = install.status(Schedule(state_dir=tmp_path), tmp_path, failed)
    assert code == 1
    assert "Result=exit-code" in lines[1]
    ok = Systemctl(**{f"systemctl_show_{units.SERVICE}": (0, "ExecMainStatus=0")})
    assert install.status(Schedule(state_dir=tmp_path), tmp_path, ok)[0] == 0


def test_the_command_line_refuses_fix_in_one_line_and_renders(capsys):
    assert main(["run", "--", "--hosts=proxmox", "--fix"]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "'--fix' refused" in err
    assert main(["render", "--every", "daily", "--", "--hosts=proxmox"]) == 0
    out = capsys.readouterr().out
    assert "OnCalendar=daily" in out
    assert "-- --hosts=proxmox" in out


def test_the_module_runs_as_python_dash_m():
    proc = subprocess.run(
        [sys.executable, "-m", "compliance.schedule", "render", "--keep", "nine"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "--keep: invalid int value" in proc.stderr

"""systemd facts in the container: systemctl show, the unit's files, its journal and history."""

from __future__ import annotations

import json

import pytest

from compliance.facts.files import END
from compliance.facts.systemd import (
    PROCESS_EXITED,
    RESTART_SCHEDULED,
    UNIT_STARTED,
    Journal,
    MainProcessEnv,
    UnitEnabled,
    UnitFiles,
    UnitHistory,
    UnitState,
)
from compliance.plan import UNIT_TEXT
from selftests.unit import samples

SCOPE = samples.default_scope()


# -- the service journal of the current invocation -------------------------------------------


@pytest.mark.parametrize(
    ("text", "listening", "errors"),
    [
        (samples.JOURNAL_OK, True, []),
        ("", False, []),
        (samples.JOURNAL_BIND, False, [samples.JOURNAL_BIND.strip()]),
        (samples.JOURNAL_PANIC, False, ["panic: $HOME is not defined"]),
        (samples.JOURNAL_PERMISSION, False, [samples.JOURNAL_PERMISSION.strip()]),
        (
            samples.JOURNAL_OK + samples.JOURNAL_BIND,
            True,
            [samples.JOURNAL_BIND.strip()],
        ),
        (
            'time=2026-11-02T16:50:01.2Z level=WARN source=x.go:1 msg="no compatible GPUs"\n'
            + samples.JOURNAL_OK,
            True,
            [],
        ),
        (samples.JOURNAL_OK + samples.JOURNAL_GIN_PANIC_PATH, True, []),
        (
            samples.JOURNAL_OK
            + "[GIN-debug] GET    /api/error --> main.handler (5 handlers)\n"
            + 'time=2026-11-02T16:50:02Z level=DEBUG msg="request" path=/Error:/panic:\n'
            + 'time=2026-11-02T16:50:02Z level=WARN msg="models dir" error="permission denied"\n',
            True,
            [],
        ),
        (
            samples.JOURNAL_GIN_PANIC_PATH + samples.JOURNAL_PANIC,
            False,
            ["panic: $HOME is not defined"],
        ),
        (
            samples.JOURNAL_OK + "[Recovery] 2026/11/02 - 16:51:00 panic recovered:\n",
            True,
            ["[Recovery] 2026/11/02 - 16:51:00 panic recovered:"],
        ),
        (
            "fatal error: concurrent map writes\n" + samples.JOURNAL_OK,
            True,
            ["fatal error: concurrent map writes"],
        ),
        (
            'time=2026-11-02T16:50:02Z level="ERROR" msg="x"\n',
            False,
            ['time=2026-11-02T16:50:02Z level="ERROR" msg="x"'],
        ),
    ],
    ids=[
        "healthy",
        "empty",
        "bind",
        "panic",
        "permission",
        "restart-then-bind",
        "warn-only",
        "gin-request-for-panic",
        "request-text-elsewhere",
        "request-then-real-panic",
        "gin-recovery",
        "go-fatal",
        "quoted-level",
    ],
)
def test_journal_problems(text, listening, errors):
    journal = Journal.parse(0, text)
    assert (journal.listening, list(journal.errors)) == (listening, errors)
    assert journal.recorded


@pytest.mark.parametrize(
    ("rc", "text", "recorded"),
    [
        (0, samples.JOURNAL_OK, True),
        (1, "", True),  # grep found nothing: the invocation is there, silent
        (1, "no invocation of the unit\n", False),
        (0, "", True),
    ],
    ids=["lines", "grep-empty", "no-invocation", "silent"],
)
def test_journal_recorded(rc, text, recorded):
    assert Journal.parse(rc, text).recorded is recorded


def test_journal_command_reads_the_current_invocation_only():
    command = Journal.command(SCOPE)
    assert "grep -av '^\\[GIN'" in command  # request lines out before the tail
    assert "systemctl show -p InvocationID --value ollama.service" in command
    assert '"_SYSTEMD_INVOCATION_ID=$inv"' in command
    assert "no invocation of the unit" in command  # what parse looks for


# -- systemctl show ----------------------------------------------------------------------


def test_unit_state_running():
    unit = UnitState.parse(0, samples.UNIT_SHOW)
    assert unit.loaded
    assert unit.state == "active (running)"
    assert unit.running
    assert unit.main_pid == 2231
    assert unit.restarts == 0
    assert unit.now == 1762102500
    assert unit.started_ago == 299
    assert unit.last_exit == ""
    assert unit.exec_start == ("/usr/local/bin/ollama", "/usr/local/bin/ollama serve")
    assert unit.environment == {
        "OLLAMA_HOST": "0.0.0.0:11434",
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
    }
    assert unit.restart_sec == 3.0
    assert unit.dropins == ()
    assert unit.get("UnitFileState") == "enabled"
    assert unit.get("NoSuchProperty", "x") == "x"


def test_unit_state_stale_and_restarting():
    unit = UnitState.parse(0, samples.UNIT_SHOW_STALE)
    assert unit.loaded
    assert not unit.running
    assert unit.state == "activating (auto-restart)"
    assert unit.get("NeedDaemonReload") == "yes"
    assert unit.main_pid == 0
    assert unit.restarts == 17
    assert unit.dropins == ("/etc/systemd/system/ollama.service.d/override.conf",)
    assert unit.now is None
    assert unit.started_ago is None


def test_unit_state_missing():
    unit = UnitState.parse(0, samples.UNIT_SHOW_MISSING)
    assert not unit.loaded
    assert unit.state == "inactive (dead)"
    assert unit.exec_start == ("", "")
    assert unit.environment == {}
    assert unit.restart_sec is None


@pytest.mark.parametrize(
    ("code", "status", "last_exit"),
    [
        ("", "", ""),
        ("0", "0", ""),
        ("1", "1", "exited, status 1"),
        ("2", "9", "killed, status 9"),
        ("3", "11", "dumped core, status 11"),
        ("7", "", "code 7, status ?"),
    ],
)
def test_unit_state_last_exit(code, status, last_exit):
    unit = UnitState({"ExecMainCode": code, "ExecMainStatus": status})
    assert unit.last_exit == last_exit


@pytest.mark.parametrize(
    ("props", "main_pid", "restarts", "started_ago"),
    [
        ({"MainPID": "x", "NRestarts": ""}, 0, 0, None),
        ({"ExecMainStartTimestamp": "@100", "Now": "@160"}, 0, 0, 60),
        ({"ExecMainStartTimestamp": "", "Now": "@160"}, 0, 0, None),
        ({"ExecMainStartTimestamp": "@100", "Now": "@1x"}, 0, 0, None),
    ],
    ids=["garbled", "started", "never-started", "garbled-clock"],
)
def test_unit_state_numbers_that_cannot_be_read(props, main_pid, restarts, started_ago):
    unit = UnitState(props)
    assert (unit.main_pid, unit.restarts, unit.started_ago) == (main_pid, restarts, started_ago)


def test_unit_state_command_shows_every_property_it_reads_and_the_clock():
    command = UnitState.command(SCOPE)
    assert command.startswith("systemctl show --timestamp=unix ollama.service ")
    for prop in ("ExecStart", "Environment", "MainPID", "ExecMainStartTimestamp", "InvocationID"):
        assert f"-p {prop}" in command
    assert command.endswith("echo Now=@$(date +%s)")


# -- unit files, enabled, the main process's environment ----------------------------------


def test_unit_files_with_a_dropin():
    output = (
        f"@@file root:root 644 /etc/systemd/system/ollama.service\n{UNIT_TEXT}{END}\n"
        "@@file root:root 644 /etc/systemd/system/ollama.service.d/override.conf\n"
        f"[Service]\nEnvironment=OLLAMA_HOST=127.0.0.1\n{END}\n"
    )
    files = UnitFiles.parse(0, output).files
    assert list(files) == [
        "/etc/systemd/system/ollama.service",
        "/etc/systemd/system/ollama.service.d/override.conf",
    ]
    unit = files["/etc/systemd/system/ollama.service"]
    assert (unit.exists, unit.owner, unit.mode, unit.text) == (True, "root:root", 0o644, UNIT_TEXT)
    dropin = files["/etc/systemd/system/ollama.service.d/override.conf"]
    assert dropin.text == "[Service]\nEnvironment=OLLAMA_HOST=127.0.0.1\n"


def test_unit_files_none():
    assert UnitFiles.parse(0, "").files == {}


def test_unit_files_command_reads_the_unit_and_both_dropin_dirs():
    command = UnitFiles.command(SCOPE)
    assert "/etc/systemd/system/ollama.service " in command
    assert "/etc/systemd/system/ollama.service.d/*.conf" in command
    assert "/run/systemd/system/ollama.service.d/*.conf" in command
    assert "$(systemctl show -p DropInPaths --value ollama.service)" in command


@pytest.mark.parametrize(
    ("output", "state"),
    [
        ("enabled\n", "enabled"),
        ("disabled\n", "disabled"),
        ("masked\n", "masked"),
        (
            "Failed to get unit file state for ollama.service: No such file or directory\n",
            "Failed to get unit file state for ollama.service: No such file or directory",
        ),
    ],
)
def test_unit_enabled(output, state):
    assert UnitEnabled.parse(0, output).state == state


@pytest.mark.parametrize(
    ("rc", "output", "running", "env"),
    [
        (
            0,
            "pid 2231\nOLLAMA_HOST=0.0.0.0:11434\nOLLAMA_MODELS=/srv/models\n",
            True,
            {"OLLAMA_HOST": "0.0.0.0:11434", "OLLAMA_MODELS": "/srv/models"},
        ),
        (0, "pid 2231\nOLLAMA_ORIGINS=a=b\n", True, {"OLLAMA_ORIGINS": "a=b"}),
        (0, "pid 2231\n", True, {}),  # no OLLAMA_ variable: the last test decides the rc
        (1, "", False, {}),  # MainPID=0: no process
        (0, "", False, {}),
    ],
    ids=["env", "value-with-equals", "no-ollama-vars", "no-process", "no-pid-line"],
)
def test_main_process_env(rc, output, running, env):
    fact = MainProcessEnv.parse(rc, output)
    assert (fact.running, fact.env) == (running, env)


# -- systemd's own messages about the unit -------------------------------------------------


def entry(at: float, invocation: str, message_id: str, message: object, status: str = "") -> str:
    """One line of `journalctl -o json --output-fields=...` (systemd adds its own fields)."""
    fields: dict[str, object] = {
        "__CURSOR": f"s=3f1c;i={int(at)}",
        "__REALTIME_TIMESTAMP": str(int(at * 1e6)),
        "__MONOTONIC_TIMESTAMP": "1234567",
        "_BOOT_ID": "8c7f2a0e5b3d4e6f9a1b2c3d4e5f6a7b",
        "MESSAGE": message,
        "MESSAGE_ID": message_id,
        "INVOCATION_ID": invocation,
    }
    if status:
        fields["EXIT_STATUS"] = status
    return json.dumps(fields)


FIRST, SECOND, THIRD = "a" * 32, "b" * 32, "c" * 32
HISTORY = "\n".join(
    [
        entry(100.0, FIRST, UNIT_STARTED, "Started ollama.service - Ollama API Service."),
        entry(160.5, FIRST, PROCESS_EXITED, "ollama.service: Main process exited", "1"),
        entry(160.6, FIRST, "", "ollama.service: Failed with result 'exit-code'."),
        entry(163.6, FIRST, RESTART_SCHEDULED, "ollama.service: Scheduled restart job"),
        entry(163.7, SECOND, UNIT_STARTED, "Started ollama.service - Ollama API Service."),
        entry(200.0, SECOND, PROCESS_EXITED, "ollama.service: Main process exited", "0"),
        entry(200.1, SECOND, "", "Stopped ollama.service - Ollama API Service."),
        entry(210.0, THIRD, UNIT_STARTED, "Started ollama.service - Ollama API Service."),
        "",
    ]
)


def test_unit_history_events():
    events = UnitHistory.parse(0, HISTORY).events
    assert len(events) == 8
    first = events[1]
    assert first.at == pytest.approx(160.5)
    assert (first.invocation, first.message_id, first.exit_status) == (FIRST, PROCESS_EXITED, "1")
    assert first.message == "ollama.service: Main process exited"
    assert events[2].message_id == ""


def test_unit_history_started_by_restart():
    history = UnitHistory.parse(0, HISTORY)
    assert history.started_by_restart(SECOND) is True  # the first's last message scheduled it
    assert history.started_by_restart(THIRD) is False  # after a stop: a job started it
    assert history.started_by_restart(FIRST) is None  # nothing before it in the journal
    assert history.started_by_restart("d" * 32) is None  # not in the journal


def test_unit_history_failures_since():
    history = UnitHistory.parse(0, HISTORY)
    assert [e.at for e in history.failures_since(0)] == [pytest.approx(160.5)]
    assert history.failures_since(160.5)[0].invocation == FIRST  # at `since` counts
    assert history.failures_since(161) == []  # the clean exit (status 0) is no failure


def test_unit_history_skips_what_is_not_an_entry():
    text = "\n".join(
        [
            "-- No entries --",
            "[1, 2]",
            '"a string"',
            entry(100.0, FIRST, UNIT_STARTED, "Started."),
            '{"MESSAGE": "no timestamp"}',
        ]
    )
    events = UnitHistory.parse(0, text).events
    assert [(e.message, e.at, e.invocation) for e in events] == [
        ("Started.", pytest.approx(100.0), FIRST),
        ("no timestamp", 0.0, ""),
    ]


def test_unit_history_message_as_bytes():
    """journalctl gives a MESSAGE that is not UTF-8 as a list of byte values."""
    raw = [*"exit é ".encode("latin-1"), 300, "x"]  # junk values are dropped
    (event,) = UnitHistory.parse(0, entry(1.0, FIRST, "", raw)).events
    assert event.message == "exit \ufffd "


def test_unit_history_command():
    command = UnitHistory.command(SCOPE)
    assert "_PID=1 UNIT=ollama.service" in command
    assert "-o json" in command
    assert "--output-fields=MESSAGE,MESSAGE_ID,INVOCATION_ID,EXIT_STATUS" in command

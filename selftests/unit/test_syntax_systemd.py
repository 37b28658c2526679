"""compliance/syntax/systemd.py: systemctl show, ExecStart, Environment, timespans, unit files."""

from __future__ import annotations

import pytest

from compliance import plan
from compliance.syntax import systemd
from selftests.unit import samples


def test_systemctl_show_reads_every_property():
    props = systemd.systemctl_show(samples.UNIT_SHOW)
    assert props["LoadState"] == "loaded"
    assert props["ExecStart"] == samples.EXEC_START_RUNNING  # split on the first '=' only
    assert props["Environment"].startswith("OLLAMA_HOST=0.0.0.0:11434 ")
    assert props["RestartUSec"] == "3s"
    assert props["MainPID"] == "2231"
    assert props["DropInPaths"] == ""
    assert props["Now"] == "@1762102500"
    assert len(props) == 18


def test_systemctl_show_skips_the_stale_unit_warning():
    props = systemd.systemctl_show(samples.UNIT_SHOW_STALE)
    assert not any(key.startswith("Warning") for key in props)
    assert props["NeedDaemonReload"] == "yes"
    assert props["SubState"] == "auto-restart"
    assert props["NRestarts"] == "17"


def test_systemctl_show_keeps_the_first_value_of_a_repeated_key():
    assert systemd.systemctl_show("MainPID=10\nMainPID=20\n") == {"MainPID": "10"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("no equals sign here\n=orphan value\n", {}),
        ("User=\n", {"User": ""}),
    ],
)
def test_systemctl_show_edge_lines(text, expected):
    assert systemd.systemctl_show(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (samples.EXEC_START_IDLE, ("/usr/local/bin/ollama", "/usr/local/bin/ollama serve")),
        (samples.EXEC_START_RUNNING, ("/usr/local/bin/ollama", "/usr/local/bin/ollama serve")),
        (
            "{ path=/usr/bin/env ; argv[]=/usr/bin/env OLLAMA_HOST=0.0.0.0 /usr/local/bin/ollama "
            "serve ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; "
            "code=(null) ; status=0/0 }",
            ("/usr/bin/env", "/usr/bin/env OLLAMA_HOST=0.0.0.0 /usr/local/bin/ollama serve"),
        ),
        (
            "{ path=/usr/local/bin/ollama ; argv[]=/usr/local/bin/ollama ; ignore_errors=no ; "
            "start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }",
            ("/usr/local/bin/ollama", "/usr/local/bin/ollama"),
        ),
        ("", ("", "")),
    ],
    ids=["idle", "running", "env-wrapper", "no-serve", "absent"],
)
def test_exec_start_path(value, expected):
    assert systemd.exec_start_path(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", {}),
        ("OLLAMA_HOST=0.0.0.0:11434", {"OLLAMA_HOST": "0.0.0.0:11434"}),
        (
            'OLLAMA_HOST=0.0.0.0:11434 "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"',
            {
                "OLLAMA_HOST": "0.0.0.0:11434",
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
            },
        ),
        (
            '"OLLAMA_ORIGINS=http://a.example http://b.example" OLLAMA_HOST=0.0.0.0',
            {"OLLAMA_ORIGINS": "http://a.example http://b.example", "OLLAMA_HOST": "0.0.0.0"},
        ),
        ("OLLAMA_HOST=", {"OLLAMA_HOST": ""}),
        ("OLLAMA_HOST=127.0.0.1 OLLAMA_HOST=0.0.0.0:11434", {"OLLAMA_HOST": "0.0.0.0:11434"}),
        ("OLLAMA_DEBUG=1 junk", {"OLLAMA_DEBUG": "1"}),
    ],
    ids=["empty", "one", "quoted-path", "quoted-space", "empty-value", "later-wins", "junk"],
)
def test_environment(value, expected):
    assert systemd.environment(value) == expected


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3s", 3.0),
        ("100ms", 0.1),
        ("1min 30s", 90.0),
        ("2h", 7200.0),
        ("1h 1min 1s", 3661.0),
        ("500us", 0.0005),
        ("1.5s", 1.5),
        ("infinity", None),
        ("", None),
        ("[not set]", None),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("1d 3h", 97200.0, id="days"),
    ],
)
def test_timespan_seconds(value, seconds):
    assert systemd.timespan_seconds(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (samples.EXEC_START_RUNNING, ("(null)", "0/0")),
        (
            "{ path=/usr/local/bin/ollama ; argv[]=/usr/local/bin/ollama serve ; "
            "ignore_errors=no ; start_time=[@1762102201] ; stop_time=[@1762102203] ; pid=2231 ; "
            "code=exited ; status=1/FAILURE }",
            ("exited", "1/FAILURE"),
        ),
        ("code=killed ; status=9/KILL", ("killed", "9/KILL")),
        ("", ("", "")),
        ("[not set]", ("", "")),
    ],
    ids=["running", "failed", "killed", "absent", "not-set"],
)
def test_exec_status(value, expected):
    assert systemd.exec_status(value) == expected


def test_unit_file_of_the_plan():
    sections = systemd.unit_file(plan.UNIT_TEXT)
    assert list(sections) == ["Unit", "Service", "Install"]
    assert sections["Unit"] == (
        ("Description", "Ollama API Service"),
        ("After", "network-online.target"),
    )
    service = sections["Service"]
    assert systemd.last(service, "ExecStart") == "/usr/local/bin/ollama serve"
    assert systemd.last(service, "Environment") == '"OLLAMA_HOST=0.0.0.0:11434"'  # as written
    assert systemd.last(service, "RestartSec") == "3"
    assert systemd.last(sections["Install"], "WantedBy") == "multi-user.target"


def test_unit_file_comments_continuations_and_resets():
    text = """\
# a comment
; another comment
orphan=before any section
[Service]
Environment=A=1
ExecStart=
ExecStart=/usr/local/bin/ollama \\
    serve
  User = ollama
not an assignment
Environment=B=2 "C=3 4"

[Service]
Restart=always
[X-Empty]
"""
    sections = systemd.unit_file(text)
    assert sections == {
        "Service": (
            ("Environment", "A=1"),
            ("ExecStart", ""),  # an empty assignment is kept: it resets the list
            ("ExecStart", "/usr/local/bin/ollama  serve"),  # `\` -> a space
            ("User", "ollama"),
            ("Environment", 'B=2 "C=3 4"'),
            ("Restart", "always"),  # a repeated section continues the first
        ),
        "X-Empty": (),
    }


def test_unit_file_of_nothing():
    assert systemd.unit_file("") == {}
    assert systemd.unit_file("ExecStart=/bin/true\n") == {}  # no section: nothing is read


@pytest.mark.parametrize(
    ("assignments", "key", "value"),
    [
        ((("User", "root"), ("User", "ollama")), "User", "ollama"),
        ((("ExecStart", "/x"), ("ExecStart", "")), "ExecStart", ""),
        ((("User", "root"),), "Group", None),
        ((), "User", None),
    ],
    ids=["last-wins", "reset", "unset", "empty"],
)
def test_last(assignments, key, value):
    assert systemd.last(assignments, key) == value

"""Drop-ins lose only the plan settings they contradict (remediation/dropins.py)."""

from __future__ import annotations

import pytest

from remediation.dropins import agrees, without_overrides


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ('[Service]\nEnvironment="OLLAMA_HOST=0.0.0.0"\n', None),
        ('[Service]\nEnvironment="OLLAMA_HOST=0.0.0.0:11434" "OLLAMA_MODELS=/srv/m"\n', None),
        ("[Service]\nEnvironment=OLLAMA_HOST=:11434\n", None),
        ('[Service]\nEnvironment="OLLAMA_HOST=127.0.0.1:11434"\n', "[Service]\n"),
        (
            '[Service]\nEnvironment="OLLAMA_HOST=127.0.0.1" "OLLAMA_MODELS=/srv/m"\n',
            '[Service]\nEnvironment="OLLAMA_MODELS=/srv/m"\n',
        ),
        ("[Service]\nExecStart=\nExecStart=/usr/local/bin/ollama serve\n", None),
        (
            "[Service]\nExecStart=\nExecStart=/opt/ollama serve\nLimitNOFILE=9\n",
            "[Service]\nLimitNOFILE=9\n",
        ),
        ("[Service]\nRestartSec=3s\nRestart=always\n", None),
        ("[Service]\nRestartSec=10\nUser=root\n", "[Service]\nUser=root\n"),
        ("[Service]\nUser=ollama\nGroup=ollama\n", "[Service]\n"),
        ("[Unit]\nUser=ollama\n[Service]\nNice=5\n", None),  # not [Service]: not a service user
        ('[Service]\nEnvironment="OLLAMA_HOST=127.0.0.1"', "[Service]\n"),  # no final newline
        ("[Service]\nUnsetEnvironment=OLLAMA_HOST\n", "[Service]\n"),
        (
            "[Service]\nUnsetEnvironment=LANG OLLAMA_HOST=0.0.0.0:11434 OLLAMA_HOST=x\n",
            "[Service]\nUnsetEnvironment=LANG OLLAMA_HOST=x\n",
        ),
        ("[Service]\nUnsetEnvironment=OLLAMA_DEBUG\n", None),
        ("[Service]\nEnvironmentFile=-/etc/default/ollama\n", None),  # not ours to drop
    ],
    ids=[
        "bare 0.0.0.0 agrees",
        "operator's models kept",
        ":port agrees",
        "loopback removed",
        "only the loopback token removed",
        "the plan's ExecStart agrees",
        "another ExecStart and its reset removed",
        "RestartSec=3s agrees",
        "RestartSec=10 removed",
        "User/Group removed",
        "other sections untouched",
        "last line without newline",
        "UnsetEnvironment of OLLAMA_HOST removed",
        "only the tokens that unset the plan's value removed",
        "another name's unset kept",
        "EnvironmentFile= kept",
    ],
)
def test_without_overrides(text, kept):
    assert without_overrides(text) == kept


@pytest.mark.parametrize(
    ("key", "value", "ok"),
    [
        ("ExecStart", "", True),
        ("ExecStart", "/usr/local/bin/ollama  serve", True),
        ("Restart", "on-failure", False),
        ("LimitNOFILE", "65536", True),
    ],
)
def test_agrees(key, value, ok):
    assert agrees(key, value) is ok

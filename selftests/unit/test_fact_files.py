"""File facts and the container's shell facts: their commands run here with /bin/sh (on
files in a tmp dir) and their parsers read what those commands printed."""

from __future__ import annotations

import os

import pytest

from compliance.facts import files
from compliance.facts.files import END, FileState, file_command, file_state, file_states
from compliance.facts.firewall import GUARD_RULES, GUARD_UNIT, Guard
from compliance.facts.shell import Binary, LoginPath, LoginWhich, ProfileScript
from compliance.plan import PROFILE_TEXT
from selftests.unit import samples

SCOPE = samples.default_scope()


def owner_of(path) -> str:
    import grp
    import pwd

    stat = os.stat(path)
    return f"{pwd.getpwuid(stat.st_uid).pw_name}:{grp.getgrgid(stat.st_gid).gr_name}"


@pytest.mark.parametrize(
    "text",
    [PROFILE_TEXT, "no final newline", "", "line\n\n\n", "@@eof looks like the end\n"],
    ids=["plan", "no-newline", "empty", "blank-lines", "marker-like"],
)
def test_file_command_and_parser_agree(sh, tmp_path, text):
    path = tmp_path / "ollama.sh"
    path.write_text(text)
    path.chmod(0o640)
    state = file_state(*sh(file_command(str(path))))
    assert state == FileState(True, owner_of(path), 0o640, text)
    assert ProfileScript.parse(*sh(file_command(str(path)))).text == text


def test_file_command_of_a_missing_file(sh, tmp_path):
    rc, output = sh(file_command(str(tmp_path / "nope")))
    assert (rc, output.strip()) == (1, files.MISSING)
    assert file_state(rc, output) == FileState(False)


def test_file_command_through_a_symlink(sh, tmp_path):
    target = tmp_path / "real"
    target.write_text("x\n")
    link = tmp_path / "it's a link"  # quoted for the shell
    link.symlink_to(target)
    state = file_state(*sh(file_command(str(link))))
    assert (state.exists, state.text, state.link) == (True, "x\n", str(target))
    target.unlink()
    dangling = file_state(*sh(file_command(str(link))))
    assert (dangling.exists, dangling.link) == (False, str(target))


def test_files_command_and_parser_agree(sh, tmp_path):
    (tmp_path / "a.conf").write_text("[Service]\nUser=root\n")
    (tmp_path / "b.conf").write_text("no newline")
    (tmp_path / "dir.conf").mkdir()  # not a regular file: skipped
    rc, output = sh(files.files_command(f"{tmp_path}/*.conf", f"{tmp_path}/none/*.conf"))
    assert rc == 0
    found = file_states(output)
    assert {path: state.text for path, state in found.items()} == {
        f"{tmp_path}/a.conf": "[Service]\nUser=root\n",
        f"{tmp_path}/b.conf": "no newline",
    }
    assert all(state.exists for state in found.values())


def test_file_states_drops_a_file_cut_off():
    output = f"@@file root:root 644 /a\nfull\n{END}\n@@file root:root 644 /b\npartial"
    assert list(file_states(output)) == ["/a"]


@pytest.mark.parametrize(
    ("owner", "mode", "problems"),
    [
        ("root:root", 0o644, []),
        ("root:adm", 0o640, []),
        ("root:root", 0o664, ["mode 664 is group/world-writable"]),
        ("root:root", 0o646, ["mode 646 is group/world-writable"]),
        ("ollama:root", 0o644, ["owner ollama:root (want root)"]),
        ("", 0o777, ["owner ? (want root)", "mode 777 is group/world-writable"]),
    ],
)
def test_unsafe(owner, mode, problems):
    assert FileState(True, owner, mode).unsafe() == problems


def test_profile_script_command_reads_the_plans_path():
    assert ProfileScript.command(SCOPE) == file_command("/etc/profile.d/ollama.sh")


# -- login shells and the binary --------------------------------------------------------------


@pytest.mark.parametrize(
    ("rc", "output", "started", "path"),
    [
        (
            0,
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/bin\n",
            True,
            (
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/sbin",
                "/usr/bin",
                "/sbin",
                "/bin",
                "/usr/local/bin",
            ),
        ),
        (127, "env: 'bash': No such file or directory\n", False, None),
        (0, "\n", True, ()),
    ],
    ids=["plan", "no-bash", "empty"],
)
def test_login_path(rc, output, started, path):
    fact = LoginPath.parse(rc, output)
    assert fact.started is started
    assert fact.raw == output.strip()
    if path is not None:
        assert fact.path == path


def test_login_path_command_runs_a_clean_login_shell(sh):
    command = LoginPath.command(SCOPE)
    assert command.startswith("env -i bash -lc ")
    fact = LoginPath.parse(*sh(command))  # this machine's login shell: some PATH
    assert fact.started
    assert fact.path


@pytest.mark.parametrize(
    ("output", "found", "executable"),
    [
        ("/usr/local/bin/ollama\nexecutable\n", "/usr/local/bin/ollama", True),
        ("/usr/local/bin/ollama\n", "/usr/local/bin/ollama", False),
        ("\n", "", False),
        ("", "", False),
    ],
    ids=["found", "not-executable", "not-found", "silent"],
)
def test_login_which(output, found, executable):
    assert LoginWhich.parse(0, output) == LoginWhich(found, executable)


def test_login_which_command_here(sh):
    fact = LoginWhich.parse(*sh(LoginWhich.command(SCOPE).replace("ollama", "sh")))
    assert fact.found.endswith("/sh")
    assert fact.executable


@pytest.mark.parametrize(
    ("rc", "output", "present"),
    [
        (0, "-rwxr-xr-x 1 root root 33554432 Oct 14 09:12 /usr/local/bin/ollama\n", True),
        (2, "ls: cannot access '/usr/local/bin/ollama': No such file or directory\n", False),
    ],
)
def test_binary(rc, output, present):
    assert Binary.parse(rc, output).present is present
    assert Binary.command(SCOPE) == "ls -l /usr/local/bin/ollama"


# -- the hardened guard ---------------------------------------------------------------------

RULES = "table inet ollama_guard {\n}\n"


def test_guard_loaded():
    output = (
        f"@@file root:root 644 {GUARD_RULES}\n{RULES}{END}\n"
        f"@@file root:root 644 {GUARD_UNIT}\n[Unit]\n{END}\n@@nft\n@@loaded\n"
    )
    assert Guard.parse(0, output) == Guard({GUARD_RULES: RULES, GUARD_UNIT: "[Unit]\n"}, True, True)


def test_guard_absent():
    assert Guard.parse(0, "") == Guard({}, False, False)
    assert Guard.parse(0, "@@nft\n") == Guard({}, True, False)


def test_guard_command_here(sh):
    """The guard's command runs where its files and nft are missing: nothing found, exit 0."""
    rc, output = sh(Guard.command(SCOPE))
    assert rc == 0
    assert Guard.parse(rc, output).files == {}

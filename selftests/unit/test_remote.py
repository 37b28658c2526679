"""Safe change for real, on this machine (testinfra local backend) under a tmp dir.

Proves: a backup is taken once and never overwritten, the write is atomic (readers see the
old or the new file, never a mix), restore puts back the old file or removes a new one, and
links point where they should.
"""

from __future__ import annotations

import glob
import os
import stat
import threading

import pytest

from compliance.facts import files
from remediation.remote import Remote, temp_path
from selftests.unit.conftest import run_sh

SITE_OLD = "server { listen 80; }\n"
SITE_NEW = (
    "server {\n    listen 80;\n    location /ollama/ { proxy_pass http://10.0.3.55:11434; }\n}\n"
)


def backup_of(remote, path):
    return remote.backup_path(str(path))


def test_temp_path_is_a_hidden_sibling():
    assert temp_path("/etc/nginx/sites-enabled/ollama_proxy") == (
        "/etc/nginx/sites-enabled/.ollama_proxy.compliance-tmp"
    )


def test_backup_path_is_under_the_root_and_the_run_stamp(local_remote, backup_root):
    path = "/etc/nginx/sites-enabled/ollama_proxy"
    assert local_remote.backup_path(path) == f"{backup_root}/{local_remote.stamp}{path}"
    assert Remote(local_remote.host, "local").stamp != local_remote.stamp


def test_run_quotes_arguments_and_records_the_step(local_remote):
    step = local_remote.run("printf '%%s' %s", "a b; echo injected")
    assert (step.rc, step.output) == (0, "a b; echo injected")
    assert step.command == "printf '%s' 'a b; echo injected'"
    assert step.where == "local"
    assert local_remote.steps == [step]


def test_install_new_file(local_remote, tmp_path, backup_root):
    path = tmp_path / "sites-available" / "ollama_proxy"  # parent made on the way
    step = local_remote.install(str(path), SITE_NEW)
    assert step.rc == 0, step.output
    assert path.read_text() == SITE_NEW
    mode = path.stat()
    assert (stat.S_IMODE(mode.st_mode), mode.st_uid, mode.st_gid) == (0o644, 0, 0)
    assert not os.path.lexists(temp_path(str(path)))
    assert not os.path.lexists(backup_of(local_remote, path))  # nothing was there to keep
    assert step.command.startswith(f"install {path} (mode 0644, backup in {backup_root}/")


def test_install_over_a_file_backs_it_up_and_renames(local_remote, tmp_path):
    path = tmp_path / "ollama.service"
    path.write_text(SITE_OLD)
    os.chmod(path, 0o600)
    inode = path.stat().st_ino
    assert local_remote.install(str(path), SITE_NEW, "0640").rc == 0
    assert path.read_text() == SITE_NEW
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_ino != inode  # a new file renamed over, not rewritten in place
    backup = backup_of(local_remote, path)
    with open(backup) as kept:
        assert kept.read() == SITE_OLD
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600  # cp -a keeps the mode


def test_backup_is_never_overwritten(local_remote, tmp_path):
    path = tmp_path / "ollama_proxy"
    path.write_text(SITE_OLD)
    for content in ("second\n", "third\n", SITE_NEW):
        assert local_remote.install(str(path), content).rc == 0
    with open(backup_of(local_remote, path)) as kept:
        assert kept.read() == SITE_OLD
    assert local_remote.restore(str(path)).rc == 0
    assert path.read_text() == SITE_OLD


@pytest.mark.parametrize(
    "content",
    [
        "",
        "no final newline",
        "two\nlines\n",
        "\n\nleading blank lines\n\n",
        'it\'s $(id) `id` $HOME "dq" \\backslash %s %% \t tab\n',
        "-n starts with a dash\n",
        "unicode: llama 🦙 ü\n",
    ],
    ids=["empty", "no-eol", "lines", "blank-lines", "shell-chars", "dash", "unicode"],
)
def test_install_writes_the_exact_bytes(local_remote, tmp_path, content):
    path = tmp_path / "ollama.sh"
    assert local_remote.install(str(path), content).rc == 0
    assert path.read_bytes() == content.encode()
    rc, out = run_sh(files.file_command(str(path)))
    assert files.file_state(rc, out).text == content  # the probe reads it back exactly


def test_failed_install_leaves_the_old_file(local_remote, tmp_path):
    path = tmp_path / "etc" / "ollama_proxy"
    path.parent.mkdir()
    path.write_text(SITE_OLD)
    step = local_remote.install(str(path), SITE_NEW, mode="0999")  # chmod fails before mv
    assert step.rc != 0
    assert "invalid mode" in step.failure("could not write")  # chmod's own words
    assert path.read_text() == SITE_OLD
    assert os.listdir(path.parent) == ["ollama_proxy"]  # the failed write removed its temp


def test_clean_temps_removes_what_a_killed_run_left(local_remote, tmp_path):
    path = tmp_path / "ollama_proxy"
    left = tmp_path / ".ollama_proxy.compliance-tmp.AbC123"
    left.write_text("half")
    local_remote.clean_temps(str(path))
    assert not os.path.lexists(left)


def test_a_link_planted_at_the_old_temp_name_is_not_followed(local_remote, tmp_path):
    """Temp files are created exclusively under unguessable names (mktemp), so a symlink
    someone planted where a temp file used to go cannot redirect the write."""
    path, victim = tmp_path / "ollama.sh", tmp_path / "victim"
    victim.write_text("untouched\n")
    os.symlink(victim, temp_path(str(path)))
    assert local_remote.install(str(path), "new\n").rc == 0
    assert victim.read_text() == "untouched\n"
    assert path.read_text() == "new\n"


def test_readers_see_the_old_or_the_new_file_never_a_mix(local_remote, tmp_path):
    path = tmp_path / "ollama_proxy"
    old, new = "o" * 60000 + "\n", "n" * 60000 + "\n"
    path.write_text(old)
    seen, reads, stop = set(), [0], threading.Event()

    def reader():
        while not stop.is_set():
            with open(path) as handle:
                seen.add(handle.read())
            reads[0] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for content in (new, old) * 6:
            assert local_remote.install(str(path), content).rc == 0
    finally:
        stop.set()
        thread.join()
    assert reads[0] > 10
    assert seen <= {old, new}


def test_restore_puts_back_the_old_file(local_remote, tmp_path):
    path = tmp_path / "ollama.service"
    path.write_text(SITE_OLD)
    os.chmod(path, 0o640)
    local_remote.install(str(path), SITE_NEW)
    assert local_remote.restore(str(path)).rc == 0
    assert path.read_text() == SITE_OLD
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not os.path.lexists(temp_path(str(path)))


def test_restore_removes_a_file_that_was_not_there(local_remote, tmp_path):
    path = tmp_path / "ollama.sh"
    local_remote.install(str(path), SITE_NEW)
    assert path.exists()
    assert local_remote.restore(str(path)).rc == 0
    assert not os.path.lexists(path)


def test_restore_of_a_path_this_run_never_changed_leaves_it_alone(local_remote, tmp_path):
    absent, present = tmp_path / "untouched", tmp_path / "someone-elses"
    present.write_text("theirs\n")
    assert local_remote.restore(str(absent)) is None
    assert local_remote.restore(str(present)) is None
    assert not os.path.lexists(absent)
    assert present.read_text() == "theirs\n"  # no backup of ours does not mean "remove it"


def test_failed_backup_changes_nothing_and_restore_keeps_the_original(
    local_remote, tmp_path, backup_root
):
    path = tmp_path / "ollama_proxy"
    path.write_text(SITE_OLD)
    backup_root.write_text("a file where the backup directory should go\n")  # mkdir -p fails
    assert local_remote.install(str(path), SITE_NEW).rc != 0
    assert path.read_text() == SITE_OLD
    assert local_remote.restore(str(path)) is None  # nothing of ours to undo
    assert path.read_text() == SITE_OLD


def test_restore_after_two_installs_of_a_new_file_removes_it(local_remote, tmp_path):
    path = tmp_path / "ollama.sh"
    local_remote.install(str(path), "first\n")
    local_remote.install(str(path), "second\n")
    local_remote.restore(str(path))
    assert not os.path.lexists(path)


def test_link_creates_a_symlink_to_the_target(local_remote, tmp_path):
    site = tmp_path / "sites-available" / "ollama_proxy"
    site.parent.mkdir()
    site.write_text(SITE_NEW)
    link = tmp_path / "ollama_proxy_link"
    step = local_remote.link(str(link), str(site))
    assert step.rc == 0, step.output
    assert os.readlink(link) == str(site)
    assert link.read_text() == SITE_NEW
    assert not os.path.lexists(temp_path(str(link)))
    assert step.command == f"ln -sfn {site} {link}"


def test_link_repoints_and_restore_points_back(local_remote, tmp_path):
    old_target, new_target = tmp_path / "old_site", tmp_path / "new_site"
    old_target.write_text(SITE_OLD)
    new_target.write_text(SITE_NEW)
    link = tmp_path / "enabled"
    link.symlink_to(old_target)
    assert local_remote.link(str(link), str(new_target)).rc == 0
    assert os.readlink(link) == str(new_target)
    assert os.readlink(backup_of(local_remote, link)) == str(old_target)  # the link, kept
    assert local_remote.restore(str(link)).rc == 0
    assert os.readlink(link) == str(old_target)


def test_link_keeps_a_dangling_link_as_its_backup(local_remote, tmp_path):
    link = tmp_path / "enabled"
    link.symlink_to(tmp_path / "gone")
    assert local_remote.link(str(link), str(tmp_path / "site")).rc == 0
    assert os.readlink(backup_of(local_remote, link)) == str(tmp_path / "gone")
    local_remote.restore(str(link))
    assert os.readlink(link) == str(tmp_path / "gone")


def test_link_over_a_regular_file_and_back(local_remote, tmp_path):
    link = tmp_path / "enabled"
    link.write_text("a copy instead of a link\n")
    site = tmp_path / "site"
    site.write_text(SITE_NEW)
    assert local_remote.link(str(link), str(site)).rc == 0
    assert link.is_symlink()
    local_remote.restore(str(link))
    assert not link.is_symlink()
    assert link.read_text() == "a copy instead of a link\n"


def test_restore_of_a_link_that_was_not_there_removes_it(local_remote, tmp_path):
    link = tmp_path / "enabled"
    local_remote.link(str(link), str(tmp_path / "site"))
    assert link.is_symlink()
    local_remote.restore(str(link))
    assert not os.path.lexists(link)


def test_files_probe_reads_several_files_exactly(tmp_path):
    present, empty, absent = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    present.write_text("no newline at the end")
    empty.write_text("")
    (tmp_path / "d").mkdir()
    paths = (str(present), str(empty), str(absent), str(tmp_path / "d"))
    found = files.file_states(run_sh(files.files_command(*paths))[1])
    assert {path: state.text for path, state in found.items()} == {
        str(present): "no newline at the end",
        str(empty): "",  # absent files and directories are not listed
    }


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """`cat` writes to /dev/full: every write fails with the kernel's ENOSPC, as on a full
    filesystem (the real cat, so its error line is the real one)."""
    bin_dir = tmp_path / "full-bin"
    bin_dir.mkdir()
    fake = bin_dir / "cat"
    fake.write_text('#!/bin/sh\nexec /bin/cat "$@" > /dev/full\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_failed_write_names_the_os_reason_and_leaves_no_temp(local_remote, tmp_path, full_disk):
    path = tmp_path / "ollama_proxy"
    path.write_text(SITE_OLD)
    step = local_remote.install(str(path), SITE_NEW)
    assert step.rc != 0
    assert "No space left on device" in step.failure("could not write")
    assert "printf" not in step.output
    assert path.read_text() == SITE_OLD
    assert glob.glob(temp_path(str(path)) + "*") == []
    assert str(path) not in local_remote.touched  # nothing of ours to restore

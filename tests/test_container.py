"""Plan section 6.1: inside the container (PATH, systemd unit, journal, listener, direct API)."""

from __future__ import annotations

import pytest

from compliance import checks


@pytest.mark.fix("profile_d")
def test_ct_profile_script(ct):
    """/etc/profile.d/ollama.sh exists, root-owned, not group/world-writable, adds the bin dir."""
    ct.judge(checks.profile_script)


@pytest.mark.fix("profile_d")
def test_ct_login_path(ct):
    """A fresh login shell (`env -i bash -lc`) has /usr/local/bin on its PATH."""
    ct.judge(checks.login_path)


@pytest.mark.fix("profile_d")
def test_ct_which_ollama(ct):
    """In a login shell `command -v ollama` is /usr/local/bin/ollama, an executable file."""
    ct.judge(checks.which_ollama)


@pytest.mark.fix("systemd_unit")
def test_ct_unit_settings(ct):
    """The effective unit (drop-ins included) has the plan's command, host, restart and user."""
    ct.judge(checks.unit_settings)


@pytest.mark.fix("systemd_unit")
def test_ct_unit_enabled(ct):
    """`systemctl is-enabled ollama` is `enabled` (starts at boot)."""
    ct.judge(checks.unit_enabled)


@pytest.mark.fix("systemd_unit")
def test_ct_unit_active(ct):
    """ollama.service is active (running) and not crash-looping."""
    ct.judge(checks.unit_active)


@pytest.mark.fix("systemd_unit")
def test_ct_journal_clean(ct):
    """Since the last start the journal has `Listening on` and no bind/panic/permission error."""
    ct.judge(checks.journal_clean)


@pytest.mark.fix("systemd_unit")
def test_ct_listener(ct):
    """11434 listens on all interfaces (0.0.0.0, * or [::]), owned by the unit's MainPID."""
    ct.judge(checks.listener)


@pytest.mark.fix("systemd_unit")
def test_ct_direct_api(ct):
    """GET 127.0.0.1:11434/api/tags in the CT is 200 JSON with a well-formed `models` list."""
    ct.judge(checks.direct_api)

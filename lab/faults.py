"""The fault catalogue: each fault breaks one thing on top of the compliant state.

The checks a fault makes fail are not listed here: they are computed host-free from the facts
the fault leaves (selftests/unit/fault_facts.py), and the lab tests hold the live audit equal
to that computation. `own` is the check the fault is about and `phrase` what that check's
failure must say. `converges` is False for faults `--fix` must refuse (not ours,
not remediable). `shared` marks faults on the one nginx all lab containers share (a broken
config, a stopped or unreloaded nginx): a test using one must not run beside tests on other
containers, whose resets reload nginx. The self-tests derive their lists from this table.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from shlex import quote

from lab import config, container, nginx
from lab.plan import GUARD_LINE, site_for
from lab.shell import LabError, ct_run, host_run, wait_until

PANIC_BODY = '{"model":"llama3.2:1b","messages":[{"content":"hi"}]}'


@dataclass(frozen=True)
class Fault:
    """One named way to break the compliant lab."""

    name: str
    description: str
    apply: Callable[[int], None]
    shared: bool = False
    own: str = ""
    phrase: str = ""
    converges: bool = True
    profile: str = "plan"  # "hardened": applied on top of the hardened state, audited with it


def _ct(script: str) -> Callable[[int], None]:
    def run(ctid: int) -> None:
        ct_run(ctid, script, timeout=60)

    return run


ENV_FILE = "/etc/default/ollama"  # an operator's EnvironmentFile= (Debian's /etc/default)
ALL_SERVICES_DROPIN = "/etc/systemd/system/service.d/50-lab-env.conf"
WAIT_LOOPBACK = (
    " && i=0 && until ss -Htln 'sport = :11434' | grep -q '127.0.0.1:11434'; do"
    " i=$((i+1)); [ $i -le 150 ] || exit 1; sleep 0.1; done"
)


def _restarted_with(ctid: int, script: str) -> None:
    """Run `script`, reload systemd, restart Ollama, wait until it binds 127.0.0.1:11434."""
    ct_run(
        ctid,
        f"{script} && systemctl daemon-reload && systemctl restart ollama.service{WAIT_LOOPBACK}",
        timeout=60,
    )


def _unit_dropin_loopback(ctid: int) -> None:
    _restarted_with(
        ctid,
        f"mkdir -p {config.CT_DROPIN_DIR} && printf '%s\\n' '[Service]'"
        f" 'Environment=\"OLLAMA_HOST=127.0.0.1:11434\"' > {config.CT_DROPIN_DIR}/override.conf",
    )


# The operator's environment file, written as a shell script would be: systemd (252, the lab's)
# reads only line 2, continued onto line 3; line 5 is more of the comment its line 4 escapes,
# line 6 no name it takes (`export OLLAMA_HOST`).
ENV_FILE_TEXT = (
    "# the operator\n"
    "OLLAMA_HOST=127.0.0.1\\\n"
    ":11434\n"
    "# the old value, for reference \\\n"
    "OLLAMA_HOST=0.0.0.0:11434\n"
    "export OLLAMA_HOST=0.0.0.0:11434\n"
)
ENV_FILE_LINES = " ".join(quote(line) for line in ENV_FILE_TEXT.splitlines())


def _unit_env_file_loopback(ctid: int) -> None:
    _restarted_with(
        ctid,
        f"mkdir -p {config.CT_DROPIN_DIR}"
        f" && printf '%s\\n' '[Service]' 'EnvironmentFile=-{ENV_FILE}'"
        f" > {config.CT_DROPIN_DIR}/10-env-file.conf"
        f" && printf '%s\\n' {ENV_FILE_LINES} > {ENV_FILE}",
    )


def _unit_unset_host(ctid: int) -> None:
    _restarted_with(
        ctid,
        f"mkdir -p {config.CT_DROPIN_DIR} && printf '%s\\n' '[Service]'"
        f" 'UnsetEnvironment=OLLAMA_HOST' > {config.CT_DROPIN_DIR}/20-unset.conf",
    )


def _all_services_dropin_loopback(ctid: int) -> None:
    _restarted_with(
        ctid,
        f"mkdir -p {ALL_SERVICES_DROPIN.rsplit('/', 1)[0]} && printf '%s\\n' '[Service]'"
        f" 'Environment=OLLAMA_HOST=127.0.0.1:11434' > {ALL_SERVICES_DROPIN}",
    )


def _manager_env_loopback(ctid: int) -> None:
    _restarted_with(
        ctid,
        "systemctl set-environment OLLAMA_HOST=127.0.0.1:11434"
        f" && sed -i '/^Environment=.*OLLAMA_HOST/d' {config.CT_UNIT}",
    )


SLOW_START_S = 15  # the stand-in's startup delay in unit_slow_start_loopback (default 1.5 s)


def _unit_slow_start_loopback(ctid: int) -> None:
    """A host whose Ollama takes 15 s from `Listening on` to answering HTTP (scheduler and GPU
    discovery), bound to loopback by a drop-in: the fix's restart must wait for the answer."""
    ct_run(
        ctid,
        f"mkdir -p {config.CT_DROPIN_DIR} && printf '%s\\n' '[Service]'"
        f" 'Environment=OLLAMA_STANDIN_STARTUP_DELAY={SLOW_START_S}'"
        f" > {config.CT_DROPIN_DIR}/lab-startup.conf",
    )
    _unit_dropin_loopback(ctid)
    ct_run(
        ctid,
        "i=0; until curl -fs -o /dev/null http://127.0.0.1:11434/api/tags; do"
        " i=$((i+1)); [ $i -le 300 ] || exit 1; sleep 0.1; done",
        timeout=60,
    )


def _unit_not_reloaded(ctid: int) -> None:
    ct_run(ctid, f"sed -i 's/^RestartSec=3$/RestartSec=10/' {config.CT_UNIT}")
    wait_until(
        "systemd to report NeedDaemonReload=yes",
        lambda: "yes" in ct_run(ctid, "systemctl show -p NeedDaemonReload --value ollama").stdout,
        5,
    )


def _wait_journal(ctid: int, pattern: str, what: str) -> None:
    """Wait until a line of the service's current invocation matches `pattern` (grep)."""
    grep = (
        'journalctl -q -o cat -u ollama.service _SYSTEMD_INVOCATION_ID="$(systemctl show'
        f' -p InvocationID --value ollama.service)" | grep -q {shlex.quote(pattern)}'
    )
    wait_until(
        f"{what} to reach the journal",
        lambda: ct_run(ctid, grep, check=False).returncode == 0,
        10,
        0.2,
    )


def _journal_panic(ctid: int) -> None:
    code = ct_run(
        ctid,
        "curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json'"
        f" -d '{PANIC_BODY}' http://127.0.0.1:11434/api/chat",
        check=False,
    ).stdout
    if code != "500":
        raise LabError(f"the role-less chat answered {code!r}, not 500")
    _wait_journal(ctid, "panic recovered", "the panic")


# Paths anyone allowed through the proxy may ask for: gin logs each one in a request line.
REQUEST_LOG_PATHS = ("panic", "api/error", "Error:%20x", "permission%20denied")


def _request_log_panic_unit_disabled(ctid: int) -> None:
    """Requests for `/ollama/panic` and friends through the proxy (gin logs each path, 404),
    then the unit disabled: only unit_enabled fails, so its fix must not restart Ollama."""
    site = site_for(ctid)
    for path in REQUEST_LOG_PATHS:
        if (code := nginx.http_status(site.proxy_url + path)) != 404:
            raise LabError(f"{site.proxy_url}{path} answered {code}, not Ollama's 404")
    _wait_journal(ctid, "^.GIN.*permission", "the request lines")
    ct_run(ctid, "systemctl disable ollama.service 2>/dev/null")


def _service_hung(ctid: int) -> None:
    ct_run(
        ctid,
        "pid=$(systemctl show -p MainPID --value ollama.service)"
        ' && [ "$pid" -gt 0 ] && kill -STOP "$pid"'
        " && i=0 && until grep -q '^State:.*T' /proc/$pid/status; do"
        " i=$((i+1)); [ $i -le 50 ] || exit 1; sleep 0.1; done",
    )


def _rewrite_upstream(ctid: int, upstream: str) -> None:
    site = site_for(ctid)
    text = re.sub(
        r"proxy_pass http://[^;]+;", f"proxy_pass http://{upstream};", site.file.read_text()
    )
    site.write(text)


def _site_stale_ip(ctid: int) -> None:
    _rewrite_upstream(ctid, f"{config.STALE_UPSTREAM}:{config.OLLAMA_PORT}")
    nginx.reload()


# An operator's own lines around the plan's (issue 26): the fix must keep every one of them.
# The access list admits the lab's runner (127.0.0.1) and 10/8, by address or password.
OPERATOR_ACL = """\
        satisfy any;
        auth_basic "Ollama";
        auth_basic_user_file /etc/nginx/.lab-htpasswd;
        allow 127.0.0.1;
        allow 10.0.0.0/8;
        deny all;
"""
OPERATOR_TLS = f"""\
    listen 443 ssl; # operator: TLS for the LAN
    ssl_certificate {config.LAB_TLS_DIR}/ollama.pem;
    ssl_certificate_key {config.LAB_TLS_DIR}/ollama.key;
    client_max_body_size 2g;
"""
OPERATOR_TIMEOUTS = """\
        proxy_read_timeout 600s; # operator: long generations
        proxy_send_timeout 600s;
        proxy_connect_timeout 5s;
"""
STALE_PORT = 11999  # nothing listens there: the stale upstream answers 502


def _stale_port(text: str) -> str:
    return re.sub(r"(proxy_pass http://[^:;]+):\d+;", rf"\1:{STALE_PORT};", text, count=1)


def _site_operator_acl(ctid: int) -> None:
    site = site_for(ctid)
    text = site.file.read_text().replace(
        "    location /ollama/ {\n", "    location /ollama/ {\n" + OPERATOR_ACL, 1
    )
    site.write(_stale_port(text))
    nginx.reload()


def _site_operator_tls(ctid: int) -> None:
    config.LAB_TLS_DIR.mkdir(parents=True, exist_ok=True)
    key, cert = config.LAB_TLS_DIR / "ollama.key", config.LAB_TLS_DIR / "ollama.pem"
    if not cert.exists():
        subject = ["-subj", "/CN=ollama-lab", "-keyout", str(key), "-out", str(cert)]
        host_run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", *subject]
        )
    site = site_for(ctid)
    text = site.file.read_text().replace("    listen 80;\n", "    listen 80;\n" + OPERATOR_TLS, 1)
    text = text.replace(
        "proxy_http_version 1.1;\n", "proxy_http_version 1.1;\n" + OPERATOR_TIMEOUTS, 1
    )
    site.write(_stale_port(text))
    nginx.reload()


def _site_fs_full(ctid: int) -> None:
    """A stale upstream, and the site's filesystem full: a small tmpfs over sites-available
    (its files copied in first), filled up. reset unmounts it."""
    site = site_for(ctid)
    site.write(_stale_port(site.file.read_text()))
    nginx.reload()
    folder, name = quote(str(config.SITES_AVAILABLE)), quote(config.FULL_FS_NAME)
    host_run(
        f'set -e; keep=$(mktemp -d); cp -a {folder}/. "$keep"/;'
        f" mount -t tmpfs -o size=64k,mode=0755 {name} {folder};"
        f' cp -a "$keep"/. {folder}/; rm -rf "$keep";'
        f" dd if=/dev/zero of={folder}/.lab-fill bs=4k 2>/dev/null || true"
    )


def _site_wrong_port(ctid: int) -> None:
    site = site_for(ctid)
    site.write(site.file.read_text().replace("    listen 80;\n", "    listen 8080;\n", 1))
    nginx.reload()


def _site_not_enabled(ctid: int) -> None:
    site_for(ctid).link.unlink()
    nginx.reload()


def _in_site(ctid: int, old: str, new: str) -> None:
    """Our site with its first `old` replaced by `new` (not reloaded)."""
    site = site_for(ctid)
    site.write(site.file.read_text().replace(old, new, 1))


def _site_syntax_error(ctid: int) -> None:
    _in_site(ctid, "    listen 80;\n", "    listen 80;\n    lab_invalid_directive on;\n")


def _site_block_error(ctid: int) -> None:
    block = "    lab_invalid_block\n        on {\n        lab_inner on;\n    }\n"
    _in_site(ctid, "    listen 80;\n", "    listen 80;\n" + block)


def _other_site_broken(ctid: int) -> None:
    config.BROKEN_SITE.write_text(
        "server {\n    listen 8081;\n    server_name lab-broken.invalid;\n"
        "    lab_unknown_directive on;\n}\n"
    )


def _nginx_not_reloaded(ctid: int) -> None:
    site = site_for(ctid)
    good = site.file.read_text()
    _site_stale_ip(ctid)
    site.write(good)
    nginx.newer_than_workers(site.file)


def _unit_crash_loop(ctid: int) -> None:
    ct_run(
        ctid,
        f"sed -i 's|^ExecStart=.*|ExecStart=/bin/false|' {config.CT_UNIT}"
        " && systemctl daemon-reload && systemctl restart ollama.service; true",
    )
    wait_until(
        "the unit to restart itself at least once",
        lambda: (
            ct_run(ctid, "systemctl show -p NRestarts --value ollama").stdout.strip()
            not in ("", "0")
        ),
        15,
        0.2,
    )


def _unit_crash_loop_restarted(ctid: int) -> None:
    """Issue 15's crash loop: a person restarts the broken unit a second before the run, so
    systemd's first automatic restart is still pending (NRestarts=0) when the audit reads it."""
    ct_run(
        ctid,
        f"sed -i 's|^ExecStart=.*|ExecStart=/bin/sh -c \"exit 1\"|' {config.CT_UNIT}"
        " && systemctl daemon-reload && systemctl restart ollama.service; sleep 1",
    )


def _profile_text(text: str) -> Callable[[int], None]:
    """The profile script replaced by `text` (root:root 0644, as the plan's)."""
    return _ct(f"printf '%s' {shlex.quote(text)} > {config.CT_PROFILE}")


# Both pass a regex over `export PATH=` lines and a login shell (Debian's /etc/profile adds
# /usr/local/bin itself); only sourcing the script in a clean shell shows what it does.
PROFILE_INTERACTIVE_ONLY = (
    '#!/bin/sh\ncase $- in\n*i*)\n    export PATH="$PATH:/usr/local/bin"\n    ;;\nesac\n'
)
PROFILE_EXTRA_ENTRY = '#!/bin/sh\nexport PATH="$PATH:/usr/local/bin:."\n'


def _profile_symlink(ctid: int) -> None:
    """The profile script moved elsewhere and linked back: the same text, not our file."""
    ct_run(
        ctid,
        f"mv {config.CT_PROFILE} {config.CT_PROFILE_ELSEWHERE}"
        f" && ln -s {config.CT_PROFILE_ELSEWHERE} {config.CT_PROFILE}",
    )


def _site_header_missing(ctid: int) -> None:
    site = site_for(ctid)
    text = site.file.read_text()
    site.write(re.sub(r"\n *proxy_set_header X-Forwarded-Proto [^;]*;", "", text, count=1))
    nginx.reload()


def _site_shadowed(ctid: int) -> None:
    """Another enabled site, sorting before ours, claims our server_name on port 80."""
    name = site_for(ctid).server_name
    config.SHADOW_SITE.write_text(
        f"server {{\n    listen 80;\n    server_name {name};\n"
        "    location / {\n        return 404;\n    }\n}\n"
    )
    nginx.reload()


def _nginx_conf_include(replacement: str) -> None:
    """nginx.conf's `include .../sites-enabled/*;` rewritten (kept aside for reset)."""
    if not config.NGINX_CONF_ORIGINAL.exists():
        config.NGINX_CONF_ORIGINAL.write_text(config.NGINX_CONF.read_text())
    text = re.sub(
        r"^(\s*)(include /etc/nginx/sites-enabled/\*;)",
        replacement,
        config.NGINX_CONF.read_text(),
        flags=re.M,
    )
    config.NGINX_CONF.write_text(text)
    nginx.reload()


def _nginx_conf_no_sites(ctid: int) -> None:
    """nginx.conf no longer includes sites-enabled (a conf.d-style host): our link is unread."""
    _nginx_conf_include(r"\1# \2")


def _nginx_conf_conf_only(ctid: int) -> None:
    """nginx.conf reads only the `*.conf` names of sites-enabled: our link is unread."""
    _nginx_conf_include(r"\1include /etc/nginx/sites-enabled/*.conf;")


def _unit_gave_up(ctid: int) -> None:
    ct_run(
        ctid,
        f"sed -i 's|^ExecStart=.*|ExecStart=/bin/false|; s|^RestartSec=3$|RestartSec=100ms|'"
        f" {config.CT_UNIT} && systemctl daemon-reload && systemctl restart ollama.service; true",
    )
    wait_until(
        "systemd to give up restarting the unit (failed)",
        lambda: (
            ct_run(ctid, "systemctl show -p ActiveState --value ollama").stdout.strip() == "failed"
        ),
        15,
        0.2,
    )


def _site_link_dangling(ctid: int) -> None:
    site = site_for(ctid)
    site.link.unlink()
    site.link.symlink_to(f"{site.file}.gone")


def _site_file_missing(ctid: int) -> None:
    site_for(ctid).file.unlink()


def _site_mode_0666(ctid: int) -> None:
    site_for(ctid).file.chmod(0o666)


def _site_link_wrong(ctid: int) -> None:
    site = site_for(ctid)
    site.link.unlink()
    site.link.symlink_to(config.DEFAULT_SITE)


def _operator_dropin_unit_disabled(ctid: int) -> None:
    """The way Ollama's docs configure the service (`systemctl edit`), plus the operator's own
    OLLAMA_MODELS; the models moved there; the unit merely disabled."""
    models = f"{config.CT_OPERATOR_MODELS}/standin-models.json"
    ct_run(
        ctid,
        f"mkdir -p {config.CT_OPERATOR_MODELS} {config.CT_DROPIN_DIR}"
        f" && mv {config.CT_MODELS_FILE} {models}"
        f" && printf '%s\\n' '[Service]' 'Environment=\"OLLAMA_HOST=0.0.0.0:11434\"'"
        f" 'Environment=\"OLLAMA_MODELS={config.CT_OPERATOR_MODELS}\"'"
        f" > {config.CT_DROPIN_DIR}/override.conf"
        " && systemctl daemon-reload && systemctl restart ollama.service"
        " && systemctl disable ollama.service 2>/dev/null"
        " && i=0 && until curl -fs http://127.0.0.1:11434/api/tags | grep -q '\"name\"'; do"
        " i=$((i+1)); [ $i -le 150 ] || exit 1; sleep 0.1; done",
        timeout=60,
    )


def _installer_layout(ctid: int) -> None:
    """CT set up by Ollama's install.sh: User=ollama, models under /usr/share/ollama/.ollama."""
    home = config.CT_INSTALLER_HOME
    ct_run(
        ctid,
        f"id ollama >/dev/null 2>&1 || useradd -r -s /bin/false -U -m -d {home} ollama;"
        f" mkdir -p {home}/.ollama/models && mv {config.CT_MODELS_FILE} {home}/.ollama/models/"
        f" && chown -R ollama:ollama {home}/.ollama"
        f" && sed -i 's/^User=root$/User=ollama/; s/^Group=root$/Group=ollama/' {config.CT_UNIT}"
        " && systemctl daemon-reload && systemctl restart ollama.service"
        " && i=0 && until curl -fs http://127.0.0.1:11434/api/tags | grep -q '\"name\"'; do"
        " i=$((i+1)); [ $i -le 150 ] || exit 1; sleep 0.1; done",
        timeout=60,
    )


def _ct_frozen(ctid: int) -> None:
    container.freeze(ctid)


def _ct_locked_backup(ctid: int) -> None:
    """vzdump --mode suspend at its final sync: `lock: backup` in the config, the CT frozen."""
    config.pve_lock_mark(ctid).write_text("backup\n")
    container.freeze(ctid)


def _ct_stopped(ctid: int) -> None:
    container.stop(ctid)


def _all_convergeable(ctid: int) -> None:
    for name in ALL_CONVERGEABLE:
        FAULTS[name].apply(ctid)


ALL_CONVERGEABLE = (
    "no_profile_script",
    "unit_dropin_loopback",
    "unit_disabled",
    "site_stale_ip",
    "site_not_enabled",
)

_CATALOGUE = [
    Fault(
        "no_profile_script",
        "/etc/profile.d/ollama.sh removed",
        _ct(f"rm -f {config.CT_PROFILE}"),
        own="profile_script",
        phrase="does not exist",
    ),
    Fault(
        "profile_clobbers_path",
        "ollama.sh sets PATH=/usr/bin:/bin, so login shells lose /usr/local/bin",
        _ct(f"printf '#!/bin/sh\\nexport PATH=/usr/bin:/bin\\n' > {config.CT_PROFILE}"),
        own="login_path",
        phrase="/usr/local/bin",
    ),
    Fault(
        "profile_writable",
        "ollama.sh made group/world-writable (0666): any local user could change root's PATH",
        _ct(f"chmod 0666 {config.CT_PROFILE}"),
        own="profile_script",
        phrase="mode 666",
    ),
    Fault(
        "profile_interactive_only",
        "ollama.sh exports PATH only in interactive shells (`case $- in *i*`): a clean"
        " non-interactive shell gets no /usr/local/bin from it",
        _profile_text(PROFILE_INTERACTIVE_ONLY),
        own="profile_script",
        phrase="/usr/local/bin not added",
    ),
    Fault(
        "profile_extra_entry",
        'ollama.sh appends "." as well (`$PATH:/usr/local/bin:.`): root runs what the'
        " current directory holds",
        _profile_text(PROFILE_EXTRA_ENTRY),
        own="profile_script",
        phrase="also added '.'",
    ),
    Fault(
        "binary_missing",
        f"/usr/local/bin/ollama moved to {config.CT_HIDDEN_BINARY}; the service keeps running",
        _ct(f"mv -f {config.CT_BINARY} {config.CT_HIDDEN_BINARY}"),
        own="which_ollama",
        phrase="No such file",
        converges=False,
    ),
    Fault(
        "unit_dropin_loopback",
        "drop-in override.conf sets OLLAMA_HOST=127.0.0.1:11434; reloaded and restarted",
        _unit_dropin_loopback,
        own="listener",
        phrase="found:    127.0.0.1:11434",
    ),
    Fault(
        "unit_env_file_loopback",
        f"a drop-in loads EnvironmentFile=-{ENV_FILE}, whose OLLAMA_HOST=127.0.0.1:11434 (a"
        " value continued over two lines, then a line an escaped comment swallows and an"
        " `export` line systemd drops) wins over the unit's Environment=; restarted (the"
        " operator's file: refused)",
        _unit_env_file_loopback,
        own="unit_settings",
        phrase=f"{ENV_FILE}:2 (EnvironmentFile= of {config.CT_DROPIN_DIR}/10-env-file.conf:2)",
        converges=False,
    ),
    Fault(
        "unit_unset_host",
        "a drop-in says UnsetEnvironment=OLLAMA_HOST: Ollama binds its default 127.0.0.1:11434;"
        " restarted",
        _unit_unset_host,
        own="unit_settings",
        phrase=f"UnsetEnvironment=OLLAMA_HOST in {config.CT_DROPIN_DIR}/20-unset.conf:2",
    ),
    Fault(
        "all_services_dropin_loopback",
        f"{ALL_SERVICES_DROPIN} (a drop-in for every service) sets"
        " OLLAMA_HOST=127.0.0.1:11434; restarted (not ours: refused)",
        _all_services_dropin_loopback,
        own="unit_settings",
        phrase=f"OLLAMA_HOST=127.0.0.1:11434 from {ALL_SERVICES_DROPIN}:2",
        converges=False,
    ),
    Fault(
        "manager_env_loopback",
        "systemctl set-environment OLLAMA_HOST=127.0.0.1:11434 and the unit's own OLLAMA_HOST"
        " line removed; restarted (the plan's unit wins again)",
        _manager_env_loopback,
        own="unit_settings",
        phrase="OLLAMA_HOST=127.0.0.1:11434 from the manager's environment",
    ),
    Fault(
        "unit_slow_start_loopback",
        "unit_dropin_loopback on a server that answers HTTP 15 s after `Listening on` (a"
        " lab drop-in sets the stand-in's startup delay): the fix's restart waits for the answer",
        _unit_slow_start_loopback,
        own="listener",
        phrase="found:    127.0.0.1:11434",
    ),
    Fault(
        "unit_not_reloaded",
        "unit file edited on disk (RestartSec=10) without daemon-reload: NeedDaemonReload=yes",
        _unit_not_reloaded,
        own="unit_settings",
        phrase="NeedDaemonReload=yes",
    ),
    Fault(
        "unit_no_network_order",
        "the unit's `After=network-online.target` line removed (daemon-reloaded): at boot "
        "Ollama may start before the network is up",
        _ct(
            f"sed -i '/^After=network-online.target$/d' {config.CT_UNIT} && systemctl daemon-reload"
        ),
        own="unit_ordering",
        phrase="After=(none)",
    ),
    Fault(
        "unit_disabled",
        "systemctl disable ollama (still running)",
        _ct("systemctl disable ollama.service 2>/dev/null"),
        own="unit_enabled",
        phrase="disabled",
    ),
    Fault(
        "unit_stopped",
        "systemctl stop ollama (still enabled)",
        _ct("systemctl stop ollama.service"),
        own="unit_active",
        phrase="inactive (dead)",
    ),
    Fault(
        "journal_panic",
        "a role-less /api/chat request makes the server log 'panic recovered' (500)",
        _journal_panic,
        own="journal_clean",
        phrase="panic recovered",
    ),
    Fault(
        "request_log_panic_unit_disabled",
        "GET /ollama/panic, /ollama/api/error, ... through the proxy (gin logs each path, 404);"
        " then systemctl disable ollama: journal_clean stays green, the fix only enables",
        _request_log_panic_unit_disabled,
        own="unit_enabled",
        phrase="disabled",
    ),
    Fault(
        "service_hung",
        "SIGSTOP to the service's MainPID: still active and listening, requests hang",
        _service_hung,
        own="direct_api",
        phrase="no HTTP reply",
    ),
    Fault(
        "site_stale_ip",
        f"proxy_pass points at http://{config.STALE_UPSTREAM}:11434; reloaded",
        _site_stale_ip,
        own="site_file",
        phrase="proxy_pass http://127.0.0.55:11434",
    ),
    Fault(
        "site_wrong_port",
        "the site listens on 8080 instead of the plan's 80; reloaded",
        _site_wrong_port,
        own="site_file",
        phrase="listen 8080 (want 80)",
    ),
    Fault(
        "site_not_enabled",
        "the sites-enabled symlink removed; reloaded",
        _site_not_enabled,
        own="site_enabled",
        phrase="missing",
    ),
    Fault(
        "site_syntax_error",
        "an invalid directive added to the site file; not reloaded (old config still serves)."
        " Not a line of the plan's: --fix disables it, keeping its text as a comment",
        _site_syntax_error,
        shared=True,
        own="nginx_valid",
        phrase="our site",
    ),
    Fault(
        "site_block_error",
        "a block nginx rejects, its header over two lines, added to the site file; not"
        " reloaded. Not the plan's: --fix comments out every line of it, braces and all",
        _site_block_error,
        shared=True,
        own="nginx_valid",
        phrase="our site",
    ),
    Fault(
        "site_operator_acl",
        "an operator's access control in /ollama/ (`satisfy any`, auth_basic, allow 127.0.0.1"
        " and 10.0.0.0/8, deny all) around a stale upstream (proxy_pass port 11999)",
        _site_operator_acl,
        own="site_file",
        phrase="proxy_pass http://",
    ),
    Fault(
        "site_operator_tls",
        "an operator's TLS listen 443 with its certificate lines, body size and longer proxy"
        " timeouts around a stale upstream (proxy_pass port 11999)",
        _site_operator_tls,
        own="site_file",
        phrase="proxy_pass http://",
    ),
    Fault(
        "site_fs_full",
        "a stale upstream, and the site's filesystem full (a 64k tmpfs over sites-available,"
        " filled): the fix's write fails with the OS's reason",
        _site_fs_full,
        own="site_file",
        phrase="proxy_pass http://",
        converges=False,
    ),
    Fault(
        "other_site_broken",
        "sites-enabled/zz-lab-broken has an unknown directive; not reloaded",
        _other_site_broken,
        shared=True,
        own="nginx_valid",
        phrase="zz-lab-broken",
        converges=False,
    ),
    Fault(
        "nginx_stopped",
        "nginx -s quit: nothing listens on port 80",
        lambda ctid: nginx.quit_(),
        shared=True,
        own="nginx_running",
        phrase="not running",
    ),
    Fault(
        "nginx_not_reloaded",
        "nginx serves a stale-ip site; the correct file is back on disk, newer than the workers",
        _nginx_not_reloaded,
        shared=True,
        own="nginx_running",
        phrase="changed:",
    ),
    Fault(
        "ct_stopped",
        "the container is stopped (lxc-stop); checks inside it skip",
        _ct_stopped,
        own="ct_running",
        phrase="CT 955 stopped",
    ),
    Fault(
        "all_convergeable",
        "no_profile_script + unit_dropin_loopback + unit_disabled + site_stale_ip"
        " + site_not_enabled together: one --fix run must repair all",
        _all_convergeable,
    ),
]

_CATALOGUE += [
    Fault(
        "unit_crash_loop",
        "the unit's ExecStart=/bin/false (Restart=always): a crash loop; reloaded, restarting",
        _unit_crash_loop,
        own="unit_active",
        phrase="activating (auto-restart)",
    ),
    Fault(
        "unit_crash_loop_restarted",
        'ExecStart=/bin/sh -c "exit 1" (Restart=always), restarted by hand a second before'
        " the run: the first automatic restart still pending",
        _unit_crash_loop_restarted,
        own="unit_active",
        phrase="restarted",
    ),
    Fault(
        "unit_gave_up",
        "ExecStart=/bin/false with RestartSec=100ms: systemd stops restarting it (failed)",
        _unit_gave_up,
        own="unit_active",
        phrase="failed (failed)",
    ),
    Fault(
        "unit_writable",
        "the unit file made world-writable (0666): anyone could change what runs as root",
        _ct(f"chmod 0666 {config.CT_UNIT}"),
        own="unit_settings",
        phrase="mode 666 is group/world-writable",
    ),
    Fault(
        "site_link_dangling",
        "the sites-enabled link points at a file that does not exist; nginx -t fails there",
        _site_link_dangling,
        shared=True,
        own="nginx_valid",
        phrase="sites-enabled/ollama_proxy, our site",
    ),
    Fault(
        "site_file_missing",
        "the site file removed, its link left dangling; nginx -t fails on the link",
        _site_file_missing,
        shared=True,
        own="nginx_valid",
        phrase="our site",
    ),
    Fault(
        "site_link_wrong",
        "the sites-enabled link points at nginx's default site: a duplicate default server",
        _site_link_wrong,
        shared=True,
        own="nginx_valid",
        phrase="our site",
    ),
]

_CATALOGUE += [
    Fault(
        "profile_symlink",
        "/etc/profile.d/ollama.sh a symlink to the same script kept elsewhere",
        _profile_symlink,
        own="profile_is_file",
        phrase="a symlink to",
    ),
    Fault(
        "site_header_missing",
        "the site's `proxy_set_header X-Forwarded-Proto $scheme;` line removed",
        _site_header_missing,
        own="proxy_headers",
        phrase="X-Forwarded-Proto missing",
    ),
    Fault(
        "site_shadowed",
        "another enabled site (00-ollama-copy, sorting first) claims our server_name on port 80;"
        " nginx -t only warns, /ollama/ answers 404",
        _site_shadowed,
        own="site_served",
        phrase="00-ollama-copy:1 claims server_name",
        converges=False,
    ),
    Fault(
        "nginx_conf_no_sites",
        "nginx.conf no longer includes /etc/nginx/sites-enabled/*: our link is never read",
        _nginx_conf_no_sites,
        shared=True,
        own="site_served",
        phrase="nginx.conf includes no file of /etc/nginx/sites-enabled/",
        converges=False,
    ),
    Fault(
        "nginx_conf_conf_only",
        "nginx.conf includes only /etc/nginx/sites-enabled/*.conf: our link ollama_proxy"
        " (no .conf) is never read",
        _nginx_conf_conf_only,
        shared=True,
        own="site_served",
        phrase="its glob `*.conf` does not match the name `ollama_proxy`",
        converges=False,
    ),
    Fault(
        "unit_immutable",
        "RestartSec=10 in the unit, pinned by `chattr +i` as admins do: no fix can replace it",
        _ct(
            f"sed -i 's/^RestartSec=3$/RestartSec=10/' {config.CT_UNIT}"
            f" && systemctl daemon-reload && chattr +i {config.CT_UNIT}"
        ),
        own="unit_settings",
        phrase="RestartSec=10",
        converges=False,
    ),
    Fault(
        "site_writable",
        "the site file made world-writable (0666): anyone could repoint the proxy",
        _site_mode_0666,
        own="site_file",
        phrase="mode 666 is group/world-writable",
    ),
    Fault(
        "unit_masked",
        "the unit stopped, removed and masked (-> /dev/null): the admin chose it never runs",
        _ct(
            f"systemctl stop ollama.service && rm -f {config.CT_UNIT}"
            " && systemctl mask ollama.service && systemctl daemon-reload"
        ),
        own="unit_settings",
        phrase="LoadState=masked",
        converges=False,
    ),
    Fault(
        "operator_dropin_unit_disabled",
        "a `systemctl edit` drop-in with OLLAMA_HOST=0.0.0.0:11434 and the operator's own"
        " OLLAMA_MODELS (models moved there); the unit disabled",
        _operator_dropin_unit_disabled,
        own="unit_enabled",
        phrase="disabled",
    ),
    Fault(
        "installer_layout",
        "Ollama's installer layout: User=ollama, models in /usr/share/ollama/.ollama/models",
        _installer_layout,
        own="unit_settings",
        phrase="User=ollama (want root)",
        converges=False,
    ),
    Fault(
        "ct_frozen",
        "the CT frozen (lxc-freeze, as vzdump --mode suspend does): commands never run",
        _ct_frozen,
        own="unit_active",
        phrase="CT 955 is frozen (lxc-info: FROZEN",
        converges=False,
    ),
    Fault(
        "ct_locked_backup",
        "a backup in progress (vzdump --mode suspend): `lock: backup` in pct config and the CT"
        " frozen; pct set/start die `CT is locked (backup)`",
        _ct_locked_backup,
        own="unit_active",
        phrase="CT 955 is locked (backup)",
        converges=False,
    ),
]


def _standin_outdated(ctid: int) -> None:
    ct_run(
        ctid,
        f"mkdir -p {config.CT_DROPIN_DIR} && printf '%s\\n' '[Service]'"
        " 'Environment=OLLAMA_STANDIN_VERSION=0.17.0'"
        f" > {config.CT_DROPIN_DIR}/lab-version.conf"
        " && systemctl daemon-reload && systemctl restart ollama.service"
        " && i=0 && until curl -fs http://127.0.0.1:11434/api/version | grep -q 0.17.0; do"
        " i=$((i+1)); [ $i -le 150 ] || exit 1; sleep 0.1; done",
        timeout=60,
    )


def _site_buffered(ctid: int) -> None:
    site = site_for(ctid)
    site.write(site.file.read_text().replace("proxy_buffering off;", "proxy_buffering on;"))
    nginx.reload()


def _site_gzip_stream(ctid: int) -> None:
    gzip = "proxy_buffering on;\n        gzip on;\n        gzip_types application/x-ndjson;\n"
    _in_site(ctid, "proxy_buffering off;\n", gzip)
    nginx.reload()


def _onboot_off(ctid: int) -> None:
    host_run(["pct", "set", str(ctid), "-onboot", "0"])


def _ct_port_open(ctid: int) -> None:
    ct_run(ctid, "nft delete table inet ollama_guard; rm -f /etc/ollama-guard.nft")


# The guard as a person writes it when they think of IPv4 only: `ip saddr` never matches an
# IPv6 packet, so the plan's dual-stack bind stays open over IPv6 (loaded now and at boot).
IPV4_ONLY_GUARD = """\
table inet ollama_guard
delete table inet ollama_guard
table inet ollama_guard {{
    chain input {{
        type filter hook input priority filter; policy accept;
        tcp dport 11434 iifname "lo" accept
        tcp dport 11434 ip saddr != {host} drop
    }}
}}
"""


def _ct_guard_ipv4_only(ctid: int) -> None:
    rules = IPV4_ONLY_GUARD.format(host=config.BRIDGE_ADDRESS)
    container.write_file(ctid, "/etc/ollama-guard.nft", rules, "0644")
    ct_run(ctid, "nft -f /etc/ollama-guard.nft")


def _ct_guard_not_at_boot(ctid: int) -> None:
    """The guard stays loaded, but nftables.conf no longer includes it: a reboot opens it."""
    ct_run(ctid, "sed -i '/ollama-guard/d' /etc/nftables.conf && nft list table inet ollama_guard")


CLUSTER_FW = "# the lab's cluster firewall options (ollama-lxc-compliance)\n[OPTIONS]\nenable: 1\n"


def pve_firewall_on(ctid: int, rules: str, options: str = "", running: bool = True) -> None:
    """Proxmox's firewall on for the CT as a person turns it on: cluster.fw and <ctid>.fw
    `enable: 1`, net0 firewall=1, these [RULES], and the service running (`running`: the
    pve-firewall stand-in's status says so; no daemon filters anything here)."""
    config.PVE_FIREWALL_DIR.mkdir(parents=True, exist_ok=True)
    (config.PVE_FIREWALL_DIR / "cluster.fw").write_text(CLUSTER_FW)
    guest = f"[OPTIONS]\nenable: 1\n{options}\n[RULES]\n{rules}"
    (config.PVE_FIREWALL_DIR / f"{ctid}.fw").write_text(guest)
    config.nic_firewall_mark(ctid).write_text("firewall=1\n")
    if running:
        config.PVE_FIREWALL_RUNNING.write_text("the lab's pve-firewall stand-in: running\n")
    else:
        config.PVE_FIREWALL_RUNNING.unlink(missing_ok=True)


def _pve_firewall_open(ctid: int) -> None:
    _ct_port_open(ctid)
    pve_firewall_on(ctid, "IN ACCEPT -p tcp -dport 11434 # opened for a test, never closed\n")


def _pve_firewall_stopped(ctid: int) -> None:
    """Files that would close the port, their service stopped, no filter in the CT."""
    _ct_port_open(ctid)
    pve_firewall_on(
        ctid,
        f"IN ACCEPT -source {config.BRIDGE_ADDRESS} -p tcp -dport 11434\n"
        "IN DROP -p tcp -dport 11434\n",
        running=False,
    )


def _site_plan_only(ctid: int) -> None:
    site = site_for(ctid)
    site.write(site.render(container.ct_ip(ctid)))
    nginx.reload()


def _site_manage_open(ctid: int) -> None:
    site = site_for(ctid)
    text = site.file.read_text()
    if GUARD_LINE not in text:
        raise LabError(f"{site.file} has no `deny all;` guarding /ollama/")
    site.write(text.replace(GUARD_LINE, "\n        allow all;\n", 1))
    nginx.reload()


EXACT_PULL = """\
    location = /ollama/api/pull {{
        rewrite ^/ollama/(.*)$ /$1 break;
        proxy_pass http://{ct_ip}:11434;
    }}
"""


def _site_manage_exact_location(ctid: int) -> None:
    """An exact-match location for a write endpoint in our server: nginx picks it before any
    regex, so the guard inside `location /ollama/` never sees the request."""
    site = site_for(ctid)
    anchor = "    location /ollama/ {"
    location = EXACT_PULL.format(ct_ip=container.ct_ip(ctid))
    site.write(site.file.read_text().replace(anchor, location + anchor, 1))
    nginx.reload()


def _site_second_server(ctid: int) -> None:
    """Another enabled site (not ours) with a server on port 8081 proxying every path to the
    CT, unguarded: a copy an admin made for a tool that does not speak /ollama/."""
    config.SECOND_SITE.write_text(
        f"server {{\n    listen {config.SECOND_PORT};\n    server_name _;\n    location / {{\n"
        f"        proxy_pass http://{container.ct_ip(ctid)}:{config.OLLAMA_PORT};\n    }}\n}}\n"
    )
    nginx.reload()


def _site_short_timeout(ctid: int) -> None:
    site = site_for(ctid)
    site.write(site.file.read_text().replace("proxy_read_timeout 1h;", "proxy_read_timeout 60s;"))
    nginx.reload()


_CATALOGUE += [
    Fault(
        "ollama_outdated",
        "the server reports Ollama 0.17.0 (below the advisories' floor)",
        _standin_outdated,
        own="version_floor",
        phrase="CVE-2026-7020",
        converges=False,
        profile="hardened",
    ),
    Fault(
        "ct_onboot_off",
        "pct set -onboot 0: the CT stays down after a host reboot",
        _onboot_off,
        own="ct_onboot",
        phrase="onboot: 0",
        profile="hardened",
    ),
    Fault(
        "site_plan_only",
        "the plan's site without hardening: nginx defaults, model management open",
        _site_plan_only,
        own="manage_closed",
        phrase="reach the CT through location /ollama/",
        profile="hardened",
    ),
    Fault(
        "site_manage_open",
        "the guard of `location /ollama/` says `allow all` instead of `deny all`",
        _site_manage_open,
        own="manage_closed",
        phrase="reach the CT through location /ollama/",
        profile="hardened",
    ),
    Fault(
        "site_manage_exact_location",
        "`location = /ollama/api/pull` proxying to the CT added to our server: nginx picks an"
        " exact match before the guard's locations",
        _site_manage_exact_location,
        own="manage_closed",
        phrase="POST /ollama/api/pull reaches the CT through location = /ollama/api/pull",
        profile="hardened",
    ),
    Fault(
        "site_second_server",
        "another enabled site (zz-ollama-8081) proxies every path to the CT on port 8081,"
        " unguarded: not our file, so --fix refuses, naming it",
        _site_second_server,
        own="manage_closed",
        phrase="zz-ollama-8081:1) on port 8081 from any address",
        converges=False,
        profile="hardened",
    ),
    Fault(
        "ct_port_open",
        "no firewall in the CT: another machine on the bridge reaches 11434 directly",
        _ct_port_open,
        own="exposure",
        phrase="it answers netns:ollama-lan over IPv4",
        profile="hardened",
    ),
    Fault(
        "pve_firewall_open",
        "Proxmox's firewall filters the CT but admits 11434 from anyone; no filter in the CT",
        _pve_firewall_open,
        own="exposure",
        phrase="`IN ACCEPT -p tcp -dport 11434`; then accepted by no filter at all",
        converges=False,
        profile="hardened",
    ),
    Fault(
        "pve_firewall_stopped",
        "Proxmox's firewall files close 11434 for the CT, but pve-firewall is stopped; no"
        " filter in the CT",
        _pve_firewall_stopped,
        own="exposure",
        phrase="pve-firewall is not running (Status: enabled/stopped): its rules are not applied",
        converges=False,
        profile="hardened",
    ),
    Fault(
        "ct_guard_ipv4_only",
        "the CT's guard drops other IPv4 clients only (`ip saddr != <host> drop`): IPv6 clients"
        " still reach 11434 over the CT's link-local address",
        _ct_guard_ipv4_only,
        own="exposure",
        phrase="IPv6: a client such as",
        profile="hardened",
    ),
    Fault(
        "ct_guard_not_at_boot",
        "the guard is loaded now, but nothing loads it at boot (nftables.conf no longer"
        " includes it): the port opens when the CT restarts",
        _ct_guard_not_at_boot,
        own="exposure",
        phrase="by the rules loaded at boot",
        profile="hardened",
    ),
    Fault(
        "site_buffered",
        "proxy_buffering on (nginx's default): streamed tokens may come in bursts",
        _site_buffered,
        own="proxy_llm_ready",
        phrase="proxy_buffering on",
        profile="hardened",
    ),
    Fault(
        "site_gzip_stream",
        "buffering back on, with gzip for application/x-ndjson: nginx holds the stream to the end",
        _site_gzip_stream,
        own="proxy_streams",
        phrase="the first chunk well before the last",
        profile="hardened",
    ),
    Fault(
        "site_short_timeout",
        "proxy_read_timeout 60s: slow model loads and long generations end with 504",
        _site_short_timeout,
        own="proxy_llm_ready",
        phrase="proxy_read_timeout 60s (want >= 600s)",
        profile="hardened",
    ),
]

FAULTS: dict[str, Fault] = {fault.name: fault for fault in _CATALOGUE}

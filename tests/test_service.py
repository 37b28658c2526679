"""Plan sections 4 and 6.1.2-6.1.4: the systemd unit, its journal, the listener, the API."""

from __future__ import annotations

from compliance import plan
from compliance.catalogue import check
from compliance.catalogue.ollama_api import tags_problems
from compliance.catalogue.verdict import Subject, Verdict, failed, passed
from compliance.facts.http import DirectTags
from compliance.facts.net import Listeners
from compliance.facts.systemd import (
    Journal,
    MainProcessEnv,
    UnitEnabled,
    UnitFiles,
    UnitHistory,
    UnitState,
    host_in_force,
)
from compliance.syntax import systemd
from compliance.syntax.ollama import OllamaHost, ollama_host

ORDER = 3
CRASH_WINDOW_S = 30  # a process Restart= brought back must stay up this long to count as healed
HISTORY_SHOWN = 3  # systemd's last messages about the unit, in a failure


def _unit_loaded(s: Subject) -> Verdict | None:
    unit = s[UnitState]
    if not unit.loaded:
        return failed(
            f"{plan.UNIT_NAME} is installed (LoadState=loaded)",
            f"LoadState={unit.get('LoadState', '?')}",
        )
    return None


def _same_bind(a: OllamaHost, b: OllamaHost) -> bool:
    """Whether two OLLAMA_HOST values bind the same socket (a restart would change nothing)."""
    if a.all_interfaces and b.all_interfaces:
        return a.port == b.port
    return (a.host, a.port) == (b.host, b.port)


@check("ct", "6.1.2", "systemd_unit")
def unit_settings(s: Subject) -> Verdict:
    """The effective unit (drop-ins included) has the plan's command, host, restart and user."""
    if (missing := _unit_loaded(s)) is not None:
        return missing
    want = plan.UNIT
    unit = s[UnitState]
    path, argv = unit.exec_start
    host = host_in_force(unit, s[UnitFiles], s[MainProcessEnv])
    bind = ollama_host(host.value or "")
    wrong = []
    if path != want.binary or argv != want.exec_start:
        shown = argv if path in ("", want.binary) else f"{path} as {argv}"
        wrong.append(f"ExecStart={shown or '(none)'} (want {want.exec_start})")
    if not (bind.all_interfaces and bind.port == want.bind.port):
        wrong.append(f"{host.shown} (want {want.ollama_host})")
    if unit.get("Restart") != want.restart:
        wrong.append(f"Restart={unit.get('Restart')} (want {want.restart})")
    if unit.restart_sec != want.restart_sec:
        wrong.append(f"RestartSec={unit.get('RestartUSec')} (want {want.restart_sec:g}s)")
    for key, wanted in (("User", want.user), ("Group", want.group)):
        if unit.get(key) != wanted:
            wrong.append(f"{key}={unit.get(key) or '(unset)'} (want {wanted})")
    if unit.get("NeedDaemonReload") != "no":
        wrong.append("NeedDaemonReload=yes: the unit changed on disk, systemd runs the old one")
    for file, state in sorted(s[UnitFiles].files.items()):
        wrong += [f"{file}: {problem}" for problem in state.unsafe()]
    live = s[MainProcessEnv]
    running = live.env.get("OLLAMA_HOST")
    if live.running and not _same_bind(ollama_host(running or ""), bind):
        wrong.append(
            f"the running process has OLLAMA_HOST={running or '(unset)'}, a restart would "
            f"start it with {host.shown} (restart pending)"
        )
    notes = (f"drop-ins in effect: {' '.join(unit.dropins)}",) if unit.dropins else ()
    if wrong:
        return failed("the plan's [Service] settings in effect", "; ".join(wrong), *notes)
    return passed(*notes)


NETWORK_ONLINE = "network-online.target"


def _ordered_after(files: dict[str, str]) -> list[str]:
    """`After=` as systemd merges it: the unit file's, then each drop-in's in file-name order
    (an empty `After=` clears what came before)."""
    dropins = sorted((p for p in files if p != plan.UNIT_PATH), key=lambda p: p.rsplit("/", 1)[1])
    paths = [plan.UNIT_PATH, *dropins]
    after: list[str] = []
    for path in paths:
        for key, value in systemd.unit_file(files[path]).get("Unit", ()):
            if key == "After":
                after = after + value.split() if value else []
    return after


@check("ct", "4", "systemd_unit")
def unit_ordering(s: Subject) -> Verdict:
    """The unit (with its drop-ins) orders itself `After=network-online.target`."""
    files = {path: state.text for path, state in s[UnitFiles].files.items()}
    if plan.UNIT_PATH not in files:
        return failed(f"{plan.UNIT_PATH} with After={NETWORK_ONLINE}", "no unit file")
    after = _ordered_after(files)
    if NETWORK_ONLINE not in after:
        return failed(f"After={NETWORK_ONLINE}", f"After={' '.join(after) or '(none)'}")
    return passed()


@check("ct", "6.1.2", "systemd_unit")
def unit_enabled(s: Subject) -> Verdict:
    """`systemctl is-enabled ollama` is `enabled` (starts at boot)."""
    state = s[UnitEnabled].state or "(no answer)"
    return passed() if state == "enabled" else failed("enabled", state)


def _history(s: Subject) -> str:
    """systemd's last messages about the unit, for a failure's evidence."""
    events = s[UnitHistory].events[-HISTORY_SHOWN:]
    return "; ".join(event.message for event in events) or "no messages from systemd"


@check("ct", "6.1.2", "systemd_unit", restart_heals=True)
def unit_active(s: Subject) -> Verdict:
    """ollama.service is active (running) and not crash-looping."""
    if (missing := _unit_loaded(s)) is not None:
        return missing
    unit = s[UnitState]
    exit_note = f", last exit: {unit.last_exit}" if unit.last_exit else ""
    if not unit.running:
        return failed(
            "active (running)",
            f"{unit.state}{exit_note}, restarted {unit.restarts} times by Restart=; "
            f"systemd says: {_history(s)}",
        )
    age = unit.started_ago
    recent = age is not None and age < CRASH_WINDOW_S
    by_restart = s[UnitHistory].started_by_restart(unit.get("InvocationID"))
    # The current invocation decides: a start by a job (a person, a fix, boot) is judged as it
    # runs now; one that systemd's Restart= made after a crash must have stayed up a while.
    # Without a journal record, the restart counter is the only witness left.
    if recent and (by_restart or (by_restart is None and unit.restarts)):
        how = "by Restart=" if by_restart else f"with NRestarts={unit.restarts}, journal silent"
        return failed(
            f"no crash loop (a process Restart= brought back stays up {CRASH_WINDOW_S} s)",
            f"restarted {how} {age}s ago{exit_note} ({unit.restarts} restarts); "
            f"systemd says: {_history(s)}",
        )
    if by_restart:
        return passed(f"restarted by Restart= after a crash, up for {age}s since")
    return passed()


@check("ct", "6.1.2", "systemd_unit", restart_heals=True)
def journal_clean(s: Subject) -> Verdict:
    """Since the last start the journal has `Listening on` and none of Ollama's own error lines
    (slog `level=ERROR`, `Error:`, `panic:`, bind/permission errors; gin's request lines,
    whatever path a client asked for, are not errors)."""
    journal = s[Journal]
    if not journal.recorded:
        return failed("a recorded start", "no invocation of the unit")
    if journal.errors:
        first = journal.errors[0]
        return failed(
            "no bind/panic/permission errors", f"{len(journal.errors)} error lines, first: {first}"
        )
    if not journal.listening:
        return failed("a `Listening on ...` line", "no such line since the last start")
    return passed()


@check("ct", "6.1.3", "systemd_unit", restart_heals=True)
def listener(s: Subject) -> Verdict:
    """11434 listens on all interfaces (0.0.0.0, * or [::]), owned by the unit's MainPID."""
    listeners = s[Listeners].items
    if not listeners:
        return failed(f"a listener on port {plan.PORT}", f"nothing listens on {plan.PORT}")
    wide = [item for item in listeners if item.all_interfaces]
    where = ", ".join(f"{item.address}:{item.port}" for item in listeners)
    if not wide:
        return failed(f"{plan.PORT} on all interfaces (0.0.0.0, * or [::])", where)
    main_pid = s[UnitState].main_pid
    owners = sorted({pid for item in wide for pid in item.pids})
    if main_pid not in owners:
        return failed(f"owned by the unit's MainPID {main_pid}", f"pids {owners}")
    return passed(f"listener {where}: {wide[0].stacks} stack")


@check("ct", "6.1.4", "systemd_unit", restart_heals=True)
def direct_api(s: Subject) -> Verdict:
    """GET 127.0.0.1:11434/api/tags in the CT is 200 JSON with a well-formed `models` list."""
    models, problems = tags_problems(s[DirectTags].reply)
    if problems:
        return failed("200 JSON {models: [...]}", "; ".join(problems))
    names = ", ".join(str(m.get("name")) for m in models) or "none"
    return passed(f"{len(models)} models: {names}")

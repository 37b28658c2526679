"""The running service's health, as the audit judges it and the systemd_unit fix waits for it.

Each function reads its facts through a Target (so they are logged as evidence) and fails it
with expected/found when the condition does not hold. One definition serves the checks in
tests/test_container.py and the fix's "healthy after restart" wait, so the two cannot drift.
"""

from __future__ import annotations

from compliance import parsers
from compliance.evidence import CheckFailed
from compliance.facts import FactStore
from compliance.ollama_api import tags_problems
from compliance.targets import Target


def unit_properties(ct: Target) -> dict[str, str]:
    """`systemctl show` of ollama.service; fails unless the unit is installed."""
    props = parsers.systemctl_show(ct.fact("unit_show").output)
    ct.require(
        props.get("LoadState") == "loaded",
        "ollama.service is installed (LoadState=loaded)",
        f"LoadState={props.get('LoadState', '?')}",
    )
    return props


def require_running(ct: Target) -> dict[str, str]:
    """The unit is active (running); returns its properties."""
    props = unit_properties(ct)
    state = f"{props.get('ActiveState')} ({props.get('SubState')})"
    ct.require(state == "active (running)", "active (running)", state)
    return props


def require_clean_journal(ct: Target) -> None:
    """Since the last start: a `Listening on` line and no bind/panic/permission error."""
    fact = ct.fact("journal")
    ct.require(fact.ok or "no invocation" not in fact.output, "a recorded start", fact.output)
    listening, errors = parsers.journal_problems(fact.output)
    if errors:
        ct.fail("no bind/panic/permission errors", f"{len(errors)} error lines, first: {errors[0]}")
    ct.require(listening, "a `Listening on ...` line", "no such line since the last start")


def require_wide_listener(ct: Target) -> None:
    """11434 listens on all interfaces (0.0.0.0, * or [::]), owned by the unit's MainPID."""
    fact = ct.fact("listen")
    listeners = [item for item in parsers.ss_listeners(fact.output) if item.port == 11434]
    ct.require(bool(listeners), "a listener on port 11434", "nothing listens on 11434")
    wide = [item for item in listeners if item.all_interfaces]
    where = ", ".join(f"{item.address}:{item.port}" for item in listeners)
    ct.require(bool(wide), "11434 on all interfaces (0.0.0.0, * or [::])", where)
    main_pid = int(parsers.systemctl_show(ct.fact("unit_show").output).get("MainPID", "0") or 0)
    owners = sorted({pid for item in wide for pid in item.pids})
    ct.require(main_pid in owners, f"owned by the unit's MainPID {main_pid}", f"pids {owners}")
    ct.note(f"listener {where}: {wide[0].stacks} stack")


def require_tags(ct: Target) -> None:
    """GET 127.0.0.1:11434/api/tags in the CT is 200 JSON with a well-formed `models` list."""
    reply = parsers.curl_reply(ct.fact("direct_tags").output)
    models, problems = tags_problems(reply)
    ct.require(not problems, "200 JSON {models: [...]}", "; ".join(problems))
    ct.note(f"{len(models)} models: {', '.join(str(m.get('name')) for m in models) or 'none'}")


def unhealthy(store: FactStore) -> str | None:
    """None when the service runs, listens wide, answers and logged a clean start; else why.

    The crash-loop condition of the unit_active check is left out on purpose: right after a
    restart the last start is always recent.
    """
    view = Target(store, "ct", store.where)
    try:
        require_running(view)
        require_wide_listener(view)
        require_tags(view)
        require_clean_journal(view)
    except CheckFailed as failed:
        return f"expected {failed.expected}, found {failed.found}"
    return None

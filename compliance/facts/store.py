"""The facts of one target, gathered in one round trip and kept in two views.

The first read of a target runs every fact of its batch in one shell script, so an audit
costs one remote command per target instead of one per check. What a target answered first
is its **audit view**, kept for the whole session: every check's audit verdict is judged on
it, whatever a fix changes later (so which check a fix is credited to does not depend on the
order the checks run in). A fix invalidates the **live view** only; re-checks read that, and
it is gathered again on its next read.
"""

from __future__ import annotations

import secrets
import shlex
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from compliance.facts import Fact, Observation, Scope, batch_facts
from compliance.settings import Settings, Site

Runner = Callable[[str], tuple[int, str]]  # a shell script -> (exit code, merged output)
Key = tuple[type[Fact], str, tuple[str, ...]]  # (fact, the ctid it is about or "", arguments)
F = TypeVar("F", bound=Fact)

TIMED_OUT = (124, 137)  # coreutils `timeout`: TERM at the deadline, KILL if that was ignored
KILL_AFTER_S = 1  # a fact's command that ignores TERM at its bound is killed this much later


class GatherError(RuntimeError):
    """The batch itself failed (transport down, container gone, garbled output)."""


class FactTimedOut(GatherError):
    """One fact's command ran past its own bound (its batch's other facts were read)."""


class FactTooLarge(FactTimedOut):
    """One fact's command printed more than the suite reads of it (its output was cut)."""


def key_name(key: Key) -> str:
    fact, ctid, args = key
    return ":".join((fact.name(), ctid, *args)) if ctid or args else fact.name()


def bounded(command: str, seconds: float, max_bytes: int) -> str:
    """`command` under its own deadline and byte cap: a fact that blocks ends at its bound
    (exit 124), one that floods is cut one byte past its cap (the reader sees it is over),
    and the batch goes on with the next fact. Its exit code comes back through fd 5, since a
    pipe into `head` would hide it."""
    inner = f"timeout -k {KILL_AFTER_S} {seconds:g} /bin/sh -c {shlex.quote(command)}"
    return (
        f"exec 4>&1; rc=$( {{ {{ {inner} 2>&1; echo $? >&5; }} | head -c {max_bytes + 1} >&4;"
        ' } 5>&1 ); exit "${rc:-1}"'
    )


def batch_script(commands: Iterable[tuple[str, str]], marker: str) -> str:
    """One /bin/sh script running each (name, command) in a subshell, framed by marker lines."""
    parts = []
    for name, command in commands:
        parts.append(
            f"printf '%s\\n' '@@{marker} {name}'\n"
            f"( {command}\n) </dev/null 2>&1\n"
            f"printf '\\n@@{marker} rc %s\\n' \"$?\""
        )
    return "\n".join(parts) + "\n"


def parse_batch(output: str, marker: str) -> dict[str, tuple[int, str]]:
    """Split a batch's output into {name: (rc, output)}."""
    results: dict[str, tuple[int, str]] = {}
    head = f"@@{marker} "
    name: str | None = None
    lines: list[str] = []
    for line in output.split("\n"):
        if not line.startswith(head):
            if name is not None:
                lines.append(line)
            continue
        word = line[len(head) :]
        if word.startswith("rc ") and name is not None:
            text = "\n".join(lines)
            results[name] = (int(word[3:]), text[:-1] if text.endswith("\n") else text)
            name, lines = None, []
        else:
            name, lines = word, []
    return results


Reading = tuple[Any, Observation]


def _unless_timed_out(reading: Reading) -> Reading:
    """A reading, or its fact's own timeout raised (the checks that read it fail, saying so)."""
    if isinstance(reading[0], FactTimedOut):
        raise reading[0]
    return reading


class FactStore:
    """The facts of one target (the host, one container, or the runner for one container)."""

    def __init__(
        self,
        where: str,
        label: str,
        run: Runner,
        settings: Settings,
        sites: Sequence[Site] = (),
        own_site: Site | None = None,
        host_address: str = "",
    ) -> None:
        self.where = where  # "ct", "host" or "runner"
        self.label = label  # shown in evidence: `ct 955 on proxmox`
        self._run = run
        self.settings = settings
        self._sites = {site.ctid: site for site in sites}
        self._own_site = own_site
        self.host_address = host_address
        self.batch: list[Key] = [(f, "", ()) for f in batch_facts(where, settings, per_ct=False)]
        self.batch += [
            (f, site.ctid, ()) for site in sites for f in batch_facts(where, settings, True)
        ]
        self._first: dict[Key, Reading] = {}
        self._live: dict[Key, Reading] = {}
        self._lock = threading.Lock()
        self._mine = threading.local()  # `since`: this thread's reads want facts newer than it
        self._live_since = 0.0  # when the gather that began the live view started
        self._timed_out: GatherError | None = None  # a batch that hit its deadline
        self.round_trips = 0

    @property
    def timed_out(self) -> bool:
        """Whether a batch of this target hit its deadline (it stays stuck for the session)."""
        return self._timed_out is not None

    def scope(self, ctid: str) -> Scope:
        site = self._sites.get(ctid) if ctid else self._own_site
        return Scope(self.settings, site, self.host_address)

    def read(self, key: Key, live: bool = False) -> Reading:
        """A fact's value and the observation behind it: from the audit view (what the target
        answered first) or, `live`, from the target as it is since the last change."""
        with self._lock:
            if not live and key in self._first:
                return _unless_timed_out(self._first[key])
            if live and self._live_since < getattr(self._mine, "since", 0.0):
                self._live.clear()  # older than this thread's change: read it again
            if not self._live:
                self._live_since = time.monotonic()
            if key not in self._live:
                missing = [k for k in self.batch if k not in self._live]
                self._gather([*missing, *([key] if key not in missing else [])])
            return _unless_timed_out(self._live[key])

    def prefetch(self) -> None:
        """Gather the whole batch now (the session warms all targets in parallel)."""
        with self._lock:
            missing = [k for k in self.batch if k not in self._live]
            if missing:
                self._gather(missing)

    def drift_view(self) -> dict[str, str]:
        """The audit view's tracked properties (`Fact.drift`), as `fact: property` -> value."""
        with self._lock:
            readings = list(self._first.items())
        return {
            f"{key_name(key)}: {name}": value
            for key, (fact, _observation) in sorted(readings, key=lambda kv: key_name(kv[0]))
            for name, value in fact.drift().items()
        }

    def stale_for_me(self) -> None:
        """Forget the live view for this thread's next reads only: a read by any thread that
        began after now serves them (the fixes of a host's CTs, each in its thread, share one
        re-read of the host instead of each forcing its own)."""
        self._mine.since = time.monotonic()

    def invalidate(self) -> None:
        """Forget the live view: the target may have changed (a fix ran).

        A target that hit its deadline stays stuck for the session: a frozen CT does not thaw
        because a fix ran, and every re-read would wait the whole deadline again.
        """
        with self._lock:
            self._live.clear()

    def _gather(self, keys: list[Key]) -> None:
        """Run the keys' commands in one batch and parse each output into its fact."""
        if self._timed_out is not None:
            raise self._timed_out
        named = {key_name(key): key for key in keys}
        commands = {
            name: key[0].command(self.scope(key[1]), *key[2]) for name, key in named.items()
        }
        self.round_trips += 1
        results = self._execute(self._bounded(commands, named))
        for name, key in named.items():
            rc, text = results[name]
            fact = key[0]
            observation = Observation(name, self.label, commands[name], rc, text, fact.label)
            value: Any
            if self.bounds_facts and len(text.encode()) > fact.max_bytes:
                value = FactTooLarge(
                    f"{self.label}: {name} printed more than the {fact.max_bytes} bytes the "
                    f"suite reads of it ({fact.label or commands[name]}): not judged"
                )
            elif rc in TIMED_OUT and self.bounds_facts:
                value = FactTimedOut(
                    f"{self.label}: {name} gave no answer within its bound of "
                    f"{self._bound(fact):g} s ({fact.label or commands[name]})"
                )
            else:
                value = fact.parse(rc, text)
            reading = (value, observation)
            self._live[key] = reading
            self._first.setdefault(key, reading)

    bounds_facts = True  # shell facts run under their own deadline (the runner's are requests)

    def _bound(self, fact: type[Fact]) -> float:
        return min(fact.bound, float(self.settings.command_timeout))

    def _bounded(self, commands: dict[str, str], named: dict[str, Key]) -> dict[str, str]:
        if not self.bounds_facts:
            return commands
        return {
            name: bounded(command, self._bound(named[name][0]), named[name][0].max_bytes)
            for name, command in commands.items()
        }

    def _execute(self, commands: dict[str, str]) -> dict[str, tuple[int, str]]:
        marker = secrets.token_hex(6)
        rc, output = self._run(batch_script(commands.items(), marker))
        parsed = parse_batch(output, marker)
        missing = [name for name in commands if name not in parsed]
        if missing:
            excerpt = output.strip()[-300:] or "(no output)"
            if rc in TIMED_OUT:
                excerpt = f"timed out before {missing[0]} finished; {excerpt}"
            error = GatherError(f"{self.label}: facts could not be read (exit {rc}): {excerpt}")
            if rc in TIMED_OUT:
                self._timed_out = error
            raise error
        return parsed


class RunnerStore(FactStore):
    """The runner's facts about one container: each request made on its own (HTTP)."""

    def __init__(
        self,
        label: str,
        request: Callable[[str], tuple[int, str]],
        settings: Settings,
        own_site: Site,
        host_address: str,
    ) -> None:
        super().__init__(
            "runner", label, _no_shell, settings, own_site=own_site, host_address=host_address
        )
        self._request = request  # `<METHOD> <url>` -> (rc, output)

    bounds_facts = False  # each request carries its own deadline

    def _execute(self, commands: dict[str, str]) -> dict[str, tuple[int, str]]:
        """Every request at once (each bounded by its own deadline)."""
        if len(commands) == 1:
            return {name: self._request(command) for name, command in commands.items()}
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            jobs = {name: pool.submit(self._request, command) for name, command in commands.items()}
            return {name: job.result() for name, job in jobs.items()}


def _no_shell(script: str) -> tuple[int, str]:
    raise AssertionError("the runner's facts are requests, not shell scripts")

"""Facts: named read-only probes, gathered in one round trip per target and cached.

A check asks for a fact by name; the first request runs every registered probe of
that target in a single shell script, so an audit costs one remote command per
target instead of one per check. A fix invalidates the target's cache: the re-check
that follows sees the new state.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Runner = Callable[[str], tuple[int, str]]
T = TypeVar("T")

TIMED_OUT = (124, 137)  # coreutils `timeout`: TERM at the deadline, KILL if that was ignored


def output_text(rc: int, output: str) -> str:
    """The default parser: the probe's output as it is."""
    return output


@dataclass(frozen=True)
class Probe(Generic[T]):
    """A named shell command and the parser that turns its output into one typed fact.

    `target` says where it runs: "ct" (inside the container), "host" (the Proxmox host) or
    "runner" (the machine running pytest). Values inside `command` are pre-quoted.
    """

    name: str
    command: str
    label: str = ""  # shown in evidence instead of a long script
    parse: Callable[[int, str], T] = field(default=output_text, compare=False)  # type: ignore[assignment]
    target: str = "ct"


@dataclass(frozen=True)
class Fact:
    """What a probe returned: exit code and merged stdout+stderr, with where it ran."""

    name: str
    where: str
    command: str
    rc: int
    output: str
    label: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def shown(self) -> str:
        """The command as evidence shows it (its label, for long scripts)."""
        return self.label or self.command


class GatherError(RuntimeError):
    """The batch itself failed (transport down, container gone, garbled output)."""


def batch_script(probes: Iterable[Probe[Any]], marker: str) -> str:
    """One /bin/sh script running each probe in a subshell, framed by marker lines."""
    parts = []
    for probe in probes:
        parts.append(
            f"printf '%s\\n' '@@{marker} {probe.name}'\n"
            f"( {probe.command}\n) </dev/null 2>&1\n"
            f"printf '\\n@@{marker} rc %s\\n' \"$?\""
        )
    return "\n".join(parts) + "\n"


def parse_batch(output: str, marker: str) -> dict[str, tuple[int, str]]:
    """Split a batch's output into {probe name: (rc, output)}."""
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


class FactStore:
    """The cached facts of one target (the host or one container)."""

    def __init__(self, where: str, run: Runner, probes: Iterable[Probe[Any]] = ()) -> None:
        self.where = where
        self._run = run
        self._probes: dict[str, Probe[Any]] = {p.name: p for p in probes}
        self._facts: dict[str, Fact] = {}
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._timed_out: GatherError | None = None  # a batch that hit its deadline
        self.round_trips = 0

    def probe(self, name: str) -> Probe[Any]:
        return self._probes[name]

    def get(self, name: str) -> Fact:
        """The fact named; gathers every uncached probe of the target in one go."""
        with self._lock:
            if name not in self._facts:
                self._gather([p for n, p in self._probes.items() if n not in self._facts])
            return self._facts[name]

    def value(self, probe: Probe[T]) -> tuple[T, Fact]:
        """The probe's typed value (parsed once per gathering) and the raw fact behind it.

        A probe made at check time (its command depends on other facts) joins the target's
        probes; its first read runs it alone.
        """
        with self._lock:
            self._probes.setdefault(probe.name, probe)
        fact = self.get(probe.name)
        with self._lock:
            if probe.name not in self._values:
                self._values[probe.name] = probe.parse(fact.rc, fact.output)
            value: T = self._values[probe.name]
        return value, fact

    def prefetch(self) -> None:
        """Gather every probe now (the session warms all targets in parallel)."""
        with self._lock:
            missing = [p for n, p in self._probes.items() if n not in self._facts]
            if missing:
                self._gather(missing)

    def invalidate(self) -> None:
        """Forget every fact: the target may have changed (a fix ran).

        A target that hit its deadline stays stuck for the session: a frozen CT does not thaw
        because a fix ran, and every re-read would wait the whole deadline again.
        """
        with self._lock:
            self._facts.clear()
            self._values.clear()

    def _gather(self, probes: list[Probe[Any]]) -> None:
        """Run the probes in one batch. A batch that hit its deadline is not run again: every
        check of a hung target would otherwise wait the deadline anew."""
        if self._timed_out is not None:
            raise self._timed_out
        marker = secrets.token_hex(6)
        self.round_trips += 1
        rc, output = self._run(batch_script(probes, marker))
        parsed = parse_batch(output, marker)
        missing = [p.name for p in probes if p.name not in parsed]
        if missing:
            excerpt = output.strip()[-300:] or "(no output)"
            if rc in TIMED_OUT:
                excerpt = f"timed out before {missing[0]} finished; {excerpt}"
            error = GatherError(f"{self.where}: probes did not run (exit {rc}): {excerpt}")
            if rc in TIMED_OUT:
                self._timed_out = error
            raise error
        for probe in probes:
            code, text = parsed[probe.name]
            fact = Fact(probe.name, self.where, probe.command, code, text, probe.label)
            self._facts[probe.name] = fact

"""Facts: what one read-only command observed on a target, typed.

A fact is one class, as pyinfra's facts are: the command it runs (`command`), how its output
is read (`parse`) and the typed value it holds (its fields) sit together, and a check reads it
by its class (`s[UnitState]`). Defining the class registers it (as goss's resources register
themselves): every fact of a target without arguments is gathered in that target's one batch,
nothing else lists it. Where a fact runs:

- `ct`: inside the container (through the host's `pct exec`);
- `host`: on the Proxmox host; `per_ct` facts are about one container (its site, its config);
- `runner`: on the machine running pytest (HTTP through the proxy), from `command`'s
  `<METHOD> <url>`.

An `on_demand` fact (one that takes arguments: `s.fact(ReachFromNetns, netns, url)`) is read
when a check asks.
Values inside commands are shell-quoted by the fact.

Every fact names the part of the deployment it observes (`observes`, one of PARTS): a lab
fault states what it does to each part it touches (selftests/unit/fault_facts.py), so a new
fact of a part is either stated by the faults that touch that part or fails a unit test.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from functools import cache
from typing import ClassVar, Self

from compliance.settings import Settings, Site

FACTS: list[type[Fact]] = []

# The parts of the deployment a fact observes (`Fact.observes`), and what each covers.
PARTS: dict[str, str] = {
    "container": "the CT as Proxmox sees it: whether it runs, its config, its addresses",
    "profile": "login shells in the CT: the profile script, their PATH, the binary they find",
    "unit": "systemd's view of ollama.service: its files, settings, state, journal, process",
    "service": "what the running Ollama server answers in the CT: its sockets and its API",
    "site": "our nginx site on the host: the site file and its sites-enabled link",
    "nginx": "the host's nginx: its processes and the configuration it tests and loads",
    "proxy": "HTTP through the proxy, as the runner sends it",
    "firewall": "what filters 11434: the CT's ruleset and guard, Proxmox's firewall, LAN tries",
    "host": "the Proxmox host's own setup: its addresses and its init system",
}


@dataclass(frozen=True)
class Scope:
    """What a fact's command depends on: the settings, the container it is about, and the
    Proxmox host's address (the default server name and proxy URL)."""

    settings: Settings
    site: Site | None = None
    host_address: str = ""

    @property
    def ctid(self) -> str:
        return self.site.ctid if self.site else ""


@dataclass(frozen=True)
class Observation:
    """What a fact's command returned: exit code and merged stdout+stderr, where it ran."""

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


class Fact:
    """Base of every fact. Subclasses are frozen dataclasses holding the typed value."""

    where: ClassVar[str] = "ct"
    per_ct: ClassVar[bool] = False  # a host fact about one container
    hardened: ClassVar[bool] = False  # gathered only under --compliance-profile=hardened
    on_demand: ClassVar[bool] = False  # not in the batch: read when a check asks (arguments)
    label: ClassVar[str] = ""  # shown in evidence instead of a long command
    bound: ClassVar[float] = 10.0  # seconds its command may run inside its target's batch
    observes: ClassVar[str] = ""  # the part of the deployment it observes (one of PARTS)
    max_bytes: ClassVar[int] = 4 << 20  # the most output of its command the suite reads

    def __init_subclass__(cls, register: bool = True, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if register:
            FACTS.append(cls)

    @classmethod
    def name(cls) -> str:
        """`UnitState` -> `unit_state`: the fact's name in batches and sample folders."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        """The read-only command (runner facts: `<METHOD> <url>`)."""
        raise NotImplementedError(cls.__name__)

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        """The typed value of what the command printed."""
        raise NotImplementedError(cls.__name__)

    def drift(self) -> dict[str, str]:
        """What of this fact a later run compares with the last green run's (`--drift`):
        stable, named properties only, never states, counters or times. Empty: not tracked."""
        return {}

    @classmethod
    def batched(cls, where: str, settings: Settings) -> bool:
        """Whether this fact belongs in the batch of a `where` target under `settings`."""
        return cls.where == where and not cls.on_demand and (settings.hardened or not cls.hardened)


@cache
def load() -> tuple[type[Fact], ...]:
    """Every fact: importing the package's modules registers the classes they define."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return tuple(FACTS)


def batch_facts(where: str, settings: Settings, per_ct: bool | None = None) -> list[type[Fact]]:
    """The registered facts of a target's batch (host: the host-wide or the per-CT ones)."""
    return [
        fact
        for fact in load()
        if fact.batched(where, settings) and (per_ct is None or fact.per_ct == per_ct)
    ]

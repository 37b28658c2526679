"""Facts of plan sections 5 and 6.2 on the Proxmox host: nginx, our site file and its link."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from functools import cached_property
from hashlib import sha256
from shlex import quote
from typing import Self

from compliance import plan
from compliance.facts import Fact, Scope
from compliance.facts.files import FileState, file_command, file_state
from compliance.syntax import nginx, nginx_loaded
from compliance.syntax.nginx import Config, Directive, Location


@dataclass(frozen=True)
class NginxTest(Fact):
    """The verdict of `nginx -t`, the file:line of its first error, and its warnings."""

    ok: bool
    error: str = ""
    error_file: str = ""
    warnings: tuple[str, ...] = ()
    where = "host"
    observes = "nginx"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return "nginx -t"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        """Success needs exit 0 and 'test is successful' (stderr merged)."""
        lines = output.splitlines()
        error = next((ln for ln in lines if "[emerg]" in ln or "[crit]" in ln), "")
        # A file nginx could not open is the culprit, not the file that includes it:
        # `open() "/etc/nginx/sites-enabled/x" failed (2: ...) in /etc/nginx/nginx.conf:60`.
        culprit = re.search(r'open\(\) "([^"]+)" failed', error) or re.search(
            r" in (/\S+?):\d+", error
        )
        warnings = tuple(ln for ln in lines if "[warn]" in ln)
        ok = rc == 0 and "test is successful" in output
        return cls(ok, error, culprit.group(1) if culprit else "", warnings)


NGINX_STATE_SCRIPT = """pid=$(cat /run/nginx.pid 2>/dev/null)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  echo "master $pid"
  for w in $(pgrep -P "$pid"); do
    grep -aq 'shutting down' /proc/$w/cmdline && continue
    echo "worker $w $(cut -d' ' -f22 /proc/$w/stat)"
  done
fi
echo "clock $(date +%s.%N) $(cut -d' ' -f1 /proc/uptime)"
echo "hz $(getconf CLK_TCK)"
read=$(nginx -T 2>/dev/null | sed -n 's/^# configuration file \\(.*\\):$/\\1/p')
set -- /etc/nginx/nginx.conf /etc/nginx/sites-enabled /etc/nginx/sites-enabled/* $read {files}
stat -L -c 'mtime %.Y %n' -- "$@" 2>/dev/null
LC_ALL=C stat -c '%F|mtime %.Y %n (link)' -- "$@" 2>/dev/null | sed -n 's/^symbolic link|//p'
true"""


@dataclass(frozen=True)
class NginxState(Fact):
    """Master/worker liveness and whether any config file is newer than the workers."""

    master_pid: int | None
    workers_started: float | None  # epoch seconds of the oldest serving worker
    config_mtimes: dict[str, float] = field(default_factory=dict)
    where = "host"
    label = "nginx state: master pid, worker start times, mtimes of every file nginx -T reads"
    observes = "nginx"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        sites = (scope.settings.site(ctid).site_file for ctid in scope.settings.ctids)
        return NGINX_STATE_SCRIPT.replace("{files}", " ".join(quote(f) for f in sites))

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        """`master PID`, `clock NOW UPTIME`, `hz`, `worker PID TICKS`, `mtime EPOCH PATH`.
        Boot time = now - uptime (10 ms resolution, unlike /proc/stat btime)."""
        master = None
        boot = hz = 0.0
        ticks: list[float] = []
        mtimes: dict[str, float] = {}
        for line in output.splitlines():
            word, _, rest = line.partition(" ")
            if word == "master" and rest.strip().isdigit():
                master = int(rest)
            elif word == "clock":
                now, _, uptime = rest.partition(" ")
                boot = float(now) - float(uptime)
            elif word == "hz":
                hz = float(rest)
            elif word == "worker":
                parts = rest.split()
                if len(parts) == 2 and parts[1].isdigit():
                    ticks.append(float(parts[1]))
            elif word == "mtime":
                stamp, _, path = rest.partition(" ")
                mtimes[path] = float(stamp)
        # The oldest serving worker: a worker respawned after a crash runs the master's (old)
        # config but starts late, so the newest one can hide a pending reload.
        started = boot + min(ticks) / hz if ticks and hz else None
        return cls(master, started if master else None, mtimes)

    @property
    def running(self) -> bool:
        return self.master_pid is not None and self.workers_started is not None

    def stale_files(self) -> list[str]:
        """Config files changed after the running workers were started (reload pending)."""
        if self.workers_started is None:
            return []
        limit = self.workers_started + 0.05  # /proc/uptime and jiffies: 10 ms resolution
        return sorted(p for p, m in self.config_mtimes.items() if m > limit)


@dataclass(frozen=True)
class NginxLoaded(Fact):
    """What nginx reads (`nginx -T`): its files in order, includes expanded, its warnings."""

    ok: bool
    dump: nginx_loaded.Dump
    where = "host"
    label = "nginx -T (the files nginx loads, in order)"
    observes = "nginx"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return "nginx -T"

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        dump = nginx_loaded.read_dump(output)
        return cls(rc == 0 and bool(dump.files), dump)

    @cached_property
    def servers(self) -> list[nginx_loaded.Server]:
        return nginx_loaded.http_servers(nginx_loaded.expand(self.dump))

    def choose(self, port: int, name: str) -> nginx_loaded.Choice:
        """The server block nginx picks for `Host: name` on `port`."""
        return nginx_loaded.choose_server(self.servers, port, name)

    def includes(self) -> list[str]:
        return nginx_loaded.includes(self.dump)

    def drift(self) -> dict[str, str]:
        """Each file nginx loads, by the digest of its text."""
        return {
            path: "sha256:" + sha256(text.encode()).hexdigest()[:12]
            for path, text in self.dump.files
        }


@dataclass(frozen=True)
class SiteConfig(FileState, Fact):
    """Our site file on the host (owner, mode, exact content) and its directive tree."""

    config: Config = field(default_factory=lambda: Config(()))
    where = "host"
    per_ct = True
    observes = "site"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        assert scope.site is not None
        return file_command(scope.site.site_file)

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        state = file_state(rc, output)
        config = nginx.parse(state.text) if state.exists else Config(())
        return cls(state.exists, state.owner, state.mode, state.text, state.link, config)

    @property
    def server(self) -> Directive | None:
        """The server block that holds the plan's location (else the first one)."""
        servers = self.config.find("server")
        ours = [s for s in servers if self._location_in(s) is not None]
        return (ours or servers)[0] if ours or servers else None

    def _location_in(self, server: Directive) -> Location | None:
        return next(
            (
                loc
                for loc in nginx.locations(server)
                if (loc.modifier, loc.pattern) == ("", plan.LOCATION)
            ),
            None,
        )

    @property
    def location(self) -> Location | None:
        """The plan's `location /ollama/` block in our server."""
        return self._location_in(self.server) if self.server else None

    @property
    def levels(self) -> list[Directive]:
        """Server, then location: what nginx's inheritance walks through."""
        levels = [self.server] if self.server else []
        return levels + ([self.location.directive] if self.location else [])

    @property
    def server_names(self) -> tuple[str, ...]:
        return nginx.server_names(self.server) if self.server else ()

    @property
    def listens(self) -> tuple[nginx.Listen, ...]:
        return nginx.listens(self.server) if self.server else ()

    @property
    def listen_values(self) -> tuple[str, ...]:
        """The `listen` directives as written (`80`, `[::]:80 default_server`)."""
        found = self.server.children("listen") if self.server else []
        return tuple(" ".join(d.args) for d in found)

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(sorted(set(re.findall(r"<[A-Z0-9_]+>", self.text))))

    @property
    def rewrites(self) -> list[tuple[str, ...]]:
        return (
            [d.args for d in self.location.directive.children("rewrite")] if self.location else []
        )

    @property
    def proxy_pass(self) -> str:
        return (self.location.directive.value("proxy_pass") or "") if self.location else ""

    def directive(self, name: str) -> str | None:
        """A directive of the location as the location sees it (its own, else inherited)."""
        return nginx.inherited(self.levels, name) if self.location else None

    @property
    def headers(self) -> nginx.Headers:
        return nginx.proxy_headers(self.levels) if self.location else nginx.Headers()


@dataclass(frozen=True)
class SiteLink(Fact):
    """The sites-enabled entry: `link` (with its resolved target), `not-a-link` or `missing`."""

    kind: str
    target: str = ""
    dangling: bool = False
    where = "host"
    per_ct = True
    observes = "site"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        assert scope.site is not None
        link = quote(scope.site.site_link)
        return (
            f"printf 'path %s\\n' {link}; if [ -L {link} ]; then echo link $(readlink {link}); "
            f"[ -e {link} ] || echo dangling; elif [ -e {link} ]; then echo not-a-link; "
            "else echo missing; fi"
        )

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        """A relative target resolves against the link's directory, as the kernel does."""
        lines = output.splitlines()
        path = lines[0][len("path ") :] if lines and lines[0].startswith("path ") else ""
        rest = lines[1:] if path else lines
        kind, _, target = (rest[0] if rest else "").strip().partition(" ")
        if kind != "link":
            return cls(kind or "(no answer)")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        return cls(kind, resolved, dangling="dangling" in rest[1:])

    def drift(self) -> dict[str, str]:
        return {"link": f"{self.kind} {self.target}".strip() + " (dangling)" * self.dangling}

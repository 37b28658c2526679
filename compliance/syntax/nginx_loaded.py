"""What nginx really loaded and serves, from its own dump (`nginx -T`): the files it read in
order, the configuration with every `include` expanded, and the server block and location it
chooses for a request (as ngx_http_find_virtual_server and ngx_http_core_find_location do).

nginx -T names each file as the include pattern found it (a site appears under its
sites-enabled link, not the file the link points to), and prints its warnings (`conflicting
server name "..." on 0.0.0.0:80, ignored`) before the dump.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from compliance.syntax.nginx import (
    Directive,
    Listen,
    Location,
    choose_location,
    find_location,
    listens,
    parse,
    walk,
)
from compliance.syntax.nginx import server_names as names_of

HEADER = re.compile(r"^# configuration file (.+):$", re.M)
MAX_INCLUDE_DEPTH = 16


@dataclass(frozen=True)
class Dump:
    """The files of `nginx -T` in the order nginx read them, and the lines it printed first."""

    files: tuple[tuple[str, str], ...]  # (path as nginx names it, text)
    preamble: tuple[str, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(path for path, _text in self.files)

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(line for line in self.preamble if "[warn]" in line)

    def text(self, path: str) -> str:
        return dict(self.files)[path]


def read_dump(output: str) -> Dump:
    """Split `nginx -T 2>&1` into its files; the lines before the first file are nginx's own."""
    parts = HEADER.split(output)
    preamble = tuple(line for line in parts[0].splitlines() if line.strip())
    files = tuple((parts[i], parts[i + 1].removeprefix("\n")) for i in range(1, len(parts) - 1, 2))
    return Dump(files, preamble)


def reads(pattern: str, path: str, base: str = "/etc/nginx") -> bool:
    """Whether `include pattern` (relative to nginx's prefix `base`) would read `path`."""
    if not pattern.startswith("/"):
        pattern = posixpath.join(base, pattern)
    return pattern.count("/") == path.count("/") and fnmatchcase(path, pattern)


def _matching(dump: Dump, pattern: str, base: str) -> list[str]:
    """The dumped files an `include pattern` read, in nginx's order (a glob's sorted names)."""
    return sorted(path for path in dump.paths if reads(pattern, path, base))


def expand(dump: Dump) -> tuple[Directive, ...]:
    """The main file's directives with every `include` replaced by what it read."""
    if not dump.files:
        return ()
    main = dump.files[0][0]
    base = posixpath.dirname(main)

    def inline(directives: tuple[Directive, ...], depth: int) -> tuple[Directive, ...]:
        out: list[Directive] = []
        for directive in directives:
            if directive.name == "include" and directive.args and depth < MAX_INCLUDE_DEPTH:
                for path in _matching(dump, directive.args[0], base):
                    included = parse(dump.text(path), path).directives
                    out.extend(inline(included, depth + 1))
            elif directive.block is not None:
                block = inline(directive.block, depth)
                out.append(
                    Directive(directive.name, directive.args, directive.file, directive.line, block)
                )
            else:
                out.append(directive)
        return tuple(out)

    return inline(parse(dump.text(main), main).directives, 0)


@dataclass(frozen=True)
class Server:
    """One `server` block of the http context, where it is written."""

    directive: Directive
    names: tuple[str, ...]
    listens: tuple[Listen, ...]

    @property
    def file(self) -> str:
        return self.directive.file

    @property
    def where(self) -> str:
        return self.directive.where

    def on(self, port: int) -> bool:
        return any(listen.port == port for listen in self.listens)


def http_servers(directives: tuple[Directive, ...]) -> list[Server]:
    """The server blocks of every `http` block, in the order nginx reads them."""
    found = []
    for http in (d for d in directives if d.name == "http"):
        for server in http.children("server"):
            found.append(Server(server, names_of(server), listens(server)))
    return found


@dataclass(frozen=True)
class Choice:
    """The server nginx picks for a Host name on a port, and the ones that claimed it too."""

    server: Server | None
    by_name: bool  # chosen because it names the host (else: the port's default server)
    shadowed: tuple[Server, ...]  # later servers with the same name: nginx ignores them


def choose_server(servers: list[Server], port: int, name: str) -> Choice:
    """nginx's pick for `Host: name` on `port`: the first server naming it exactly; without
    one, the port's `default_server`, else the first server listening there."""
    on_port = [server for server in servers if server.on(port)]
    named = [server for server in on_port if name in server.names]
    if named:
        return Choice(named[0], True, tuple(named[1:]))
    default = [s for s in on_port if any(li.port == port and li.default for li in s.listens)]
    candidates = default or on_port
    return Choice(candidates[0] if candidates else None, False, ())


def location_for(server: Server, uri: str) -> Location | None:
    """The location of `server` that answers `uri`."""
    return choose_location(server.directive, uri)


def top_location_for(server: Server, uri: str) -> Location | None:
    """The server-level location that answers `uri`, or holds the nested one that does."""
    chain = find_location(server.directive, uri).chain
    return chain[0] if chain else None


def unresolved_includes(dump: Dump) -> list[str]:
    """The include patterns naming one file (no glob) that no dumped file answers: nginx read
    something there (else -T would have failed) that the suite cannot see."""
    if not dump.files:
        return []
    base = posixpath.dirname(dump.files[0][0])
    return [
        pattern
        for pattern in includes(dump)
        if not set(pattern) & set("*?[") and not _matching(dump, pattern, base)
    ]


def includes(dump: Dump) -> list[str]:
    """Every include pattern written in the loaded files, in the order nginx read them."""
    return [
        " ".join(d.args)
        for path, text in dump.files
        for d in walk(parse(text, path).directives)
        if d.name == "include"
    ]

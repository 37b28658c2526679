"""Whether nginx lets Ollama's write endpoints through to the CT: the `manage_closed` judgement
of the hardened profile, as nginx chooses.

For every write endpoint (method and path) of the Ollama version in use (the route table,
compliance/plan/ollama_routes.py), on every server block of the loaded configuration (`nginx
-T`) that proxies anywhere to the CT (a proxy_pass at any depth, directly or through an
`upstream`, whose target is the CT's address and port 11434, or that the suite cannot
resolve), on each port nginx would choose it for: the request is walked as nginx runs it
(compliance/syntax/nginx_request.py) for the URI under `/ollama/`, the raw path, and the path
under every other prefix location that proxies to the CT; it must reach the CT at that
endpoint's path only from `ollama_manage_from`. A `stream` server that proxies to the CT passes
every request. What cannot be decided is named, never passed. Used by `manage_closed`
(tests/test_hardened.py) and by the site fix, which refuses a leak in a file it does not own.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from compliance import plan
from compliance.catalogue.upstream import container_ip
from compliance.catalogue.verdict import Subject
from compliance.facts.http import DirectVersion
from compliance.facts.nginx import NginxLoaded
from compliance.plan import ollama_routes
from compliance.plan.ollama_routes import Route
from compliance.syntax import nginx, nginx_loaded
from compliance.syntax.nginx import Directive
from compliance.syntax.nginx_request import (
    REACHES,
    UNKNOWN,
    Clients,
    Path,
    Request,
    admitted,
    walk,
)

CT, OTHER, UNRESOLVED = "ct", "other", "unresolved"


@dataclass(frozen=True)
class Leak:
    """Write endpoints that reach the CT through one location of one server, from clients
    outside ollama_manage_from."""

    endpoints: tuple[str, ...]
    location: str
    server: str
    file: str  # the file of the location (what a fix would have to edit)
    clients: Clients

    def line(self) -> str:
        verb = "reaches" if len(self.endpoints) == 1 else "reach"
        return (
            f"{', '.join(self.endpoints)} {verb} the CT through {self.location} of "
            f"{self.server} from {self.clients}"
        )


@dataclass(frozen=True)
class Undecided:
    why: str
    file: str


@dataclass
class ManageJudgement:
    """Where write endpoints leak, what could not be decided, and what was judged."""

    table: str
    routes: tuple[Route, ...]
    leaks: list[Leak] = field(default_factory=list)
    undecided: list[Undecided] = field(default_factory=list)
    closed_to_managers: list[str] = field(default_factory=list)
    servers: list[str] = field(default_factory=list)

    def elsewhere(self, ours: frozenset[str]) -> str | None:
        """The first leak or undecided point in a file the plan does not own, in one line."""
        for leak in self.leaks:
            if leak.file not in ours:
                return leak.line()
        for point in self.undecided:
            if point.file not in ours:
                return f"not judged: {point.why}"
        return None


def elsewhere(s: Subject) -> str | None:
    """Why the site's fix cannot close the write endpoints: a leak, or a point that cannot be
    decided, in a file the plan does not own (None when there is none, or nginx -T failed)."""
    if not s[NginxLoaded].ok:
        return None
    return judge(s).elsewhere(s.our_paths)


def judge(s: Subject) -> ManageJudgement:
    """Every write endpoint of the version in use, on every server that proxies to the CT."""
    reply = s[DirectVersion].reply
    version = ollama_routes.version_in(reply.body) if reply and reply.status == 200 else None
    used = ollama_routes.routes_for(version)
    result = ManageJudgement(used.table, used.manage)
    loaded = s[NginxLoaded]
    address, _how = container_ip(s)
    top = nginx_loaded.expand(loaded.dump)
    unresolved = nginx_loaded.unresolved_includes(loaded.dump)
    for pattern in unresolved:
        why = f"`include {pattern}`: nginx read it, the dump shows no such file"
        result.undecided.append(Undecided(why, pattern))
    upstreams = {d.args[0]: d for d in nginx.walk(top) if d.name == "upstream" and d.args}
    target = _Targets(address, upstreams)
    managers = Clients.of(s.settings.manage_from)
    servers = loaded.servers
    https = [d for d in top if d.name == "http"]
    ours = _our_server(s, loaded)
    for server in servers:
        if not target.proxies(server.directive):
            continue
        ports = _ports(servers, server)
        if not ports:
            continue  # nginx never chooses it: no request reaches it
        label = _server_label(server, ports)
        result.servers.append(label)
        prefixes = _prefixes(server.directive, target)
        for route in used.manage:
            for prefix in prefixes:
                uri = prefix + route.sample
                paths = walk(server.directive, Request(route.method, uri), tuple(https[:1]))
                _record(result, target, route, prefix, paths, label, managers)
                if server is ours and prefix == plan.LOCATION.rstrip("/"):
                    _check_managers(result, route, uri, paths, managers, target)
    for stream in (d for d in top if d.name == "stream"):
        _streams(result, stream, target, managers)
    _merge(result)
    return result


class _Targets:
    """What a proxy_pass value targets: the CT (its address, port 11434), something else, or
    unresolved (a variable, a host name, an upstream of host names)."""

    def __init__(self, address: str | None, upstreams: dict[str, Directive]) -> None:
        self.address = address
        self.upstreams = upstreams

    def of(self, value: str, scheme_required: bool = True) -> str:
        if "$" in value:
            return UNRESOLVED
        found = re.fullmatch(r"(?:(https?)://)?([^/]+)(/.*)?", value)
        if found is None or (scheme_required and not found.group(1)):
            return OTHER
        host = found.group(2)
        if host in self.upstreams:
            return self._upstream(self.upstreams[host])
        return self._address(host, 443 if found.group(1) == "https" else 80)

    def _upstream(self, upstream: Directive) -> str:
        kinds = [
            self._address(d.args[0], 80)
            for d in upstream.children("server")
            if d.args and "down" not in d.args[1:]
        ]
        if CT in kinds:
            return CT
        return UNRESOLVED if UNRESOLVED in kinds else OTHER

    def _address(self, host: str, default_port: int) -> str:
        if host.startswith("unix:"):
            return OTHER
        name, port = host, default_port
        if host.startswith("["):
            name, _, rest = host[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else port
        elif ":" in host:
            name, _, text = host.rpartition(":")
            port = int(text) if text.isdigit() else port
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return UNRESOLVED  # a host name: nginx resolves it once, at start
        if port != plan.PORT:
            return OTHER
        if self.address is None:
            return CT  # the CT's address is unknown: any upstream on 11434 may be it
        return CT if str(ip) == self.address else OTHER

    def proxies(self, block: Directive) -> bool:
        """Whether any proxy_pass inside `block`, at any depth, may target the CT."""
        return any(
            self.of(d.args[0]) in (CT, UNRESOLVED)
            for d in nginx.walk(block.block or ())
            if d.name == "proxy_pass" and d.args
        )


def _prefixes(server: Directive, target: _Targets) -> list[str]:
    """The URI prefixes to try: /ollama, none (the raw path), and every prefix location that
    proxies to the CT (its pattern without the trailing slash)."""
    found = [plan.LOCATION.rstrip("/"), ""]
    for directive in nginx.walk(server.block or ()):
        if directive.name != "location":
            continue
        location = nginx.Location.of(directive)
        if location.modifier not in ("", "^~") or location.pattern.startswith("@"):
            continue
        value = directive.value("proxy_pass")
        if value is None or target.of(value) == OTHER:
            continue
        prefix = location.pattern.rstrip("/")
        if prefix not in found:
            found.append(prefix)
    return found


def _record(
    result: ManageJudgement,
    target: _Targets,
    route: Route,
    prefix: str,
    paths: list[Path],
    server: str,
    managers: Clients,
) -> None:
    shown = f"{route.method} {prefix}{route.path}"
    for path in paths:
        file = path.location.directive.file if path.location else ""
        if not path.clients - managers:
            continue  # only the networks allowed to manage take this path
        if path.kind == UNKNOWN:
            result.undecided.append(Undecided(f"{shown} on {server}: {path.why}", file))
            continue
        if path.kind != REACHES or path.location is None:
            continue
        kind = target.of(path.upstream)
        if kind == OTHER or not _same_path(path.uri, route.sample):
            continue
        outside = path.clients - managers
        if kind == UNRESOLVED:
            why = f"{shown} on {server}: {path.why} to {path.upstream}, which may be the CT"
            result.undecided.append(Undecided(why, file))
            continue
        where = f"{path.location.shown} ({path.location.directive.where})"
        result.leaks.append(Leak((shown,), where, server, file, outside))


def _check_managers(
    result: ManageJudgement,
    route: Route,
    uri: str,
    paths: list[Path],
    managers: Clients,
    target: _Targets,
) -> None:
    """On our own server, the networks allowed to manage must reach the endpoint."""
    if not managers:
        return
    reached = Clients.nobody()
    for path in paths:
        ours = path.kind == REACHES and target.of(path.upstream) == CT
        if ours and _same_path(path.uri, route.sample):
            reached = reached | path.clients
    if managers - reached:
        result.closed_to_managers.append(f"{route.method} {uri}")


def _streams(
    result: ManageJudgement, stream: Directive, target: _Targets, managers: Clients
) -> None:
    """A stream server proxying to the CT passes every request of its clients."""
    for server in stream.children("server"):
        passes = server.children("proxy_pass")
        if not passes or not passes[-1].args:
            continue
        value = passes[-1].args[0]
        kind = target.of(value, scheme_required=False)
        if kind == OTHER:
            continue
        ports = ", ".join(str(listen.port) for listen in nginx.listens(server))
        label = f"the stream server {server.where} on port {ports}"
        if kind == UNRESOLVED:
            why = f"{label}: proxy_pass {value}, which may be the CT"
            result.undecided.append(Undecided(why, server.file))
            continue
        reaching, _decided = admitted([stream, server])
        outside = reaching - managers
        if outside:
            where = f"proxy_pass {value} ({passes[-1].where})"
            leak = Leak(("every request",), where, label, server.file, outside)
            result.leaks.append(leak)


def _same_path(sent: str, path: str) -> bool:
    """Whether the URI sent upstream is the endpoint's path (repeated slashes collapsed)."""
    return re.sub("/+", "/", sent) == path


def _merge(result: ManageJudgement) -> None:
    """Leaks through the same location of the same server, from the same clients, as one."""
    merged: dict[tuple[str, str, str, Clients], list[str]] = {}
    for leak in result.leaks:
        key = (leak.location, leak.server, leak.file, leak.clients)
        for endpoint in leak.endpoints:
            if endpoint not in merged.setdefault(key, []):
                merged[key].append(endpoint)
    result.leaks = [
        Leak(tuple(endpoints), location, server, file, clients)
        for (location, server, file, clients), endpoints in merged.items()
    ]
    seen: set[str] = set()
    undecided = []
    for point in result.undecided:
        if point.why not in seen:
            seen.add(point.why)
            undecided.append(point)
    result.undecided = undecided


def _our_server(s: Subject, loaded: NginxLoaded) -> nginx_loaded.Server | None:
    """The server nginx chooses for our server_name on the plan's port, if it is ours."""
    choice = loaded.choose(plan.SITE.listen_port, s.container.server_name_for(s.host_address))
    if choice.server is None or choice.server.file not in s.our_paths:
        return None
    return choice.server


def _ports(servers: list[nginx_loaded.Server], server: nginx_loaded.Server) -> list[int]:
    """The ports nginx may choose this server on: where it is the default, or names a host
    no earlier server on that port names (a wildcard or regex name always may)."""
    found = []
    for port in sorted({listen.port for listen in server.listens}):
        before = [other for other in servers if other.on(port)]
        first = before[0] is server
        default = any(li.port == port and li.default for li in server.listens)
        earlier = before[: before.index(server)]
        claimed = {name for other in earlier for name in other.names}
        names = server.names or ("",)
        own = any(n.startswith(("~", "*", ".")) or "*" in n or n not in claimed for n in names)
        if first or default or own:
            found.append(port)
    return found


def _server_label(server: nginx_loaded.Server, ports: list[int]) -> str:
    names = " ".join(server.names) or '""'
    shown = ", ".join(str(port) for port in ports) or "no port it is chosen on"
    word = "port" if len(ports) == 1 else "ports"
    return f"server {names} ({server.where}) on {word} {shown}"

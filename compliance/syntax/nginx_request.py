"""Where nginx sends one request, and from which clients: a request walked through a server
block's phases as nginx 1.22 runs them.

The server's rewrite directives; the location nginx chooses (`nginx.find_location`); that
location's own rewrite directives (a `rewrite ... last`, or one without a flag, searches the
locations again with the new URI, at most 10 times); `internal`; the access phase (`allow`/
`deny` of the nearest level that has any; a `limit_except` of the chosen location for the
methods it does not name, which also drops the location's own rewrites; `satisfy any`); an
`error_page` that hands a refusal to a named location; `try_files` falling back to a named
location or a URI; the chosen location's own `proxy_pass` (not inherited; a limit_except
keeps it) and the URI it sends upstream.

The result is a set of paths, each with the clients (IPv4 and IPv6 source sets) that take it:
the request reaches an upstream as some URI, or stops in nginx (refused, returned, redirected,
served from disk), or cannot be decided (an `if`, a variable, a regex Python cannot read),
with the reason. Nothing is sampled: the clients are the whole address space, split.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from compliance.syntax import nginx
from compliance.syntax.nginx import Directive, Location
from compliance.syntax.sources import Sources

REACHES, STOPS, UNKNOWN = "reaches", "stops", "unknown"
REWRITE_DIRECTIVES = ("rewrite", "return", "if", "break")
MAX_CYCLES = 10  # nginx ends a request after 10 URI changes (500)


@dataclass(frozen=True)
class Clients:
    """Client addresses of both families."""

    v4: Sources
    v6: Sources

    @classmethod
    def everyone(cls) -> Clients:
        return cls(Sources.everything(4), Sources.everything(6))

    @classmethod
    def nobody(cls) -> Clients:
        return cls(Sources.nothing(4), Sources.nothing(6))

    @classmethod
    def of(cls, networks: tuple[str, ...]) -> Clients:
        """The clients of these addresses or CIDRs (ValueError for anything else)."""
        found = cls.nobody()
        for network in networks:
            sources = Sources.parse(network)
            found = found | (
                cls(sources, Sources.nothing(6))
                if sources.family == 4
                else cls(Sources.nothing(4), sources)
            )
        return found

    def __or__(self, other: Clients) -> Clients:
        return Clients(self.v4 | other.v4, self.v6 | other.v6)

    def __and__(self, other: Clients) -> Clients:
        return Clients(self.v4 & other.v4, self.v6 & other.v6)

    def __sub__(self, other: Clients) -> Clients:
        return Clients(self.v4 - other.v4, self.v6 - other.v6)

    def __bool__(self) -> bool:
        return bool(self.v4) or bool(self.v6)

    def __str__(self) -> str:
        if self == Clients.everyone():
            return "any address"
        shown = [str(s) for s in (self.v4, self.v6) if s]
        return " and ".join(shown) or "no address"


@dataclass(frozen=True)
class Path:
    """What happens to the request for `clients`: it reaches `upstream` (a proxy_pass value)
    as `uri`, stops in nginx, or is unknown; `location` is the last location it went through,
    `why` says what decided."""

    kind: str
    clients: Clients
    why: str
    location: Location | None = None
    upstream: str = ""
    uri: str = ""


@dataclass(frozen=True)
class Request:
    method: str
    uri: str


@dataclass
class _Walk:
    """One request's walk through one server (`above`: the levels around the server)."""

    server: Directive
    above: tuple[Directive, ...]
    request: Request
    paths: list[Path]

    def level_chain(self, chain: tuple[Location, ...]) -> list[Directive]:
        return [*self.above, self.server, *(loc.directive for loc in chain)]


def walk(server: Directive, request: Request, above: tuple[Directive, ...] = ()) -> list[Path]:
    """Every path the request takes through `server` (`above`: the http block, whose
    inheritable directives the server's levels inherit)."""
    state = _Walk(server, above, request, [])
    uri, stop = _rewrites(server.block or (), request.uri, "the server block")
    if stop is not None:
        state.paths.append(Path(stop[0], Clients.everyone(), stop[1]))
        return state.paths
    _from_uri(state, uri.removeprefix("\0"), Clients.everyone(), 0)  # searched next anyway
    return state.paths


def _from_uri(state: _Walk, uri: str, clients: Clients, cycle: int) -> None:
    """Find the location for `uri` and follow the request there."""
    if cycle >= MAX_CYCLES:
        state.paths.append(Path(STOPS, clients, "rewrite or internal redirection cycle (500)"))
        return
    found = nginx.find_location(state.server, uri)
    if found.unreadable:
        shown = ", ".join(f"`{loc.shown}` ({loc.directive.where})" for loc in found.unreadable)
        state.paths.append(Path(UNKNOWN, clients, f"a regex Python cannot read: {shown}"))
        return
    if found.location is None:
        state.paths.append(Path(STOPS, clients, "no location: nginx serves it from disk"))
        return
    _in_location(state, found.chain, uri, clients, cycle)


def _in_location(
    state: _Walk, chain: tuple[Location, ...], uri: str, clients: Clients, cycle: int
) -> None:
    """The request in the chosen location (the last of `chain`): rewrite, access, content.
    A `limit_except` that applies to the method replaces the location's configuration before
    the rewrite phase: the location's rewrite directives (not inherited there) do not run."""
    location = chain[-1]
    here = location.directive
    where = f"`{location.shown}` ({here.where})"
    limit = _limit_except(here, state.request.method)
    own = here.block or () if limit is None else ()
    new_uri, stop = _rewrites(own, uri, where)
    if stop is not None:
        state.paths.append(Path(stop[0], clients, stop[1], location))
        return
    rewrote = new_uri != uri
    if new_uri.startswith("\0"):  # changed without `break`: the locations are searched again
        _from_uri(state, new_uri[1:], clients, cycle + 1)
        return
    if here.children("internal"):
        state.paths.append(Path(STOPS, clients, f"{where} is internal (404)", location))
        return
    levels = state.level_chain(chain)
    access_levels = [*levels, limit] if limit is not None else levels
    allowed, decided = admitted(access_levels)
    if decided is None:
        state.paths.append(Path(UNKNOWN, clients, f"{where}: unreadable access rule", location))
        return
    refused = clients - allowed
    passing = clients & allowed
    if refused:
        _refused(state, levels, refused, location, decided, new_uri, cycle)
    if passing:
        _content(state, chain, limit, new_uri, rewrote, passing, cycle)


def _refused(
    state: _Walk,
    levels: list[Directive],
    clients: Clients,
    location: Location,
    decided: str,
    uri: str,
    cycle: int,
) -> None:
    """A 403 from the access phase, unless an error_page hands it (its URI as rewritten, its
    method kept) to a named location."""
    target = _error_page(levels, "403")
    if target is not None and target.startswith("@"):
        named = _named(state.server, target)
        if named is None:
            state.paths.append(Path(STOPS, clients, f"refused (403) by {decided}", location))
            return
        _in_location(state, (named,), uri, clients, cycle + 1)
        return
    state.paths.append(Path(STOPS, clients, f"refused (403) by {decided}", location))


def _content(
    state: _Walk,
    chain: tuple[Location, ...],
    limit: Directive | None,
    uri: str,
    rewrote: bool,
    clients: Clients,
    cycle: int,
) -> None:
    """The content phase: try_files, then the location's own proxy_pass."""
    location = chain[-1]
    here = location.directive
    where = f"`{location.shown}` ({here.where})"
    tries = here.children("try_files")
    if tries and tries[-1].args:
        fallback = tries[-1].args[-1]
        if fallback.startswith("@"):
            named = _named(state.server, fallback)
            if named is not None:
                _in_location(state, (named,), uri, clients, cycle + 1)
                return
        elif fallback.startswith("="):
            why = f"try_files in {where} answers {fallback[1:]} when no file matches"
            state.paths.append(Path(STOPS, clients, why, location))
            return
        elif "$" in fallback:
            why = f"try_files in {where} falls back to a URI with a variable: {fallback}"
            state.paths.append(Path(UNKNOWN, clients, why, location))
            return
        else:
            _from_uri(state, fallback.partition("?")[0], clients, cycle + 1)
            return
    value = (limit.value("proxy_pass") if limit is not None else None) or here.value("proxy_pass")
    if value is None:
        state.paths.append(Path(STOPS, clients, f"{where} does not proxy", location))
        return
    sent = _upstream_uri(location, value, uri, rewrote)
    if sent is None:
        why = f"{where}: proxy_pass {value} (a variable: the upstream URI is not known)"
        state.paths.append(Path(UNKNOWN, clients, why, location, value))
        return
    state.paths.append(Path(REACHES, clients, f"proxied by {where}", location, value, sent))


def _upstream_uri(location: Location, value: str, uri: str, rewrote: bool) -> str | None:
    """The URI nginx sends upstream: the changed URI after a `rewrite ... break`, else the
    proxy_pass URI part in place of the location's prefix, else the URI as it came."""
    if "$" in value:
        return None
    part = re.sub(r"^[a-z]+://[^/]*", "", value)
    if rewrote or not part:
        return uri
    if location.modifier == "=":
        return part
    return part + uri[len(location.pattern) :]


def _limit_except(location: Directive, method: str) -> Directive | None:
    """The location's `limit_except` block when it applies to `method` (GET names HEAD too);
    limit_except is not inherited by nested locations."""
    for block in location.children("limit_except"):
        named = set(block.args) | ({"HEAD"} if "GET" in block.args else set())
        if method not in named:
            return block
    return None


def admitted(levels: list[Directive]) -> tuple[Clients, str | None]:
    """The clients the access phase admits at the innermost of `levels`, and what decided
    (None: a rule that cannot be read). `allow`/`deny` come from the nearest level that has
    any; the first rule matching a client decides; no rule matching admits it. `satisfy any`
    admits everyone the rules refuse if they authenticate: counted as admitted."""
    satisfy = nginx.inherited(levels, "satisfy") or "all"
    for level in reversed(levels):
        rules = [d for d in level.block or () if d.name in ("allow", "deny")]
        if not rules:
            continue
        remaining, admitted = Clients.everyone(), Clients.nobody()
        for rule in rules:
            target = rule.args[0] if rule.args else ""
            if target == "all":
                matched = Clients.everyone()
            elif target.startswith("unix:"):
                continue
            else:
                try:
                    matched = Clients.of((target,))
                except ValueError:
                    return Clients.nobody(), None
            if rule.name == "allow":
                admitted = admitted | (remaining & matched)
            remaining = remaining - matched
        admitted = admitted | remaining
        label = f"the allow/deny of {_level_name(level)} ({level.where})"
        if satisfy == "any":
            return Clients.everyone(), f"{label} under `satisfy any`"
        return admitted, label
    return Clients.everyone(), "no allow/deny"


def _level_name(level: Directive) -> str:
    if level.name == "location":
        return f"`{Location.of(level).shown}`"
    if level.name == "limit_except":
        return f"`limit_except {' '.join(level.args)}`"
    return f"the {level.name or 'top'} block"


def _error_page(levels: list[Directive], status: str) -> str | None:
    """The target of the effective error_page for `status` (inherited from the nearest level
    that sets any)."""
    for level in reversed(levels):
        pages = level.children("error_page")
        if not pages:
            continue
        for page in pages:
            codes = [a for a in page.args[:-1] if not a.startswith("=")]
            if status in codes:
                return page.args[-1]
        return None
    return None


def _named(server: Directive, name: str) -> Location | None:
    return next((loc for loc in nginx.locations(server) if loc.pattern == name), None)


def _rewrites(
    directives: tuple[Directive, ...], uri: str, where: str
) -> tuple[str, tuple[str, str] | None]:
    """Run a level's rewrite-module directives on `uri`, in order: (the URI after them, a
    stop (kind, why) when the request ends or cannot be followed). A URI changed without
    `break` comes back prefixed with NUL: the locations must be searched again."""
    again = False
    for directive in directives:
        if directive.name not in REWRITE_DIRECTIVES:
            continue
        if directive.name == "if":
            shown = f"`if {' '.join(directive.args)}` ({directive.where})"
            return uri, (UNKNOWN, f"an {shown} in {where}")
        if directive.name == "return":
            code = directive.args[0] if directive.args else "444"
            return uri, (STOPS, f"`return {code}` in {where}")
        if directive.name == "break":
            break
        changed, flag, stop = _rewrite(directive, uri, where)
        if stop is not None:
            return uri, stop
        if changed is None:
            continue
        uri = changed
        if flag == "break":
            return uri, None
        again = True
        if flag == "last":
            break
    return ("\0" + uri if again else uri), None


def _rewrite(
    directive: Directive, uri: str, where: str
) -> tuple[str | None, str, tuple[str, str] | None]:
    """One `rewrite regex replacement [flag]`: (the new URI or None if it does not match,
    the flag, a stop)."""
    args = directive.args
    if len(args) < 2:
        return None, "", None
    pattern, replacement = args[0], args[1]
    flag = args[2] if len(args) > 2 else ""
    shown = f"`rewrite {' '.join(args)}` in {where} ({directive.where})"
    try:
        matched = re.search(pattern, uri)
    except re.error:
        return None, flag, (UNKNOWN, f"{shown}: a regex Python cannot read")
    if matched is None:
        return None, flag, None
    if flag in ("redirect", "permanent") or re.match(r"(https?://|\$scheme)", replacement):
        return None, flag, (STOPS, f"{shown} redirects the client")
    unknown = re.findall(r"\$(?!\d)\{?\w+", replacement)
    if unknown:
        return None, flag, (UNKNOWN, f"{shown}: a variable in the replacement")
    groups: Callable[[re.Match[str]], str] = lambda m: matched.group(int(m.group(1))) or ""  # noqa: E731
    return re.sub(r"\$\{?(\d)\}?", groups, replacement).partition("?")[0], flag, None

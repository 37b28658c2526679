"""The site fix's edit: the directives the plan states, set in place in the site as it is.

The plan states `listen`, `server_name`, `location /ollama/` with its rewrite, `proxy_pass`,
proxy headers and `proxy_http_version` (and, in the hardened profile, its additions). Those
are changed, or added next to the plan's other lines, where the site has them wrong or lacks
them; every other directive and every comment stays byte for byte (an operator's
`auth_basic`, `allow`/`deny`, TLS `listen ... ssl` and its certificates, body size, longer
timeouts). A site that cannot be edited so without guessing is refused, one line, unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from compliance import plan
from compliance.syntax import nginx
from compliance.syntax.nginx import Directive

ACCESS = ("allow", "deny")
TIMEOUTS = ("proxy_read_timeout", "proxy_send_timeout")  # an operator's longer one is kept
INDENT = "    "


class SiteEditError(ValueError):
    """The site cannot be edited in place safely; nothing was changed."""


def _key(directive: Directive) -> tuple[str, ...]:
    """What makes two directives "the same line" of a block (the one replaces the other)."""
    if directive.name == "proxy_set_header" and directive.args:
        return (directive.name, directive.args[0].lower())
    if directive.name == "location":
        where = nginx.Location.of(directive)
        return (directive.name, where.modifier, where.pattern)
    return (directive.name,)


def _same(have: Directive, want: Directive) -> bool:
    """Whether `have` already does what the plan's `want` asks (a longer timeout does)."""
    if have.name in TIMEOUTS:
        mine, ours = nginx.seconds(" ".join(have.args)), nginx.seconds(" ".join(want.args))
        return mine is not None and ours is not None and mine >= ours
    if have.name == "proxy_set_header":
        return have.args[1:] == want.args[1:]
    return have.args == want.args


def _shown(directive: Directive) -> str:
    return " ".join((directive.name, *directive.args))


@dataclass
class _Edits:
    """Replacements of directive spans and insertions of lines, applied at once at the end."""

    text: str  # the site as it is
    want: str  # the plan's site (the text of every directive written comes from it)
    path: str
    replaced: dict[int, tuple[int, str]] = field(default_factory=dict)  # start -> (end, text)
    inserted: dict[int, list[str]] = field(default_factory=dict)  # offset -> lines

    def refuse(self, where: Directive, why: str) -> SiteEditError:
        return SiteEditError(f"{self.path}:{where.line}: {why}")

    def _line_start(self, text: str, offset: int) -> int:
        return text.rfind("\n", 0, offset) + 1

    def _indent(self, text: str, directive: Directive) -> str:
        start = self._line_start(text, directive.span[0])
        return re.match(r"[ \t]*", text[start:]).group()  # type: ignore[union-attr]

    def _written(self, want: Directive, indent: str) -> str:
        """`want` as the plan writes it (comments inside a block included), re-indented."""
        own = self._indent(self.want, want)
        lines = self.want[want.span[0] : want.span[1]].split("\n")
        rest = [indent + line.removeprefix(own) if line.strip() else "" for line in lines[1:]]
        return "\n".join([indent + lines[0], *rest]) + "\n"

    def indent(self, directive: Directive) -> str:
        return self._indent(self.text, directive)

    def remove(self, directive: Directive) -> None:
        """Drop a directive, with its line when nothing else but a comment is on it."""
        start, end = directive.span
        line = self._line_start(self.text, start)
        stop = self.text.find("\n", end)
        stop = len(self.text) if stop < 0 else stop + 1
        if not self.text[line:start].strip() and not self.text[end:stop].split("#")[0].strip():
            start, end = line, stop
        self.replaced[start] = (end, "")

    def replace(self, have: Directive, want: Directive) -> None:
        self.replaced[have.span[0]] = (have.span[1], self.want[want.span[0] : want.span[1]])

    def insert(self, block: Directive, after: Directive | None, want: Directive) -> None:
        """Add `want` on its own line after `after` (else first in `block`)."""
        if after is not None:
            end = self.text.find("\n", after.span[1])
            offset = len(self.text) if end < 0 else end + 1
            indent = self._indent(self.text, after)
        elif block.block:
            first = block.block[0]
            offset = self._line_start(self.text, first.span[0])
            indent = self._indent(self.text, first)
        else:
            close = block.span[1] - 1
            offset = self._line_start(self.text, close)
            if self.text[offset:close].strip():
                raise self.refuse(block, f"`{_shown(block)} {{ ... }}` is written on one line")
            indent = self.text[offset:close] + INDENT
        if offset == len(self.text) and not self.text.endswith("\n"):
            self.inserted.setdefault(offset, []).append("\n")
        self.inserted.setdefault(offset, []).append(self._written(want, indent))

    def result(self) -> str:
        out, at = [], 0
        for offset in sorted({*self.replaced, *self.inserted}):
            out.append(self.text[at:offset])
            at = offset
            out += self.inserted.get(offset, [])
            if offset in self.replaced:
                end, text = self.replaced[offset]
                out.append(text)
                at = end
        out.append(self.text[at:])
        return "".join(out)


def _plan_locations(server: Directive) -> list[Directive]:
    return [d for d in server.children("location") if _key(d) == ("location", "", plan.LOCATION)]


def edit(text: str, want: str, path: str, drop: frozenset[int] = frozenset()) -> str:
    """`text` (the site as it is) with the plan's directives of `want` set in place; the
    locations of our server starting at a line of `drop` (the hardened profile's: they open
    write endpoints the guard closes) removed."""
    config = nginx.parse(text)
    if config.errors:
        raise SiteEditError(f"{path} cannot be parsed ({config.errors[0]})")
    want_server = nginx.parse(want).find("server")[0]
    want_location = _plan_locations(want_server)[0]
    servers = [d for d in config.directives if d.name == "server"]
    ours = [s for s in servers if _plan_locations(s)]
    if len(ours) > 1:
        lines = ", ".join(str(s.line) for s in ours)
        raise SiteEditError(
            f"{path}: server blocks at lines {lines} each hold `location {plan.LOCATION}`: "
            "which one is the plan's is ambiguous"
        )
    if not ours and len(servers) != 1:
        raise SiteEditError(
            f"{path}: {len(servers) or 'no'} server blocks and none holds "
            f"`location {plan.LOCATION}`: where the plan's goes is ambiguous"
        )
    server = (ours or servers)[0]
    edits = _Edits(text, want, path)
    anchor = _listen(edits, server, want_server)
    anchor = _server_name(edits, server, want_server, anchor)
    locations = _plan_locations(server)
    if len(locations) > 1:
        lines = ", ".join(str(d.line) for d in locations)
        raise SiteEditError(
            f"{path}: `location {plan.LOCATION}` at lines {lines}: which one is the plan's "
            "is ambiguous"
        )
    for location in server.children("location"):
        if location.line in drop and location not in locations:
            edits.remove(location)
    if locations:
        _block(edits, locations[0], want_location)
    else:
        edits.insert(server, server.block[-1] if server.block else None, want_location)
    edited = edits.result()
    left = sorted(set(re.findall(r"<[A-Z0-9_]+>", edited)))
    if left:
        shown = ", ".join(left)
        raise SiteEditError(f"{path}: placeholder {shown} in a line the plan does not own")
    return edited


def _listen(edits: _Edits, server: Directive, want_server: Directive) -> Directive | None:
    """The plan's port among the listens: an operator's `listen 443 ssl` is kept beside it; a
    plain listen on another port is the plan's, on the wrong port."""
    want = want_server.children("listen")[0]
    have = server.children("listen")
    if plan.SITE.listen_port in {listen.port for listen in nginx.listens(server)}:
        return have[-1] if have else None  # none written: nginx's default, *:80
    plain = [d for d in have if "ssl" not in d.args[1:] and not d.args[0].startswith("unix:")]
    if plain:
        edits.replace(plain[0], want)
        return have[-1]
    edits.insert(server, None, want)
    return have[-1] if have else None


def _server_name(
    edits: _Edits, server: Directive, want_server: Directive, anchor: Directive | None
) -> Directive | None:
    want = want_server.children("server_name")[0]
    have = server.children("server_name")
    if want.args[0] in nginx.server_names(server):
        return have[-1]
    if have:
        edits.replace(have[0], want)
        return have[-1]
    edits.insert(server, anchor, want)
    return anchor


def _block(edits: _Edits, have: Directive, want: Directive) -> None:
    """Set the plan's lines of `want` (a location) in `have`, in the plan's order."""
    anchor: Directive | None = None
    access_done = False
    children = have.block or ()
    for line in want.block or ():
        if line.name in ACCESS:
            if not access_done:
                anchor = _access(edits, have, want, anchor)
                access_done = True
            continue
        matches = [d for d in children if _key(d) == _key(line)]
        if not matches:
            edits.insert(have, anchor, line)
            continue
        if line.name == "location":
            if len(matches) > 1:
                raise edits.refuse(matches[1], f"`{_shown(line)}` twice: which is ours?")
            _block(edits, matches[0], line)
        elif not any(_same(d, line) for d in matches):
            if len(matches) > 1:
                raise edits.refuse(
                    matches[0],
                    f"{len(matches)} `{line.name}` lines in `{_shown(have)}`, none the plan's: "
                    "which one to change is ambiguous",
                )
            edits.replace(matches[0], line)
        anchor = matches[-1]


def _access(
    edits: _Edits, have: Directive, want: Directive, anchor: Directive | None
) -> Directive | None:
    """The hardened profile's allow/deny lines (who may manage models): the plan states them,
    in its order (the first match decides), so the location's are replaced as one list."""
    wanted = [d for d in want.block or () if d.name in ACCESS]
    found = [d for d in have.block or () if d.name in ACCESS]
    if [(d.name, d.args) for d in found] == [(d.name, d.args) for d in wanted]:
        return found[-1] if found else anchor
    if not found:
        for line in wanted:
            edits.insert(have, anchor, line)
        return anchor
    indent = edits.indent(found[0])
    text = ("\n" + indent).join(edits.want[d.span[0] : d.span[1]] for d in wanted)
    edits.replaced[found[0].span[0]] = (found[0].span[1], text)
    for extra in found[1:]:
        edits.remove(extra)
    return found[0]

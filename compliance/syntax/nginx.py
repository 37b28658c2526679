"""nginx configuration: a lexer and a directive tree, and the values the checks read in it.

Written here rather than taken from crossplane (nginxinc's parser): crossplane parses files on
the local disk and follows includes there, while the suite reads a remote host's site file and
its `nginx -T` dump as text (crossplane's lexer for text is private API); the grammar is small
(words, quotes, `;`, `{`, `}`, `#` comments) and the lexer below follows nginx's
ngx_conf_read_token: a quote opens a string only at the start of a word, `${var}` stays a word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Directive:
    """One directive: its name, arguments (quotes removed), where it is, and its block."""

    name: str
    args: tuple[str, ...]
    file: str = ""
    line: int = 0
    block: tuple[Directive, ...] | None = None
    # Offsets in the parsed text: the first word to just after its `;` or closing `}`
    # (what an in-place edit replaces); not part of what the directive means.
    span: tuple[int, int] = field(default=(0, 0), compare=False)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else f"line {self.line}"

    def children(self, name: str) -> list[Directive]:
        """The directives of this block named `name` (not nested deeper)."""
        return [d for d in self.block or () if d.name == name]

    def value(self, name: str) -> str | None:
        """The arguments of the last `name` directive of this block, joined (None: not set)."""
        found = self.children(name)
        return " ".join(found[-1].args) if found else None


@dataclass(frozen=True)
class Config:
    """A parsed file: its top-level directives and what could not be read."""

    directives: tuple[Directive, ...]
    errors: tuple[str, ...] = ()

    def find(self, name: str) -> list[Directive]:
        """Every directive named `name`, at any depth, in file order."""
        return [d for d in walk(self.directives) if d.name == name]

    def shape(self) -> tuple[object, ...]:
        """What nginx reads of the file: directives and arguments, without comments,
        whitespace or line numbers (two files with the same shape configure the same)."""
        return _shape(self.directives)


def _shape(directives: tuple[Directive, ...]) -> tuple[object, ...]:
    return tuple((d.name, d.args, None if d.block is None else _shape(d.block)) for d in directives)


def walk(directives: tuple[Directive, ...]) -> Iterator[Directive]:
    for directive in directives:
        yield directive
        if directive.block:
            yield from walk(directive.block)


@dataclass
class _Token:
    text: str
    line: int
    quoted: bool = False
    start: int = 0
    end: int = 0


def _tokens(text: str, errors: list[str]) -> Iterator[_Token]:
    """nginx's tokens: words and quoted strings, and `;`, `{`, `}` on their own."""
    i, line, size = 0, 1, len(text)
    while i < size:
        char = text[i]
        if char == "\n":
            line += 1
            i += 1
        elif char.isspace():
            i += 1
        elif char == "#":
            while i < size and text[i] != "\n":
                i += 1
        elif char in ";{}":
            yield _Token(char, line, start=i, end=i + 1)
            i += 1
        elif char in "\"'":
            begin, start, i, chars = i, line, i + 1, []
            while i < size and text[i] != char:
                if text[i] == "\\" and i + 1 < size:
                    i += 1
                line += text[i] == "\n"
                chars.append(text[i])
                i += 1
            if i >= size:
                errors.append(f"line {start}: unterminated {char}quote")
            i += 1
            yield _Token("".join(chars), start, quoted=True, start=begin, end=min(i, size))
        else:
            start, chars = i, []
            while i < size and not text[i].isspace() and text[i] not in ";{}":
                if text[i] == "$" and text.startswith("${", i):
                    end = text.find("}", i)
                    end = size - 1 if end < 0 else end
                    chars.append(text[i : end + 1])
                    i = end + 1
                    continue
                if text[i] == "\\" and i + 1 < size:
                    chars.append(text[i : i + 2])
                    i += 2
                    continue
                chars.append(text[i])
                i += 1
            yield _Token("".join(chars), line, start=start, end=i)


def parse(text: str, file: str = "") -> Config:
    """The directive tree of one file's text (an unbalanced brace or a missing `;` is an
    error recorded in the Config; what could be read is kept)."""
    errors: list[str] = []
    tokens = list(_tokens(text, errors))
    position = 0

    def block(depth: int) -> tuple[Directive, ...]:
        nonlocal position
        found: list[Directive] = []
        words: list[_Token] = []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token.text == ";" and not token.quoted:
                if words:
                    found.append(_directive(words, file, end=token.end))
                words = []
            elif token.text == "{" and not token.quoted:
                head = words or [_Token("", token.line, start=token.start)]
                inner = block(depth + 1)
                closed = tokens[position - 1].end if position <= len(tokens) else len(text)
                found.append(_directive(head, file, inner, closed))
                words = []
            elif token.text == "}" and not token.quoted:
                if words:
                    errors.append(f"line {words[0].line}: `{words[0].text}` has no `;`")
                    words = []
                if depth == 0:
                    errors.append(f"line {token.line}: unexpected `}}`")
                    continue
                return tuple(found)
            else:
                words.append(token)
        if words:
            errors.append(f"line {words[0].line}: `{words[0].text}` has no `;`")
        if depth:
            errors.append("unexpected end of file: a block is not closed")
        return tuple(found)

    return Config(block(0), tuple(errors))


def _directive(
    words: list[_Token], file: str, inner: tuple[Directive, ...] | None = None, end: int = 0
) -> Directive:
    args = tuple(w.text for w in words[1:])
    return Directive(words[0].text, args, file, words[0].line, inner, (words[0].start, end))


# -- values in a tree ---------------------------------------------------------------------


def seconds(value: str) -> float | None:
    """nginx time values (`600`, `600s`, `10m`, `1h 30m`) in seconds; None if unreadable."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "": 1}
    total, found = 0.0, False
    for number, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|)\b", value.strip()):
        total += int(number) * units[unit]
        found = True
    return total if found else None


@dataclass(frozen=True)
class Listen:
    """One `listen` of a server: the address (`*` for any), the port, default_server."""

    address: str
    port: int
    default: bool = False


def listens(server: Directive) -> tuple[Listen, ...]:
    """A server's listens; none written means nginx's default, `*:80` (as root)."""
    found = []
    for directive in server.children("listen"):
        if not directive.args or directive.args[0].startswith("unix:"):
            continue
        address, port = _address_port(directive.args[0])
        flags = set(directive.args[1:])
        found.append(Listen(address, port, bool(flags & {"default_server", "default"})))
    return tuple(found) if server.children("listen") else (Listen("*", 80),)


def _address_port(value: str) -> tuple[str, int]:
    """`80`, `[::]:80`, `10.0.0.1:8080`, `10.0.0.1`, `*:80` -> (address, port)."""
    if value.startswith("["):
        address, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "80"
        return f"[{address}]", int(port) if port.isdigit() else 80
    if value.isdigit():
        return "*", int(value)
    address, sep, port = value.rpartition(":")
    if sep:
        return address or "*", int(port) if port.isdigit() else 80
    return value, 80  # a bare address listens on 80


def server_names(server: Directive) -> tuple[str, ...]:
    return tuple(name for d in server.children("server_name") for name in d.args)


def proxy_target(proxy_pass: str) -> tuple[str, int] | None:
    """(host, port) of `http://host:port` (no URI part), else None."""
    match = re.fullmatch(r"http://([^/:\[\]]+|\[[^\]]+\]):(\d+)", proxy_pass)
    if not match:
        return None
    return match.group(1).strip("[]"), int(match.group(2))


@dataclass(frozen=True)
class Location:
    """A `location` block: its modifier (`=`, `^~`, `~`, `~*` or ''), its pattern, itself."""

    modifier: str
    pattern: str
    directive: Directive

    @classmethod
    def of(cls, directive: Directive) -> Location:
        args = directive.args
        if len(args) >= 2 and args[0] in ("=", "^~", "~", "~*"):
            return cls(args[0], args[1], directive)
        if args and args[0][:2] in ("~*",) and len(args[0]) > 2:
            return cls("~*", args[0][2:], directive)
        if args and args[0][:1] in ("~", "=") and len(args[0]) > 1:
            return cls(args[0][0], args[0][1:], directive)
        return cls("", args[0] if args else "", directive)

    def matches(self, uri: str) -> bool:
        """Whether nginx would consider this location for `uri` (prefix or regex; a regex
        Python cannot read matches nothing)."""
        if self.modifier == "=":
            return uri == self.pattern
        if self.modifier in ("~", "~*"):
            return bool(self.search(uri))
        return uri.startswith(self.pattern)

    def search(self, uri: str) -> bool | None:
        """Whether this regex location's pattern (nginx's PCRE, read as Python's) matches
        `uri`; None when Python cannot read the pattern."""
        flags = re.IGNORECASE if self.modifier == "~*" else 0
        try:
            return re.search(self.pattern, uri, flags) is not None
        except re.error:
            return None

    @property
    def shown(self) -> str:
        """`location = /ollama/api/pull`, `location /ollama/`, as written."""
        return "location " + " ".join(filter(None, (self.modifier, self.pattern)))


def locations(block: Directive) -> list[Location]:
    """The `location` blocks directly inside a server or location."""
    return [Location.of(d) for d in block.children("location")]


def choose_location(block: Directive, uri: str) -> Location | None:
    """The location nginx picks for `uri` in a server (see `find_location`)."""
    return find_location(block, uri).location


@dataclass(frozen=True)
class Found:
    """The location nginx picks for a URI, with the locations it is nested in (outermost
    first: what inheritance walks through), and the regexes it had to try that Python cannot
    read (the choice is then not known)."""

    chain: tuple[Location, ...] = ()
    unreadable: tuple[Location, ...] = ()

    @property
    def location(self) -> Location | None:
        return self.chain[-1] if self.chain else None


def find_location(block: Directive, uri: str) -> Found:
    """nginx's choice among the locations of a server (ngx_http_core_find_location, nginx
    1.22): at each level the exact `=` match wins at once; else the longest matching prefix is
    remembered and its nested locations are searched first (an exact or regex match there is
    final); then, unless that prefix is `^~`, this level's regexes in file order (the first
    that matches wins, and its own nested locations are searched); else the deepest prefix
    found. A nested `^~` stops only its parent's regexes, not the server's. Named locations
    (`@name`) are never chosen for a URI."""
    chain: list[Location] = []
    unreadable: list[Location] = []
    _find(block, uri, chain, unreadable)
    return Found(tuple(chain), tuple(unreadable))


_OK, _AGAIN, _DECLINED = "ok", "again", "declined"


def _find(block: Directive, uri: str, chain: list[Location], unreadable: list[Location]) -> str:
    """One level of ngx_http_core_find_location: appends to `chain`, returns nginx's rc."""
    mark = len(chain)
    found = [loc for loc in locations(block) if not loc.pattern.startswith("@")]
    exact = next((loc for loc in found if loc.modifier == "=" and loc.pattern == uri), None)
    if exact is not None:
        chain.append(exact)
        return _OK
    prefixes = [loc for loc in found if loc.modifier in ("", "^~") and uri.startswith(loc.pattern)]
    prefix = max(prefixes, key=lambda loc: len(loc.pattern), default=None)
    rc, noregex = _DECLINED, False
    if prefix is not None:
        chain.append(prefix)
        noregex = prefix.modifier == "^~"
        rc = _find(prefix.directive, uri, chain, unreadable)
        if rc == _OK:
            return _OK
        rc = _AGAIN
    if noregex:
        return rc
    for loc in found:
        if loc.modifier not in ("~", "~*"):
            continue
        matched = loc.search(uri)
        if matched is None:
            unreadable.append(loc)
        elif matched:
            del chain[mark:]
            chain.append(loc)
            _find(loc.directive, uri, chain, unreadable)
            return _OK
    return rc


@dataclass(frozen=True)
class Headers:
    """The `proxy_set_header` a location sends, by nginx's inheritance rule: a level that sets
    any inherits none from the levels above; `from_level` says which level they come from."""

    values: dict[str, str] = field(default_factory=dict)
    from_level: str = ""


def proxy_headers(levels: list[Directive]) -> Headers:
    """The effective proxy headers of the innermost of `levels` (outermost first)."""
    for directive in reversed(levels):
        own = directive.children("proxy_set_header")
        if own:
            values = {d.args[0].lower(): " ".join(d.args[1:]) for d in own if d.args}
            return Headers(values, directive.name or "top")
    return Headers({}, "")


def inherited(levels: list[Directive], name: str) -> str | None:
    """A plain directive's value as the innermost level sees it (its own, else inherited)."""
    for directive in reversed(levels):
        value = directive.value(name)
        if value is not None:
            return value
    return None

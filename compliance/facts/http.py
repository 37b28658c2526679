"""HTTP facts: Ollama's API asked directly in the container, and through the proxy by the
runner (plan sections 6.1.4 and 6.2.2, and the hardened profile's requests)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from shlex import quote
from typing import ClassVar, Self

from compliance import plan
from compliance.facts import Fact, Scope
from compliance.syntax.live_try import TRY_SECONDS, Try

TRAILER = "@@http"
DIRECT_BASE = f"http://127.0.0.1:{plan.PORT}/"


@dataclass(frozen=True)
class HttpReply:
    """Status, content type and body of one HTTP exchange."""

    status: int
    content_type: str
    body: str


def curl(url: str, seconds: int = 5) -> str:
    """curl printing the body, then a trailer line with status and content type.

    Bounded like the runner's own requests: `--max-time` for the whole exchange and
    `--max-filesize` at the same byte cap (curl < 8.4 applies it only to a body whose length
    is announced up front). `--noproxy '*'`: the CT's 127.0.0.1 is asked directly, whatever
    proxy variables `pct exec` passes in from the host's environment (it keeps them).
    """
    from compliance.transport.http import MAX_BODY

    trailer = quote(f"\\n{TRAILER} %{{http_code}} %{{content_type}}")
    bounds = f"--max-time {seconds} --max-filesize {MAX_BODY}"
    return f"curl -sS --noproxy '*' {bounds} -w {trailer} {quote(url)}"


def curl_reply(text: str) -> HttpReply | None:
    """Parse `curl -w '\\n@@http %{http_code} %{content_type}'` output (None if no reply)."""
    body, sep, trailer = text.rpartition("\n" + TRAILER + " ")
    if not sep:
        return None
    code, _, ctype = trailer.strip().partition(" ")
    if not code.isdigit() or code == "000":
        return None
    return HttpReply(int(code), ctype.strip(), body)


def runner_reply(rc: int, output: str) -> HttpReply | None:
    """An exchange made by the runner: an `HTTP STATUS TYPE` line, then the body."""
    head, _, body = output.partition("\n")
    match = re.fullmatch(r"HTTP (\d{3}) ?(.*)", head)
    if rc != 0 or not match:
        return None
    return HttpReply(int(match.group(1)), match.group(2), body)


def served_models(reply: HttpReply | None) -> str:
    """`llama3:8b, qwen2:7b` from an /api/tags reply; `no reply`, `status 502`, `not JSON`."""
    if reply is None:
        return "no reply"
    if reply.status != 200:
        return f"status {reply.status}"
    try:
        models = json.loads(reply.body).get("models") or []
        names = sorted(str(m.get("name", "?")) for m in models if isinstance(m, dict))
    except (ValueError, AttributeError):
        return "not JSON"
    return ", ".join(names) or "(none)"


@dataclass(frozen=True)
class HttpFact(Fact, register=False):
    """An HTTP exchange: the reply, None when nothing answered."""

    reply: HttpReply | None

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        if cls.where == "runner":
            return cls(runner_reply(rc, output))
        return cls(curl_reply(output))


class DirectTags(HttpFact):
    """GET 127.0.0.1:11434/api/tags inside the container (curl)."""

    observes = "service"

    def drift(self) -> dict[str, str]:
        """The models served, by name (or why there is no list)."""
        return {"models": served_models(self.reply)}

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return curl(DIRECT_BASE + plan.API_PATH.lstrip("/"))


class DirectVersion(HttpFact):
    """GET 127.0.0.1:11434/api/version inside the container (curl)."""

    hardened = True
    observes = "service"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return curl(DIRECT_BASE + "api/version")


def proxy_base(scope: Scope) -> str:
    """The proxied API's base URL of a container's site (ends with a slash)."""
    assert scope.site is not None, "a runner request is about one container"
    return scope.site.proxy_url_for(scope.host_address)


class RunnerRequest(HttpFact, register=False):
    """A request through the proxy from the runner: `method` `<proxy>/<path>` (a write is
    sent an empty `{}`: refused by nginx, or rejected by Ollama; never a change)."""

    where = "runner"
    method: ClassVar[str] = "GET"
    path: ClassVar[str] = ""

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return f"{cls.method} {proxy_base(scope)}{cls.path}"


class ProxiedTags(RunnerRequest):
    """GET <proxy>/api/tags from the runner (requests, no proxy variables)."""

    path = plan.API_PATH.lstrip("/")
    observes = "proxy"


class ProxiedVersion(RunnerRequest):
    """GET <proxy>/api/version from the runner."""

    path = "api/version"
    hardened = True
    observes = "proxy"


class ProxiedPs(RunnerRequest):
    """GET <proxy>/api/ps from the runner: a read that must still answer."""

    path = "api/ps"
    hardened = True
    observes = "proxy"


class ProxiedDelete(RunnerRequest):
    """DELETE <proxy>/api/delete (body `{}`) from the runner: nginx must refuse it."""

    method = "DELETE"
    path = "api/delete"
    hardened = True
    on_demand = True
    observes = "proxy"


@dataclass(frozen=True)
class ReachFromRunner(Fact):
    """A live try of a CT address's port from the runner (when it is another machine on the
    LAN): did it reach the link, what did the connection do (compliance/syntax/live_try.py).
    Arguments: the address, and for a link-local IPv6 address the same CT's IPv4 (the runner
    reaches it on the interface towards that)."""

    seen: Try = field(default_factory=Try)
    where = "runner"
    on_demand = True
    observes = "firewall"

    @classmethod
    def command(cls, scope: Scope, *args: str) -> str:
        return f"TRY {' '.join(args[:1])} {plan.PORT} {TRY_SECONDS} {' '.join(args[1:])}".strip()

    @classmethod
    def parse(cls, rc: int, output: str) -> Self:
        return cls(Try.parse(output))

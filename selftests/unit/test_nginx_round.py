"""One nginx round for several containers: one nginx -t, one reload, a bad site blamed alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from remediation import nginx_round
from remediation.base import CHANGED, FAILED, Plan
from remediation.fix_nginx import NginxSite, Steps
from remediation.remote import Step

NOT_OURS = "/etc/nginx/conf.d/other.conf"


@dataclass
class Nginx:
    """The host's nginx as the round sees it: the files on disk and every command, in order."""

    bad: set[str] = field(default_factory=set)  # site files nginx -t rejects
    foreign_error: bool = False
    on_disk: set[str] = field(default_factory=set)
    log: list[str] = field(default_factory=list)

    def test(self) -> Step:
        broken = sorted(self.on_disk & self.bad)
        if self.foreign_error:
            error = f'nginx: [emerg] unknown directive "x" in {NOT_OURS}:1'
            return Step("host", "nginx -t", 1, error)
        if broken:
            return Step("host", "nginx -t", 1, f"nginx: [emerg] unexpected end in {broken[0]}:3")
        return Step("host", "nginx -t", 0, "syntax is ok")


@dataclass
class HostRemote:
    nginx: Nginx
    steps: list[Step] = field(default_factory=list)

    def run(self, command: str) -> Step:
        self.nginx.log.append(
            f"{command} with {sorted(self.nginx.on_disk)}" if command != "nginx -t" else command
        )
        step = self.nginx.test() if command == "nginx -t" else Step("host", command, 0, "")
        self.steps.append(step)
        return step

    def restore(self, path: str) -> Step:
        self.nginx.on_disk.discard(path)
        self.nginx.log.append(f"restore {path}")
        return Step("host", f"restore {path}", 0, "")


class Ctx(SimpleNamespace):
    def refresh(self) -> None:
        pass


def ctx(nginx: Nginx, ctid: str) -> Any:
    site = SimpleNamespace(site_file=f"/sites/ollama_{ctid}", site_link=f"/enabled/ollama_{ctid}")
    target = SimpleNamespace(site=site, host=SimpleNamespace(label="proxmox"))
    ct = SimpleNamespace(steps=[])
    return Ctx(target=target, ct=ct, host=HostRemote(nginx), dry_run=False)


class Staged(NginxSite):
    """nginx_site with its planning and writing replaced by the fake host's."""

    def __init__(self, interrupt: bool = False) -> None:
        self.interrupt = interrupt

    def _plan(self, ctx: Any) -> tuple[Plan, Steps | None]:
        return Plan(diffs=["a diff"], settle_s=0.0), Steps("site", True, True, True)

    @staticmethod
    def write(ctx: Any, steps: Steps) -> None:
        ctx.host.nginx.on_disk.add(ctx.target.site.site_file)

    def unverified(self, ctx: Any) -> str | None:
        if self.interrupt:
            raise KeyboardInterrupt
        return None


def test_three_sites_are_validated_once_and_reloaded_once():
    nginx = Nginx()
    outcomes = nginx_round.run(Staged(), [ctx(nginx, c) for c in ("955", "956", "957")])
    assert [o.status for o in outcomes] == [CHANGED] * 3
    every = ["/sites/ollama_955", "/sites/ollama_956", "/sites/ollama_957"]
    assert nginx.log == ["nginx -t", f"systemctl reload nginx with {every}"]


def test_a_bad_site_is_named_restored_and_never_reloaded_while_the_others_converge():
    nginx = Nginx(bad={"/sites/ollama_956"})
    outcomes = nginx_round.run(Staged(), [ctx(nginx, c) for c in ("955", "956", "957")])
    assert [o.status for o in outcomes] == [CHANGED, FAILED, CHANGED]
    assert "nginx -t fails with our site /sites/ollama_956 in place" in outcomes[1].message
    assert "restore /sites/ollama_956" in nginx.log
    reloads = [line for line in nginx.log if line.startswith("systemctl reload")]
    assert reloads == ["systemctl reload nginx with ['/sites/ollama_955', '/sites/ollama_957']"]


def test_an_error_no_site_of_the_round_explains_restores_them_all_without_a_reload():
    nginx = Nginx(foreign_error=True)
    outcomes = nginx_round.run(Staged(), [ctx(nginx, c) for c in ("955", "956")])
    assert [o.status for o in outcomes] == [FAILED, FAILED]
    assert NOT_OURS in outcomes[0].message
    assert "no site of it named" in outcomes[0].message
    assert nginx.on_disk == set()
    assert not any(line.startswith("systemctl reload") for line in nginx.log)


def test_an_interrupt_mid_round_restores_every_file_it_wrote_and_is_let_through():
    nginx = Nginx()
    with pytest.raises(KeyboardInterrupt):
        nginx_round.run(Staged(interrupt=True), [ctx(nginx, c) for c in ("955", "956")])
    assert nginx.on_disk == set()
    assert nginx.log[-2:] == ["nginx -t", "systemctl reload nginx with []"]

"""nginx_site: the plan's site on the host, linked, validated, reloaded, proven end to end."""

from __future__ import annotations

from compliance import parsers
from compliance.http import fetch
from compliance.ollama_api import tags_problems
from compliance.targets import ct_ip
from remediation import render
from remediation.base import (
    Context,
    Fix,
    FixError,
    NotRemediable,
    Plan,
    rollback_outcome,
    unified_diff,
    wait_until,
)

SETTLE_TIMEOUT_S = 10.0


class NginxSite(Fix):
    """Write the site, link it, `nginx -t` with it in place, reload, wait until it answers."""

    name = "nginx_site"
    target = "pve"
    requires = ("systemd_unit",)

    def plan(self, ctx: Context) -> Plan:
        settings = ctx.container.site
        site, link = settings.site_file, settings.site_link
        address, how = ct_ip(ctx.fleet, ctx.container)
        if address is None:
            raise NotRemediable(f"the CT's IP is unknown ({how}); nothing was changed")
        try:
            want = render.site(settings.server_name_for(ctx.container.pve.address), address)
        except render.RenderError as why:
            raise NotRemediable(f"refused before any change: {why}") from None
        store = ctx.container.pve.store
        tested = parsers.nginx_test(store.get("nginx_t").rc, store.get("nginx_t").output)
        if not tested.ok and tested.error_file not in ctx.fleet.site_paths():
            raise NotRemediable(
                f"nginx -t already fails in {tested.error_file or 'the config'} (not our site): "
                f"{tested.error}. Fix that file first; nothing was changed, nginx not reloaded"
            )
        have = ctx.pve.read(site)[site]  # exact bytes (facts drop the final newline)
        link_fact = store.get(f"site_link_{ctx.container.ctid}")
        linked = parsers.link_target(link_fact.output, link) == ("link", site)
        state = parsers.nginx_state(store.get("nginx_state").output)
        plan = Plan()
        if have != want:
            plan.diffs.append(unified_diff(site, have, want))
        if not linked:
            plan.commands.append(f"ln -sfn {site} {link}")
        if not plan.empty or state.stale_files() or not state.running:
            plan.commands.append("nginx -t")
            plan.commands.append(self._reload(ctx, state.running))
            write = want if have != want else None
            plan.apply = lambda: self._apply(ctx, write, not linked, state.running)
        return plan

    @staticmethod
    def _reload(ctx: Context, running: bool) -> str:
        systemd = ctx.container.pve.store.get("init").output.strip() == "systemd"
        if systemd:
            return "systemctl reload nginx" if running else "systemctl start nginx"
        return "nginx -s reload" if running else "nginx"

    def _apply(self, ctx: Context, want: str | None, relink: bool, running: bool) -> None:
        """Write the site (if it differs) and the link (if wrong), test, reload, verify."""
        settings, pve = ctx.container.site, ctx.pve
        site, link = settings.site_file, settings.site_link
        pve.clean_temps(site, link)
        try:
            if want is not None and pve.install(site, want).rc != 0:
                raise FixError(f"could not write {site}")
            if relink and pve.link(link, site).rc != 0:
                raise FixError(f"could not link {link}")
            tested = pve.run("nginx -t")
            verdict = parsers.nginx_test(tested.rc, tested.output)
            if not verdict.ok:
                raise FixError(f"nginx -t fails with our site in place: {verdict.error}")
        except FixError as failure:
            undo = [pve.restore(site), pve.restore(link)]
            done = rollback_outcome(undo, f"restored {site} and {link}")
            raise FixError(f"{failure}; {done}, nginx not reloaded") from None
        reloaded = pve.run(self._reload(ctx, running))
        reason = reloaded.output if reloaded.rc != 0 else None
        reason = reason or wait_until(lambda: self._serving(ctx), SETTLE_TIMEOUT_S)
        if reason:
            undo = [pve.restore(site), pve.restore(link), pve.run(self._reload(ctx, running=True))]
            done = rollback_outcome(undo, "restored the old config")
            raise FixError(f"nginx did not take the new site: {reason}; {done}")

    @staticmethod
    def _serving(ctx: Context) -> str | None:
        """None once nginx runs the new config and the proxied /api/tags answers."""
        store = ctx.container.pve.store
        store.invalidate()
        state = parsers.nginx_state(store.get("nginx_state").output)
        if not state.running:
            return "nginx is not running"
        if state.stale_files():
            return f"reload not in effect yet ({', '.join(state.stale_files())})"
        url = ctx.container.tags_url()
        fact, reply = fetch(url, timeout=3.0)
        _models, problems = tags_problems(reply)
        return f"{url}: {'; '.join(problems)} ({fact.output[:120]})" if problems else None

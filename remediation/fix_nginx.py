"""nginx_site: the plan's site on the host, linked, validated, reloaded, proven end to end."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from compliance.catalogue.served import shadowed_by
from compliance.catalogue.upstream import container_ip
from compliance.catalogue.verdict import Subject
from compliance.facts.nginx import NginxLoaded, NginxState, NginxTest, SiteConfig, SiteLink
from compliance.facts.proxmox import HostInit
from compliance.syntax import nginx
from remediation import nginx_round, render, site_edit
from remediation.base import (
    Context,
    Fix,
    FixError,
    NotRemediable,
    Outcome,
    Plan,
    must,
    unified_diff,
)

SETTLE_TIMEOUT_S = 10.0
PLAN_OWNER, PLAN_MODE = "root:root", 0o644


@dataclass
class Steps:
    """What the plan changes, and (filled in while applying) whether nginx was reloaded."""

    site: str | None  # the site's new content, None when it already matches
    relink: bool
    running: bool
    systemd: bool
    reloaded: bool = field(default=False)

    def reload(self, running: bool | None = None) -> str:
        """The command that makes nginx read its config (start it when it is not running)."""
        up = self.running if running is None else running
        if self.systemd:
            return "systemctl reload nginx" if up else "systemctl start nginx"
        return "nginx -s reload" if up else "nginx"


def operators_line_fails(
    tested: NginxTest, config: nginx.Config, text: str, want: str
) -> nginx.Directive | None:
    """The directive of our site, not one of the plan's, at which `nginx -t` fails (the edit
    keeps it, so the site would fail again), else None.

    nginx names the line it had read up to when it judged the directive: that of its `;`, or
    of its `{` for a block, so a directive written over several lines is found by the lines it
    covers, the innermost one that covers the named line."""
    found = re.search(rf"{re.escape(tested.error_file)}:(\d+)", tested.error)
    if tested.ok or not found:
        return None
    number = int(found.group(1))
    ours = {d.name for d in nginx.walk(nginx.parse(want).directives)}
    covering = [
        d
        for d in nginx.walk(config.directives)  # `text` parsed: its spans are offsets in it
        if d.line <= number <= d.line + text.count("\n", d.span[0], max(d.span[1] - 1, 0))
    ]
    if not covering or covering[-1].name in ours:
        return None
    return covering[-1]


DISABLED_MARK = "# disabled by ollama-lxc-compliance --fix, nginx -t:"


def disable_line(text: str, directive: nginx.Directive, error: str) -> str | None:
    """`text` with the directive nginx rejects turned into comments, every line of it (a
    directive over several lines, or a whole block, braces and all, so the braces around it
    still pair), kept under nginx's reason for its owner to mend; None when it shares a line
    with another directive (commenting that line would take the other one too)."""
    start, end = directive.span
    first = text.rfind("\n", 0, start) + 1
    last = text.find("\n", end)
    last = len(text) if last < 0 else last
    before, after = text[first:start], text[end:last].strip()
    if before.strip() or (after and not after.startswith("#")) or start == end:
        return None
    lines = text[first:last].split("\n")
    indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
    reason = re.sub(r"^\d+#\d+: ", "", error.split("] ", 1)[-1].strip())  # nginx's pid#tid
    commented = [f"{indent}{DISABLED_MARK} {reason}"]
    commented += [
        f"{line[: len(line) - len(line.lstrip())]}# {line.lstrip()}" if line.strip() else line
        for line in lines
    ]
    return text[:first] + "\n".join(commented) + text[last:]


def leaking_lines(s: Subject) -> frozenset[int]:
    """Lines of our site where a location lets write endpoints reach the CT past the guard
    (the hardened profile's to remove: it states who may manage models)."""
    from compliance.catalogue import manage  # the hardened profile's: a plain run skips it

    if not s[NginxLoaded].ok:
        return frozenset()
    found = (
        re.search(r"\((\S+):(\d+)\)$", leak.location)
        for leak in manage.judge(s).leaks
        if leak.file in s.our_paths
    )
    return frozenset(int(m.group(2)) for m in found if m and m.group(1) in s.our_paths)


def _manage_elsewhere(s: Subject) -> str | None:
    """Hardened: a write endpoint open through a file the plan does not own (named), or None."""
    from compliance.catalogue import manage

    return manage.elsewhere(s)


class NginxSite(Fix):
    """Write the site, link it, `nginx -t` with it in place, reload; verified end to end."""

    name = "nginx_site"
    target = "host"
    requires = ("systemd_unit",)
    shares_host = True

    def plan(self, ctx: Context) -> Plan:
        return self._plan(ctx)[0]

    def _plan(self, ctx: Context) -> tuple[Plan, Steps | None]:
        """The plan, and what applying it changes (None for an empty plan)."""
        s = ctx.subject()
        settings = s.container
        site, link = settings.site_file, settings.site_link
        address, how = container_ip(s)
        if address is None:
            raise NotRemediable(f"the CT's IP is unknown ({how}); nothing was changed")
        try:
            hardening = (
                (s.settings.proxy_timeout, s.settings.manage_from) if s.settings.hardened else None
            )
            want = render.site(settings.server_name_for(s.host_address), address, hardening)
        except render.RenderError as why:
            raise NotRemediable(f"refused before any change: {why}") from None
        tested = s[NginxTest]
        if not tested.ok and tested.error_file not in s.our_paths:
            raise NotRemediable(
                f"nginx -t already fails in {tested.error_file or 'the config'} (not our site): "
                f"{tested.error}. Fix that file first; nothing was changed, nginx not reloaded"
            )
        if (cause := shadowed_by(s)) is not None:
            raise NotRemediable(
                f"refused before any change: {cause}. A file the plan does not own is never "
                "edited: change it by hand, then run --fix again"
            )
        if s.settings.hardened and (cause := _manage_elsewhere(s)) is not None:
            raise NotRemediable(
                f"refused before any change: {cause}. A file the plan does not own is never "
                "edited: close it there by hand, then run --fix again"
            )
        have = s[SiteConfig]
        current = s[SiteLink]
        linked = current.kind == "link" and current.target == site and not current.dangling
        state = s[NginxState]
        plan = Plan(settle_s=SETTLE_TIMEOUT_S)
        # Only the plan's directives are the plan's: the rest of the site (and every comment)
        # is the operator's, kept byte for byte; a site the edit cannot place them in safely
        # is refused whole.
        text = have.text
        if have.exists and (rejected := operators_line_fails(tested, have.config, have.text, want)):
            # A line nginx rejects serves nobody (nginx keeps its old config while it is
            # there): it is disabled, its text kept as a comment under nginx's reason.
            disabled = disable_line(text, rejected, tested.error)
            if disabled is None:
                raise NotRemediable(
                    f"refused before any change: nginx -t fails in our site {site} at line "
                    f"{rejected.line} (`{rejected.name}`), which shares its line with another "
                    f"directive: {tested.error}. Fix it by hand, then run --fix again"
                )
            text = disabled
        try:
            drop = leaking_lines(s) if s.settings.hardened else frozenset()
            new = site_edit.edit(text, want, site, drop) if have.exists else want
        except site_edit.SiteEditError as why:
            raise NotRemediable(f"refused before any change: {why}") from None
        rewrite = new != (have.text if have.exists else None)
        if rewrite:
            plan.diffs.append(unified_diff(site, have.text if have.exists else None, new))
        elif (have.owner, have.mode) != (PLAN_OWNER, PLAN_MODE):
            rewrite = True
            plan.commands.append(
                f"install {site} as {PLAN_OWNER} {PLAN_MODE:04o} (now {have.owner} {have.mode:04o})"
            )
        if not linked:
            plan.commands.append(f"ln -sfn {site} {link}")
        if not plan.empty or state.stale_files() or not state.running or not tested.ok:
            steps = Steps(
                new if rewrite else None, not linked, state.running, s[HostInit].kind == "systemd"
            )
            plan.commands += ["nginx -t", steps.reload()]
            plan.apply = lambda: self._apply(ctx, steps)
            plan.rollback = lambda: self._rollback(ctx, steps)
            return plan, steps
        return plan, None

    def run_all(self, ctxs: list[Context]) -> list[Outcome]:
        """Several containers' sites in one round: one `nginx -t`, one reload (nginx_round)."""
        if len(ctxs) < 2 or ctxs[0].dry_run:
            return super().run_all(ctxs)
        return nginx_round.run(self, ctxs)

    @staticmethod
    def write(ctx: Context, steps: Steps) -> None:
        """Write the site (if it differs) and the link (if wrong); nginx does not read them yet."""
        settings, pve = ctx.target.site, ctx.host
        site, link = settings.site_file, settings.site_link
        pve.clean_temps(site, link)
        if steps.site is not None:
            must(pve.install(site, steps.site), f"could not write {site}")
        if steps.relink:
            must(pve.link(link, site), f"could not link {link}")

    def _apply(self, ctx: Context, steps: Steps) -> None:
        """Write the site and link, test, then reload."""
        pve = ctx.host
        self.write(ctx, steps)
        tested = pve.run("nginx -t")
        if tested.rc != 0:  # nginx's own error line, not the `syntax is ok` lines around it
            error = next((ln for ln in tested.output.splitlines() if "[emerg]" in ln), "")
            raise FixError(f"nginx -t fails with our site in place: {error or tested.output}")
        steps.reloaded = True
        must(pve.run(steps.reload()), f"`{steps.reload()}` failed")

    @staticmethod
    def _rollback(ctx: Context, steps: Steps) -> str:
        """Restore site and link; reload the restored config only if nginx ran before and the
        restored tree passes `nginx -t` (never start an nginx that was stopped)."""
        settings, pve = ctx.target.site, ctx.host
        undo = [pve.restore(settings.site_file), pve.restore(settings.site_link)]
        return nginx_round.after_restore(pve, undo, steps, steps.reloaded, steps.running)

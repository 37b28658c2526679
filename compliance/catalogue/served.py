"""Which server block and location nginx serves for our site, and what shadows them.

Used by site_served (tests/test_proxy.py) and by the site fix, which refuses a cause it may
not touch (another file's server block or location, an nginx.conf that reads no file of
sites-enabled).
"""

from __future__ import annotations

import posixpath

from compliance import plan
from compliance.catalogue.verdict import Subject
from compliance.facts.nginx import NginxLoaded
from compliance.syntax import nginx, nginx_loaded


def shadowed_by(s: Subject) -> str | None:
    """Why nginx serves another file's server block or location for our site, in one line (a
    cause the site's fix cannot touch: it never edits a file it does not own), else None."""
    loaded = s[NginxLoaded]
    if not loaded.ok:
        return None
    settings = s.container
    link = settings.site_link
    if link not in loaded.dump.paths:
        patterns = loaded.includes()
        if any(nginx_loaded.reads(pattern, link) for pattern in patterns):
            return None  # not loaded because the link is missing or wrong: the fix links it
        return unread_because(loaded.dump, link) or (
            f"nginx.conf includes no file of {posixpath.dirname(link)}/ "
            f"(its includes: {', '.join(patterns) or 'none'})"
        )
    name = settings.server_name_for(s.host_address)
    port = plan.SITE.listen_port
    choice = loaded.choose(port, name)
    if choice.server is None:
        return None  # no server on the port: our site's own listen is wrong, its fix repairs it
    if choice.server.file not in s.our_paths:
        if choice.by_name:
            return (
                f"{choice.server.where} claims server_name {name} on port {port} before our "
                f"site: nginx ignores ours (conflicting server name)"
            )
        return None  # ours does not name the host on the port: site_file says so, fixably
    location = nginx_loaded.top_location_for(choice.server, plan.PROBE_URI)
    if location is not None and location.directive.file not in s.our_paths:
        pattern = " ".join(filter(None, (location.modifier, location.pattern)))
        return (
            f"`location {pattern}` of {location.directive.where} answers {plan.PROBE_URI} "
            "in our server block"
        )
    return None


def unread_because(dump: nginx_loaded.Dump, link: str) -> str | None:
    """Why an include of the link's own directory does not read the link (a glob such as
    `*.conf` its name does not match, or another file named), else None (no include of that
    directory: the caller says so)."""
    folder, name = posixpath.split(link)
    base = posixpath.dirname(dump.files[0][0]) if dump.files else "/etc/nginx"
    for path, text in dump.files:
        for directive in nginx.walk(nginx.parse(text, path).directives):
            if directive.name != "include" or not directive.args:
                continue
            pattern = directive.args[0]
            absolute = pattern if pattern.startswith("/") else posixpath.join(base, pattern)
            if posixpath.dirname(absolute) != folder:
                continue
            glob = posixpath.basename(absolute)
            why = (
                f"its glob `{glob}` does not match the name `{name}`"
                if any(c in glob for c in "*?[")
                else f"it names another file, not `{name}`"
            )
            return (
                f"`include {pattern};` ({directive.where}) reads {folder}/ but not our link "
                f"{link}: {why}, so nginx never reads our site"
            )
    return None

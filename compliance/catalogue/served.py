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
from compliance.syntax import nginx_loaded


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
        if not any(nginx_loaded.reads(pattern, link) for pattern in patterns):
            return (
                f"nginx.conf includes no file of {posixpath.dirname(link)}/ "
                f"(its includes: {', '.join(patterns) or 'none'})"
            )
        return None  # not loaded because the link is missing or wrong: the fix links it
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

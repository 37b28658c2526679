"""The read-only audit on a schedule: a systemd service and timer on the Proxmox host.

    python3 -m compliance.schedule install [options] [-- PYTEST-ARGS]
    python3 -m compliance.schedule status | remove | render [options] [-- PYTEST-ARGS]
    python3 -m compliance.schedule run [options] -- PYTEST-ARGS   (what the service runs)

A command of its own rather than a pytest option: installing units changes the host, and a
test run never should. Audit only: PYTEST-ARGS asking for `--fix` are refused, at install and
again when the service runs.
"""

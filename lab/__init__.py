"""The compliance suite's lab: a real LXC container 955 behind nginx on this machine.

See lab/README.md. `python3 -m lab --help` for the CLI; `from lab import states` for the
Python API the self-tests use.
"""

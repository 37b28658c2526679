"""The suite: the checks of the deployment plan, one module per plan section.

Each check is a function of typed facts registered with `@check` (its docstring is the
control); pytest makes one item per check and target. Your own testinfra tests go here too
(`def test_x(host): ...` on the Proxmox host, `def test_y(ct): ...` in the container): they
are collected, reported and counted in the verdict like the checks.
"""

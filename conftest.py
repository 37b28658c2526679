"""Wire the suite's plugins: the audit (compliance) and the converge step (remediation)."""

pytest_plugins = ["compliance.suite.plugin", "remediation.plugin"]

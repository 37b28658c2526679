"""Run the suite exactly as a user does (a pytest subprocess against the lab) and read its JUnit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from compliance import catalogue

REPO = Path(__file__).resolve().parents[2]
SSH_CONFIG = REPO / "lab" / "ssh_config"
CATALOGUE = catalogue.load()
CHECKS = tuple(c.id for c in catalogue.in_profile("plan"))  # the default run's
HARDENED_CHECKS = tuple(CATALOGUE)  # every check id: what --compliance-profile=hardened runs
HOST_CHECKS = frozenset(c.id for c in CATALOGUE.values() if c.scope == "host")
NEEDS_CT = frozenset(c.id for c in CATALOGUE.values() if c.needs_ct)


def computed_failing(fault: str) -> frozenset[str]:
    """The checks a lab fault fails, computed host-free from its facts
    (selftests/unit/fault_facts.py): the lab proves that the live audit fails exactly these."""
    from selftests.unit import fault_facts

    return frozenset(fault_facts.failing(fault))


@dataclass(frozen=True)
class CheckResult:
    """One check's row in the JUnit report."""

    status: str  # passed | failed | skipped | error
    message: str
    properties: dict[str, str]


@dataclass
class Run:
    """A finished suite run."""

    rc: int
    output: str
    seconds: float
    checks: dict[str, CheckResult] = field(default_factory=dict)
    report_dir: Path | None = None
    rows: dict[tuple[str, str], CheckResult] = field(default_factory=dict)

    def failed_rows(self) -> set[tuple[str, str]]:
        return {key for key, row in self.rows.items() if row.status in ("failed", "error")}

    def with_status(self, status: str) -> set[str]:
        return {name for name, result in self.checks.items() if result.status == status}

    @property
    def failed(self) -> set[str]:
        return self.with_status("failed") | self.with_status("error")

    def explain(self) -> str:
        return f"exit {self.rc} after {self.seconds:.1f}s\n{self.output[-6000:]}"


def check_id(testcase_name: str) -> str:
    """`profile_script[proxmox-ct955]` (JUnit names a check by its id) -> `profile_script`;
    a pytest name (`test_ct_profile_script[...]`) gives the same."""
    base = testcase_name.split("[", 1)[0]
    return re.sub(r"^test_(ct|pve|runner)_", "", base)


def target_of(testcase_name: str) -> str:
    """`test_ct_x[proxmox-ct955]` (or with xdist's `@group`) -> `proxmox-ct955`."""
    inside = testcase_name.partition("[")[2].rstrip("]")
    return inside.split("@", 1)[0]


def read_junit(path: Path) -> dict[tuple[str, str], CheckResult]:
    results: dict[tuple[str, str], CheckResult] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        status, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                status = "failed" if tag == "failure" else tag
                message = (node.get("message") or "") + "\n" + (node.text or "")
                break
        name = case.get("name", "")
        results[(check_id(name), target_of(name))] = CheckResult(status, message, props)
    return results


def run_suite(
    *args: str, tmp_path: Path, ssh_config: Path = SSH_CONFIG, timeout: float = 300
) -> Run:
    """`pytest --ssh-config=lab/ssh_config --hosts=proxmox ARGS`, reports into `tmp`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    junit = tmp_path / "junit.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        f"--ssh-config={ssh_config}",
        *(() if any(a.startswith("--hosts=") for a in args) else ("--hosts=proxmox",)),
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        f"--html={tmp_path / 'report.html'}",
        "-rA",
        *args,
    ]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST") and k != "GITHUB_STEP_SUMMARY"  # no self-test noise
    }
    began = time.monotonic()
    proc = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    run = Run(
        proc.returncode, proc.stdout + proc.stderr, time.monotonic() - began, report_dir=tmp_path
    )
    if junit.exists():
        run.rows = read_junit(junit)
        run.checks = {check: row for (check, _target), row in run.rows.items()}
    return run


def fleet_args(ctids: list[int]) -> list[str]:
    """`--container` flags giving each lab container its own site (as lab/plan.py lays them)."""
    from lab.plan import site_for

    args = []
    for ctid in ctids:
        site = site_for(ctid)
        args.append(
            f"--container={ctid} site_file={site.file} site_link={site.link} "
            f"server_name={site.server_name}"
        )
    return args

"""The hardened profile on the lab: opt-in, each check failing by its own fault, converging."""

from __future__ import annotations

import json
import subprocess

import pytest

from lab import config, container, faults, lan, nginx, states
from lab.faults import FAULTS
from lab.plan import site_for
from lab.shell import ct_run
from selftests.lab.harness import CHECKS, HARDENED_CHECKS, computed_failing, run_suite

HARDENED = (
    "--compliance-profile=hardened",
    f"--exposure-from=netns:{config.LAN_NETNS}",
    "--probe-streaming=on",
)
HARDENED_FAULTS = sorted(name for name, fault in FAULTS.items() if fault.profile == "hardened")
PLAN_SITE_LACKS = {"ct_onboot", "proxy_llm_ready", "manage_closed", "exposure"}


def test_default_profile_stays_the_plan(tmp_path):
    """A hardened host audited by default: exactly the plan's checks, green."""
    states.make_hardened()
    run = run_suite(tmp_path=tmp_path)
    assert run.rc == 0, run.explain()
    assert set(run.checks) == set(CHECKS)
    assert "profile: plan" in run.output


def test_hardened_lab_passes_every_hardened_check(tmp_path):
    states.make_hardened()
    run = run_suite(*HARDENED, tmp_path=tmp_path)
    assert run.rc == 0, run.explain()
    assert run.with_status("passed") == set(HARDENED_CHECKS), run.explain()
    assert "profile: hardened" in run.output


def test_plan_compliant_lab_lacks_the_hardening(tmp_path):
    states.make_compliant()
    run = run_suite(*HARDENED, tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    assert run.failed == PLAN_SITE_LACKS, run.explain()


@pytest.mark.parametrize("fault", HARDENED_FAULTS)
def test_hardened_fault_fails_its_check(fault, tmp_path):
    expected = FAULTS[fault]
    states.apply_fault(fault)
    run = run_suite(*HARDENED, tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    assert run.failed == computed_failing(fault), run.explain()
    own = run.checks[expected.own].message
    assert expected.phrase in own, own
    assert "Traceback" not in run.output


@pytest.mark.parametrize(
    "state",
    ["plan_compliant", *(f for f in HARDENED_FAULTS if FAULTS[f].converges)],
)
def test_hardened_fix_converges_and_the_plan_stays_green(state, tmp_path):
    if state == "plan_compliant":
        states.make_compliant()
    else:
        states.apply_fault(state)
    fix = run_suite("--fix", *HARDENED, tmp_path=tmp_path / "fix")
    assert fix.rc == 0, fix.explain()
    audit = run_suite(*HARDENED, tmp_path=tmp_path / "audit")
    assert audit.rc == 0, audit.explain()
    plan = run_suite(tmp_path=tmp_path / "plan")
    assert plan.rc == 0, plan.explain()


def test_outdated_ollama_names_its_advisories_and_is_not_remediable(tmp_path):
    states.apply_fault("ollama_outdated")
    run = run_suite("--fix", *HARDENED, tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    row = run.checks["version_floor"]
    assert row.properties["fix_status"] == "not remediable"
    for advisory in ("CVE-2026-7020", "CVE-2026-7482"):
        assert advisory in row.message
    assert "upgrade Ollama" in row.message


def _status(method: str, url: str) -> str:
    return subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, "-d", "{}", url],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    ).stdout


def test_converged_guard_refuses_writes_and_serves_reads(tmp_path):
    """After a hardened converge: writes refused by nginx, reads and inference still served."""
    states.make_compliant()
    assert run_suite("--fix", *HARDENED, tmp_path=tmp_path).rc == 0
    base = site_for(955).proxy_url
    for endpoint in ("create", "blobs/sha256:00", "pull", "push", "copy"):
        assert _status("POST", base + f"api/{endpoint}") == "403", endpoint
    assert _status("DELETE", base + "api/delete") == "403"
    assert _status("GET", base + "api/tags") == "200"
    assert _status("GET", base + "api/version") == "200"
    assert _status("GET", base + "v1/models") == "200"


def test_the_guard_is_proven_from_the_lan_client(tmp_path):
    """After a hardened converge the LAN client is refused, the proxy still reaches the CT."""
    states.make_compliant()
    url = f"http://{states.ct_ip(955)}:11434/api/version"
    assert lan.reaches(url)  # the plan alone: wide open to the LAN
    assert run_suite("--fix", *HARDENED, tmp_path=tmp_path).rc == 0
    assert not lan.reaches(url)
    assert _status("GET", site_for(955).proxy_url + "api/version") == "200"


def test_streaming_probe_is_skipped_unless_asked_and_says_so(tmp_path):
    states.make_hardened()
    run = run_suite("--compliance-profile=hardened", tmp_path=tmp_path)
    assert run.rc == 0, run.explain()
    assert "--probe-streaming=on" in run.checks["proxy_streams"].message
    assert run.checks["proxy_streams"].status == "skipped"


def test_hardened_fix_from_the_host_itself_closes_the_port_to_the_lan(tmp_path):
    """Run where most people run it (the runner is the Proxmox host, no second client): the
    exposure is judged from the CT's loaded ruleset, so --fix closes 11434 to a LAN client
    made outside the suite, the proxy keeps answering, and the audit after is all judged."""
    states.make_compliant()
    url = f"http://{states.ct_ip(955)}:11434/api/version"
    assert lan.reaches(url)  # the plan alone: wide open to the LAN
    before = run_suite("--compliance-profile=hardened", tmp_path=tmp_path / "before")
    exposed = before.checks["exposure"].message
    for family in ("IPv4", "IPv6"):
        assert f"{family}: a client such as" in exposed, exposed
    fix = run_suite("--compliance-profile=hardened", "--fix", tmp_path=tmp_path / "fix")
    assert fix.rc == 0, fix.explain()
    assert fix.checks["exposure"].properties.get("result") == "fixed", fix.explain()
    assert not lan.reaches(url)
    assert _status("GET", site_for(955).proxy_url + "api/tags") == "200"
    audit = run_suite("--compliance-profile=hardened", tmp_path=tmp_path / "audit")
    assert audit.rc == 0, audit.explain()
    evidence = audit.checks["exposure"].properties["evidence"]
    for family in ("IPv4", "IPv6"):
        assert f"{family} to " in evidence, evidence
    assert "every client dropped (inet ollama_guard/input" in evidence, evidence
    assert "the same at boot: ollama-guard.service load" in evidence, evidence
    assert audit.failed == set(), audit.explain()


def _guard_files(ctid: int = 955) -> str:
    return states.ct_run(ctid, "ls /etc/ollama-guard.nft 2>/dev/null; true").stdout


def test_proxmox_firewall_that_closes_the_port_is_judged_and_gets_no_second_filter(tmp_path):
    """The runner is the host; Proxmox's firewall is on for the CT and its rules admit only
    the host on 11434: exposure passes from those files (the proof says so) and --fix adds no
    filter of its own in the CT. The lab runs no pve-firewall: this proves how the suite reads
    the files, not what pve-firewall then does to packets."""
    states.make_compliant()
    faults.pve_firewall_on(
        955,
        f"IN ACCEPT -source {config.BRIDGE_ADDRESS} -p tcp -dport 11434\n"
        "IN DROP -p tcp -dport 11434\n",
    )
    fix = run_suite("--compliance-profile=hardened", "--fix", tmp_path=tmp_path / "fix")
    assert fix.rc == 0, fix.explain()
    row = fix.checks["exposure"]
    assert row.status == "passed", fix.explain()
    assert row.properties.get("result") != "fixed", fix.explain()
    evidence = row.properties["evidence"]
    for family in ("IPv4", "IPv6"):
        assert f"{family} to " in evidence, evidence
    assert "every client dropped (955.fw line 6 `IN DROP -p tcp -dport 11434`" in evidence, evidence
    assert "at boot: the Proxmox firewall alone closes it" in evidence, evidence
    assert _guard_files() == ""


def test_proxmox_firewall_that_drops_the_host_is_named_and_refused(tmp_path):
    """Proxmox's firewall on with its default policy_in DROP and no rule for the host: the
    proxy's own traffic would be dropped. exposure names it; --fix refuses in one line with the
    rules to add there and changes nothing in the CT."""
    states.make_compliant()
    faults.pve_firewall_on(955, "")
    fix = run_suite("--compliance-profile=hardened", "--fix", tmp_path=tmp_path)
    assert fix.rc == 1, fix.explain()
    row = fix.checks["exposure"]
    host = f"the Proxmox host ({config.BRIDGE_ADDRESS}) is dropped on its way to"
    assert host in row.message, row.message
    assert "955.fw: policy_in DROP" in row.message, row.message
    assert row.properties["fix_status"] == "not remediable"
    assert "`IN ACCEPT -source 10.0.3.1 -p tcp -dport 11434`" in row.message, row.message
    assert _guard_files() == ""


def test_proxmox_firewall_files_with_the_service_stopped_are_named_and_refused(tmp_path):
    """Proxmox's firewall files would close 11434, but pve-firewall is stopped (the lab's
    stand-in status says enabled/stopped): its rules are not applied, so exposure fails saying
    so, and --fix refuses in one line naming the service and changes nothing in the CT."""
    states.make_compliant()
    faults.pve_firewall_on(
        955,
        f"IN ACCEPT -source {config.BRIDGE_ADDRESS} -p tcp -dport 11434\n"
        "IN DROP -p tcp -dport 11434\n",
        running=False,
    )
    fix = run_suite("--compliance-profile=hardened", "--fix", tmp_path=tmp_path)
    assert fix.rc == 1, fix.explain()
    row = fix.checks["exposure"]
    stopped = "pve-firewall is not running (Status: enabled/stopped): its rules are not applied"
    assert stopped in row.message, row.message
    assert row.properties["fix_status"] == "not remediable"
    assert _guard_files() == ""


def test_a_second_server_proxying_writes_is_named_and_the_fix_refuses(tmp_path):
    """Another enabled site proxies every path to the CT on port 8081: manage_closed names
    it (file:line, port) and --fix refuses before any change, since it never edits a file
    the plan does not own; the site stays as it was and the write still gets through there."""
    states.apply_fault("site_second_server")
    before = site_for(955).file.read_text()
    run = run_suite("--fix", *HARDENED, tmp_path=tmp_path)
    assert run.rc == 1, run.explain()
    row = run.checks["manage_closed"]
    assert row.properties["fix_status"] == "not remediable", run.explain()
    assert f"{config.SECOND_SITE}:1) on port {config.SECOND_PORT}" in row.message, row.message
    assert "A file the plan does not own is never edited" in row.message, row.message
    assert site_for(955).file.read_text() == before
    second = f"http://127.0.0.1:{config.SECOND_PORT}/api/delete"
    assert _status("DELETE", second) != "403"


def test_an_exact_write_location_in_our_site_converges_to_the_allow_list(tmp_path):
    """`location = /ollama/api/pull` in our server: a real POST reaches the CT before the fix,
    is refused (403) by nginx after it, and reads still answer."""
    states.apply_fault("site_manage_exact_location")
    base = site_for(955).proxy_url
    assert _status("POST", base + "api/pull") != "403"
    assert run_suite("--fix", *HARDENED, tmp_path=tmp_path).rc == 0
    assert _status("POST", base + "api/pull") == "403"
    assert _status("GET", base + "api/ps") == "200"


def test_streaming_probe_skips_what_cannot_generate_and_loads_the_model_first(tmp_path):
    """The newest models an embedding-only and a cloud one: the probe names why it skips
    them, loads the newest model that can generate (the stand-in's cold load is not timed) and
    passes; the model it loaded then shows in /api/ps."""
    states.make_hardened()
    others = [
        {
            "name": "nomic-embed-text:latest",
            "modified_at": "2026-12-02T00:00:00Z",
            "capabilities": ["embedding"],
        },
        {
            "name": "gpt-oss:120b-cloud",
            "modified_at": "2026-12-01T00:00:00Z",
            "remote_model": "gpt-oss:120b",
            "remote_host": "ollama.com",
        },
    ]
    models = json.loads(config.DEFAULT_MODELS.read_text())
    container.write_file(config.CTID, config.CT_MODELS_FILE, json.dumps(others + models), "0644")
    try:
        run = run_suite(*HARDENED, "-k", "proxy_streams", tmp_path=tmp_path)
        loaded = ct_run(config.CTID, "curl -s http://127.0.0.1:11434/api/ps").stdout
    finally:
        states.reset()
    assert run.rc == 0, run.explain()
    assert run.checks["proxy_streams"].status == "passed", run.explain()
    shown = run.checks["proxy_streams"].properties.get("evidence", "") + run.output
    assert "qwen2.5:0.5b loaded first, then" in shown, run.explain()  # the newest that can
    assert '"name":"qwen2.5:0.5b"' in loaded


@pytest.mark.parametrize("how", ["by hand", "by --fix"])
def test_a_rebooted_ct_keeps_11434_closed_to_the_lan_over_both_families(how, tmp_path):
    """The rules that close the port are the ones the CT loads at boot: after a reboot the LAN
    client is still refused over IPv4 and over the CT's IPv6 link-local address, the proxy
    answers, and the hardened audit is green."""
    states.make_compliant()
    ipv4, ipv6 = states.ct_ip(955), container.ct_link_local(955)
    assert lan.answers(ipv4)  # the plan alone: open to the LAN over both families
    assert lan.answers(ipv6)
    if how == "by hand":
        states.make_hardened()
    else:
        assert run_suite("--fix", *HARDENED, tmp_path=tmp_path / "fix").rc == 0
    container.reboot(955)
    assert states.ct_ip(955) == ipv4, "the CT's DHCP lease changed across the reboot"
    nginx.wait_http(site_for(955).proxy_url + "api/tags", 200, timeout=30)
    assert not lan.answers(ipv4)
    assert not lan.answers(container.ct_link_local(955))
    audit = run_suite(*HARDENED, tmp_path=tmp_path / "audit")
    assert audit.rc == 0, audit.explain()


def test_a_vantage_namespace_that_does_not_exist_is_not_judged_naming_it(tmp_path):
    """A live try from a namespace that is not there proved nothing: on a hardened lab the
    exposure is "not judged" naming it (never "closed"); on the plan's open lab the rules
    alone still prove the exposure."""
    args = ("--compliance-profile=hardened", "--exposure-from=netns:no-such-ns", "-k", "exposure")
    states.make_hardened()
    hardened = run_suite(*args, tmp_path=tmp_path / "hardened")
    row = hardened.checks["exposure"]
    assert row.status == "skipped", hardened.explain()
    assert "not judged" in row.message, row.message
    assert "no-such-ns" in row.message, row.message
    assert hardened.rc != 0, hardened.explain()
    states.make_compliant()
    plain = run_suite(*args, tmp_path=tmp_path / "plain")
    assert plain.rc == 1, plain.explain()
    assert plain.checks["exposure"].status == "failed", plain.explain()

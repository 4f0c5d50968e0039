"""Faults always roll back: after a claim fails mid-fault, after Ctrl-C, after SIGKILL.

An experiment holds several faults at once — a toxic on a Toxiproxy that outlives the run
(a shared one), Neo4j frozen with SIGSTOP, the target's CPUs stressed, a partition inside
the target's network namespace — with load running, then either claims the impossible
(a failed hypothesis), or waits while the test sends the pytest process SIGINT (Ctrl-C) or
SIGKILL. Afterwards nothing may be left: no toxic or proxy of the run on the Toxiproxy
(its API), no stopped process, no stress-ng, no load child (`ps`), no namespace
(`ip netns`), no cgroup of ours.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos import experiments
from chaos.netns import namespaces_available
from chaos.network import harness_toxics
from chaos.stack import ChaosStack, chaos_stack
from fixtures.launcher import ServiceLauncher
from fixtures.lifecycle.reaper import process_ids
from fixtures.profile import Slo
from fixtures.providers.toxiproxy import ToxiproxyEndpoint
from system.deadline import NotYet, WaitTimeoutError, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

HOLD_SECONDS = 120
CLEANUP_SECONDS = 20.0
START_SECONDS = 240.0


def _activity(
    kind: str, name: str, func: str, pause: float = 0, **arguments: object
) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "type": kind,
        "name": name,
        "provider": {"type": "python", "module": "chaos.activities", "func": func,
                     "arguments": arguments},
    }  # fmt: skip
    if pause:
        activity["pauses"] = {"after": pause}
    return activity


def holding_experiment(path: Path, *, impossible_claim: bool, partition: bool) -> Path:
    """An experiment with every kind of fault in effect at once, then a claim or a wait."""
    keys = ("api_url", "run_dir", "run_id", "toxiproxy_url", "proxy_postgres", "proxy_neo4j",
            "proxy_redis", "p95_seconds", "dependency_timeout_seconds", "entity_ids",
            "destructive", "namespace")  # fmt: skip
    faults = [
        _activity("action", "start-load", "start_load", scenario="mixed", rate=20, seconds=300),
        _activity(
            "action",
            "slow-redis",
            "add_toxic",
            dependency="redis",
            type="latency",
            attributes={"latency": 200},
        ),
        _activity("action", "freeze-neo4j", "pause_service", service="neo4j"),
        _activity("action", "stress-the-api", "stress_cpu", service="api", load=30),
    ]
    if partition:
        faults.append(_activity("action", "partition-postgres", "partition", dependency="postgres"))
    faults[-1]["pauses"] = {"after": 2 if impossible_claim else HOLD_SECONDS}
    if impossible_claim:
        claim = _activity("probe", "everything-succeeds", "expect_during_fault", min_success=1.01)
        faults.append(claim)
    document = {
        "version": "1.0.0",
        "title": "every fault at once (the rollback test's)",
        "description": "holds a toxic, a frozen Neo4j, CPU stress and a partition",
        "configuration": {
            key: {"type": "env", "key": f"X_{key.upper()}", "default": ""} for key in keys
        },
        "extensions": [{"name": "reliability-harness", "fault": "partition", "destructive": True}],
        "steady-state-hypothesis": {
            "title": "healthy",
            "probes": [{**_activity("probe", "healthz-ok", "healthz_ok"), "tolerance": True}],
        },
        "method": faults,
        "rollbacks": [
            _activity("action", "remove-every-fault", "remove_faults"),
            _activity("action", "stop-the-load", "stop_load"),
        ],
    }
    path.write_text(json.dumps(document, indent=1))
    return path


def left_behind(
    toxiproxy: ToxiproxyEndpoint, run_marker: str, running: ChaosStack | None = None
) -> list[str]:
    """Everything of a run still there: toxics, proxies, stopped or stray processes,
    namespaces, cgroups (but the proxies and namespace of a stack still `running`)."""
    found = [f"toxic {proxy}/{toxic}" for proxy, toxic in harness_toxics(toxiproxy)]
    own = set(running.api.proxies.values()) if running is not None else set()
    with toxiproxy.client() as client:
        found += [
            f"proxy {name}" for name in client.proxies() if "-chaos-" in name and name not in own
        ]
    for process in process_ids():
        stat = Path(f"/proc/{process}/stat")
        try:
            state = stat.read_text().rpartition(")")[2].split()[0]
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if state == "T":
            found.append(f"stopped process {stat.parent.name}: {command[:80]}")
        if "stress-ng" in command or ("load.child" in command and run_marker in command):
            found.append(f"process {stat.parent.name}: {command[:80]}")
    namespaces = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout
    kept = running.namespace.name if running is not None and running.namespace else None
    found += [
        f"namespace {line}"
        for line in namespaces.splitlines()
        if line.startswith("rh-")
        and line.split()[0] != kept
        and not line.startswith(f"rh-{os.getpid()}-")  # this test process's own stack
    ]
    found += [f"cgroup {path}" for path in Path("/sys/fs/cgroup").rglob("harness-pod-*")]
    return found


def wait_until_clean(toxiproxy: ToxiproxyEndpoint, run_marker: str) -> None:
    wait_until(
        lambda: not (left := left_behind(toxiproxy, run_marker)) or NotYet(f"left: {left}"),
        seconds=CLEANUP_SECONDS,
        what="nothing of the run left behind",
        interval=0.5,
    )


@pytest.fixture
def shared_toxiproxy(toxiproxy_factory: object) -> ToxiproxyEndpoint:
    """A Toxiproxy that outlives the run under test, as a shared one would."""
    endpoint: ToxiproxyEndpoint = toxiproxy_factory().endpoint  # type: ignore[operator]
    return endpoint


@pytest.fixture(scope="module")
def stack(service_launcher: ServiceLauncher) -> Iterator[ChaosStack]:
    with chaos_stack(service_launcher) as started:
        yield started


def test_a_claim_that_fails_mid_fault_still_removes_every_fault(
    stack: ChaosStack, service_launcher: ServiceLauncher, tmp_path: Path
) -> None:
    path = holding_experiment(
        tmp_path / "hold.json", impossible_claim=True, partition=stack.namespace is not None
    )
    experiment = experiments.read(path)
    outcome = experiments.run(
        experiment, stack.configuration(tmp_path / "run", Slo()), stack.context(service_launcher)
    )
    assert not outcome.passed
    assert any("claimed >= 101%" in failure for failure in outcome.failures), outcome.failures
    assert [r["status"] for r in outcome.journal["rollbacks"]] == ["succeeded", "succeeded"]
    assert left_behind(stack.toxiproxy, str(tmp_path), running=stack) == []
    assert stack.services["neo4j"].process is not None
    assert stack.services["neo4j"].process.is_running()


HOLDING_RUN = """
import json, os
from pathlib import Path
from chaos import experiments
from chaos.stack import chaos_stack
from fixtures.profile import Slo
from fixtures.providers.toxiproxy import ToxiproxyEndpoint
from system.deadline import NotYet, WaitTimeoutError, wait_until

def test_hold_every_fault(service_launcher, tmp_path):
    host, port = os.environ["HARNESS_TOXIPROXY"].rsplit(":", 1)
    shared = ToxiproxyEndpoint(host, int(port))
    with chaos_stack(service_launcher, toxiproxy=shared) as stack:
        experiment = experiments.read(Path(os.environ["HARNESS_EXPERIMENT"]))
        Path(os.environ["HARNESS_STATE_FILE"]).write_text(json.dumps({
            "partition": stack.namespace is not None, "run": str(tmp_path)}))
        experiments.run(experiment, stack.configuration(tmp_path / "run", Slo()),
                        stack.context(service_launcher))
"""


def start_holding_run(
    pytester: pytest.Pytester, toxiproxy: ToxiproxyEndpoint, tmp_path: Path
) -> tuple[subprocess.Popen[bytes], Path]:
    pytester.makeconftest('pytest_plugins = ["plugins.target", "plugins.services"]')
    test_file = pytester.makepyfile(test_hold=HOLDING_RUN)
    experiment = holding_experiment(
        tmp_path / "hold.json", impossible_claim=False, partition=namespaces_available() is None
    )
    state = tmp_path / "state.json"
    environment = {
        **os.environ,
        "HARNESS_TOXIPROXY": f"{toxiproxy.host}:{toxiproxy.port}",
        "HARNESS_EXPERIMENT": str(experiment),
        "HARNESS_STATE_FILE": str(state),
    }
    log = (tmp_path / "run.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--backend", "native",
         "-s", str(test_file)],
        cwd=pytester.path, env=environment, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return process, state


def wait_for_faults(
    process: subprocess.Popen[bytes], state: Path, toxiproxy: ToxiproxyEndpoint, log: Path
) -> None:
    """Until the run holds its toxic and a frozen Neo4j (the state file is written first)."""

    def holding() -> bool:
        assert process.poll() is None, f"the holding run ended early:\n{log.read_text()[-3000:]}"
        stopped = any(
            line.startswith("State:\tT")
            for status in (Path(f"/proc/{process}/status") for process in process_ids())
            for line in _lines(status)
        )
        return state.exists() and bool(harness_toxics(toxiproxy)) and stopped

    try:
        wait_until(holding, seconds=START_SECONDS, what="the run holding its faults", interval=0.5)
    except WaitTimeoutError as timeout:
        pytest.fail(f"{timeout}:\n{log.read_text()[-3000:]}")
    time.sleep(2)  # the stress and the partition come right after


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


@pytest.mark.parametrize(
    "signal_number", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"]
)
def test_an_interrupted_or_killed_run_leaves_no_fault_behind(
    pytester: pytest.Pytester,
    shared_toxiproxy: ToxiproxyEndpoint,
    tmp_path: Path,
    signal_number: signal.Signals,
) -> None:
    process, state = start_holding_run(pytester, shared_toxiproxy, tmp_path)
    try:
        wait_for_faults(process, state, shared_toxiproxy, tmp_path / "run.log")
        process.send_signal(signal_number)
        process.wait(timeout=90)
        wait_until_clean(shared_toxiproxy, json.loads(state.read_text())["run"])
    finally:
        process.kill()

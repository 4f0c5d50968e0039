"""The open model on Locust's distributed runners: a master and workers, each on a host
of its own (a network namespace), or on 127.0.0.1.

Against the load engine's stub target (`tests/integration/load_stub.py`): with the master,
w0, w1 and the target each in a namespace of one LAN (`chaos.netns.lan`: 10.213.K.0/24,
removed afterwards; needs root, else skipped), the merged view is exactly the union of the
workers' histograms and holds the plan's arrivals, and the target saw each worker's share
come from that worker's own address. On 127.0.0.1: a worker missing at start or killed
mid-run makes the run invalid naming it (never a target failure); one process, one worker
and two give the same verdicts (through a profile's `[load] workers` and the suite's
sequential gate: `test_load_suite_catches_faults.py`). Short runs (a few seconds at 50/s):
the whole file takes well under a minute on 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos import netns
from fixtures.lifecycle.ports import PortAllocator
from fixtures.lifecycle.reaper import Reaper, kill_process_group
from fixtures.profile import LoadSettings
from load.distributed import (
    DistributedResult,
    DistributedRun,
    run_distributed,
    start_distributed,
)
from load.gates import Gate, evaluate
from load.generators import ON_THIS_MACHINE, run_judged
from load.histograms import summarize
from load.plan import LoadPlan
from system.criteria import Verdict
from system.deadline import NotYet, WaitTimeoutError, wait_until
from tests.integration.load_stub_client import Stub, running_stub
from tests.reference import traffic

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

REPO = Path(__file__).resolve().parents[2]
RATE, DURATION = 50.0, 5.0
ATTEMPTS = 2  # a run this machine stalled (dropped arrivals) is run again


@pytest.fixture(scope="module")
def reaper() -> Iterator[Reaper]:
    watchdog = Reaper()
    try:
        yield watchdog
    finally:
        watchdog.close()


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory, reaper: Reaper) -> Iterator[Stub]:
    with running_stub(tmp_path_factory.mktemp("stub"), reaper) as server:
        yield server


def plan(stub: Stub, **values: Any) -> LoadPlan:
    settings: dict[str, Any] = {
        "scenario": "graph_query",
        "base_url": stub.url,
        "duration_seconds": DURATION,
        "rate_per_second": RATE,
        "max_in_flight": 20,
        "traffic": traffic("graph_query"),
    }
    settings.update(values)
    return LoadPlan(**settings)


def run_held(
    stub: Stub,
    tmp: Path,
    reaper: Reaper,
    workers: int,
    *,
    delay: float,
    wrap: Callable[[str, list[str]], list[str]] | None = None,
    master_host: str = "127.0.0.1",
    **values: Any,
) -> DistributedResult:
    """A run, again (a fresh directory, the stub's counter reset) if this machine made the
    generator drop arrivals."""
    for attempt in range(ATTEMPTS):
        stub.set(delay=delay)
        result = run_distributed(
            plan(stub, **values),
            tmp / f"attempt-{attempt}",
            workers=workers,
            reaper=reaper,
            wrap=wrap,
            master_host=master_host,
        )
        if result.valid:
            break
    return result


def test_the_merged_view_is_the_union_of_the_workers_on_hosts_of_their_own(
    tmp_path: Path, reaper: Reaper
) -> None:
    problem = netns.namespaces_available()
    if problem is not None:
        pytest.skip(problem)
    with netns.lan(4, reaper) as lan:
        master, *hosts, target = lan.members
        places = {"master": master, "w0": hosts[0], "w1": hosts[1]}

        def placed(role: str, argv: list[str]) -> list[str]:
            return places[role].exec_argv(argv)

        with running_stub(tmp_path, reaper, host=target.ns_ip, wrap=target.exec_argv) as stub:
            # the workers reach the master at its namespace's address only: a valid run
            # means the master listened there
            result = run_held(
                stub, tmp_path, reaper, 2, delay=0.01, wrap=placed, master_host=master.ns_ip
            )
            served = stub.count()
            clients = stub.clients()
        left = {name: netns.pids(name) for name in lan.names()}
    assert result.valid, result.describe()
    assert left == {name: [] for name in lan.names()}, "nothing runs on in the LAN"
    assert not any(netns.exists(name) for name in lan.names())
    assert not netns.link_exists(lan.host_link)
    assert [worker["name"] for worker in result.workers] == ["w0", "w1"]
    assert len({(worker["host"], worker["pid"]) for worker in result.workers}) == 2
    # each worker's share came from its own host's address, and nothing else
    assert clients == {
        host.ns_ip: int(result.per_worker[name].histogram().get_total_count())
        for name, host in zip(["w0", "w1"], hosts, strict=True)
    }
    planned = round(RATE * DURATION)
    assert sum(worker["scheduled"] for worker in result.workers) == planned
    assert [worker["scheduled"] for worker in result.workers] == [planned // 2, planned // 2]
    assert result.requests + result.dropped == planned
    assert served == result.requests  # what the target served is what was measured
    union = summarize(result.union_of_workers())
    merged = result.summary()
    assert (merged.count, merged.p50, merged.p95, merged.p99) == (
        union.count,
        union.p50,
        union.p95,
        union.p99,
    )
    route = result.routes()["GET /graph/{id}/neighbors"]
    assert route.requests == result.requests
    assert route.failures == 0
    assert 0.01 <= route.p50 < 0.5
    for worker in result.workers:
        assert worker["vus"] == 10
        assert 0.0 < worker["cpu"] < 1.0
        assert worker["lag_seconds"] < 0.05


def test_a_worker_missing_at_start_makes_the_run_invalid_saying_how_many_joined(
    stub: Stub, tmp_path: Path, reaper: Reaper
) -> None:
    stub.set()
    run = start_distributed(
        plan(stub), tmp_path, workers=2, start_workers=1, join_seconds=3.0, reaper=reaper
    )
    result = run.wait()
    assert not result.valid
    assert result.reason is not None
    assert "worker missing at start: 1 of 2 workers joined" in result.reason
    assert "(w0)" in result.reason
    assert stub.count() == 0


def _wait_for_go(run: DistributedRun) -> None:
    log = run.workdir / "master.log"

    def going() -> bool | NotYet:
        if run.master is not None and run.master.poll() is not None:
            pytest.fail(f"the master exited before the go: {run.master_log()}")
        text = log.read_text(errors="replace") if log.exists() else ""
        return " go: " in text or NotYet("no go yet")

    try:
        wait_until(going, seconds=60.0, what="the master's go", interval=0.1)
    except WaitTimeoutError as timeout:
        pytest.fail(f"{timeout}: {run.master_log()}")


def test_a_worker_killed_mid_run_makes_the_run_invalid_naming_it(
    stub: Stub, tmp_path: Path, reaper: Reaper
) -> None:
    stub.set(delay=0.01)
    with start_distributed(
        plan(stub, duration_seconds=8.0), tmp_path, workers=2, reaper=reaper
    ) as run:
        _wait_for_go(run)
        time.sleep(1.5)
        run.kill_worker("w1")
        started = time.monotonic()
        result = run.wait()
        assert time.monotonic() - started < 20.0
    assert not result.valid
    assert result.reason is not None
    assert "worker w1 lost mid-run" in result.reason
    assert "w0" not in result.reason
    assert result.requests > 0  # what the survivors measured is kept, but not judged
    survivor, killed = result.workers
    assert survivor["done"]
    assert killed["lost"] is not None


def test_workers_started_elsewhere_serve_one_master_after_another_with_their_plans(
    stub: Stub, tmp_path: Path, reaper: Reaper
) -> None:
    """`[load] start_workers = false`: the harness starts only the master; workers started
    apart with nothing but the master's address (`--runs 0`, as pods run) take each run's
    plan from its master, one master after another at the same address. Two of them for
    runs of one worker: the one not needed gets no VUs, so the run holds its plan."""
    stub.set(delay=0.005)
    port = PortAllocator().reserve()
    master = f"127.0.0.1:{port}"
    pods = [
        subprocess.Popen(
            [sys.executable, "-m", "load.worker", "--master", master, "--name", name, "--runs=0"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for name in ("pod-0", "pod-1")
    ]
    for pod in pods:
        reaper.track_process_group(pod.pid)
    try:
        results = []
        for rate in (20.0, 40.0):
            for attempt in range(ATTEMPTS):  # again if this machine made the worker drop some
                result = run_distributed(
                    plan(stub, duration_seconds=2.0, rate_per_second=rate),
                    tmp_path / f"run-{rate:g}-{attempt}",
                    workers=1,
                    reaper=reaper,
                    port=port,
                    start_workers=0,
                )
                if result.valid:
                    break
            results.append(result)
        serving = [pod.poll() is None for pod in pods]
    finally:
        for pod in pods:
            kill_process_group(pod.pid)
            reaper.untrack_process_group(pod.pid)
    assert [result.valid for result in results] == [True, True], [
        result.describe() for result in results
    ]
    for result, planned in zip(results, (40, 80), strict=True):
        (worker,) = result.workers
        assert worker["name"] in {"pod-0", "pod-1"}
        assert result.requests + result.dropped == planned, "the plan of its own master"
        extras = {name.split("@")[0] for name in result.data["extra_workers"]}
        assert extras <= {"pod-0", "pod-1"} - {worker["name"]}
    assert serving == [True, True], "they wait for the next master"


def test_one_process_one_worker_and_two_give_the_same_verdicts(
    stub: Stub, tmp_path: Path, reaper: Reaper
) -> None:
    """The same traffic (answers after 60 ms, 10 % of them 500) generated by this machine's
    load process, by a master and one worker, and by a master and two workers, as the suites
    run it (`load.generators.run_judged`): the same verdict for every gate, each side of
    each bound. Through a profile and the suite's sequential gate:
    `test_load_suite_catches_faults.py`."""
    gates = [
        Gate("latency", 0.1, "graph_query", percentile=95),
        Gate("latency", 0.05, "graph_query", percentile=95),
        Gate("error_rate", 0.25, "graph_query"),
        Gate("error_rate", 0.02, "graph_query"),
    ]
    generators = {
        "one process": ON_THIS_MACHINE,
        "1 worker": LoadSettings(workers=1),
        "2 workers": LoadSettings(workers=2),
    }
    verdicts = {}
    for name, settings in generators.items():
        for attempt in range(ATTEMPTS):  # again if this machine made the generator drop some
            stub.set(delay=0.06, error_share=0.1)
            result = run_judged(
                plan(stub, duration_seconds=3.0),
                tmp_path / f"{name}-{attempt}",
                settings,
                reaper=reaper,
            )
            verdicts[name] = [evaluate(gate, result).verdict for gate in gates]
            if Verdict.INVALID not in verdicts[name]:
                break
    expected = [Verdict.PASS, Verdict.FAIL, Verdict.PASS, Verdict.FAIL]
    assert verdicts == dict.fromkeys(generators, expected), verdicts


def test_a_worker_refuses_a_target_off_this_machine_and_sends_nothing(
    tmp_path: Path, reaper: Reaper
) -> None:
    """On its command line, or in the plan a master sends it: the run is then invalid,
    naming the worker and why (nothing is counted against the target)."""
    remote = LoadPlan(
        scenario="graph_query",
        base_url="http://203.0.113.9:8000",
        duration_seconds=1.0,
        rate_per_second=10.0,
        allow_remote=True,
        traffic=traffic("graph_query"),
    )
    sent = run_distributed(remote, tmp_path / "sent", workers=1, reaper=reaper)
    assert not sent.valid
    assert sent.reason is not None
    assert "worker w0 lost mid-run: failed: target http://203.0.113.9:8000" in sent.reason
    assert "--allow-remote" in sent.reason
    assert sent.requests == 0
    path = tmp_path / "plan.json"
    path.write_text(remote.to_json())
    done = subprocess.run(
        [sys.executable, "-m", "load.worker", str(path), "--master", "127.0.0.1:1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "not on this machine" in done.stderr
    assert "--allow-remote" in done.stderr

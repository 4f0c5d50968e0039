"""The open model on Locust's distributed runners: a master and workers on 127.0.0.1.

Against the load engine's stub target (`tests/integration/load_stub.py`): the merged view
is exactly the union of the workers' histograms and holds the plan's arrivals; a worker
missing at start or killed mid-run makes the run invalid naming it (never a target
failure); one worker and two give the same verdict against a P95 bound. Short runs (a few
seconds at 50/s): the whole file takes well under a minute on 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.lifecycle.reaper import Reaper
from load.distributed import (
    DistributedResult,
    DistributedRun,
    run_distributed,
    start_distributed,
)
from load.histograms import summarize
from load.plan import LoadPlan
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
    stub: Stub, tmp: Path, reaper: Reaper, workers: int, **values: Any
) -> DistributedResult:
    """A run, again (a fresh directory) if this machine made the generator drop arrivals."""
    for attempt in range(ATTEMPTS):
        result = run_distributed(
            plan(stub, **values), tmp / f"attempt-{attempt}", workers=workers, reaper=reaper
        )
        if result.valid:
            break
    return result


def test_the_merged_view_is_the_union_of_the_workers_and_holds_the_planned_arrivals(
    stub: Stub, tmp_path: Path, reaper: Reaper
) -> None:
    stub.set(delay=0.01)
    result = run_held(stub, tmp_path, reaper, workers=2)
    assert result.valid, result.describe()
    assert [worker["name"] for worker in result.workers] == ["w0", "w1"]
    planned = round(RATE * DURATION)
    assert sum(worker["scheduled"] for worker in result.workers) == planned
    assert [worker["scheduled"] for worker in result.workers] == [planned // 2, planned // 2]
    assert result.requests + result.dropped == planned
    assert stub.count() == result.requests  # what the target served is what was measured
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


def test_one_worker_and_two_give_the_same_verdict_against_a_p95_bound(
    stub: Stub, tmp_path: Path, reaper: Reaper
) -> None:
    stub.set(delay=0.12)
    bound = 0.1
    verdicts = {}
    for workers in (1, 2):
        result = run_held(stub, tmp_path / f"{workers}", reaper, workers, duration_seconds=3.0)
        assert result.valid, result.describe()
        verdicts[workers] = result.summary().p95 < bound
    assert verdicts == {1: False, 2: False}


def test_a_worker_refuses_a_target_off_this_machine_and_sends_nothing(tmp_path: Path) -> None:
    remote = LoadPlan(
        scenario="graph_query",
        base_url="http://203.0.113.9:8000",
        duration_seconds=1.0,
        rate_per_second=10.0,
        allow_remote=True,
        traffic=traffic("graph_query"),
    )
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

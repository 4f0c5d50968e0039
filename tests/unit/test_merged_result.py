"""A distributed run's merged histograms read as a `LoadResult` (load/merged.py): the same
counts and percentiles as the histogram of every request, per route and per second; what
is not reported yet at a look is pending; a lost worker makes the run invalid, naming it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from load.distributed import DistributedResult, WorkerState, result_json
from load.gates import Gate, evaluate
from load.histograms import IntervalRecorder, MergedHistograms, merge
from load.merged import distribution, merged_result
from load.pacing import LATE
from load.plan import LoadPlan
from load.result import GeneratorStats, ResultFiles, to_us
from system.criteria import Verdict
from tests.reference import traffic

RATE, DURATION = 20.0, 5.0
ROUTES = ("GET /graph/{id}/neighbors", "GET /entities/{id}")
GO_WALL = 1_000_000.0


def plan() -> LoadPlan:
    return LoadPlan(
        scenario="graph_query",
        base_url="http://127.0.0.1:9",
        duration_seconds=DURATION,
        rate_per_second=RATE,
        max_in_flight=10,
        traffic=traffic("graph_query"),
    )


def recorded(seed: int, until: float = DURATION) -> tuple[IntervalRecorder, list[float]]:
    """Worker `seed`'s half of the arrivals before `until`: one in ten fails."""
    draws = random.Random(seed)  # noqa: S311 - test data
    recorder, latencies = IntervalRecorder(), []
    for index in range(int(RATE * until) // 2):
        intended = (2 * index + seed) / RATE
        latency = draws.lognormvariate(-3.0, 1.0)
        recorder.record(int(intended), ROUTES[index % 2], index % 10 != 0, latency)
        recorder.record_service(int(intended), ROUTES[index % 2], latency / 2)
        latencies.append(latency)
    return recorder, latencies


def run_of(
    tmp_path: Path, *, until: float = DURATION, finished: bool = True, lost: str | None = None
) -> tuple[DistributedResult, list[float]]:
    merged, per_worker, workers, everything = MergedHistograms(), {}, [], []
    for seed in (0, 1):
        recorder, latencies = recorded(seed, until)
        everything += latencies
        intervals = recorder.drain()
        merged.add_all(intervals)
        name = f"w{seed}"
        per_worker[name] = MergedHistograms()
        per_worker[name].add_all(intervals)
        state = WorkerState(name, index=seed, vus=5, done=finished, lost=lost if seed else None)
        state.generator = {
            "scheduled": int(RATE * DURATION) // 2,
            "dropped": {},
            "errors": {"HTTP 500": len(latencies[::10])},
            "cpu": 0.2 + seed / 10,
            "lag_seconds": 0.004,
            "peak_in_flight": 3,
        }
        workers.append(state)
    timing = {"go_wall": GO_WALL, "go_monotonic": 50.0, "window_end": DURATION}
    data = result_json(plan(), 2, workers, merged, per_worker, None, timing, finished=finished)
    data["written_at"] = GO_WALL + until + 1.0
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    return DistributedResult.read(path), everything


def files(tmp_path: Path) -> ResultFiles:
    return ResultFiles(tmp_path, (tmp_path / "result.json",), ())


def test_the_whole_run_is_the_histogram_of_every_request(tmp_path: Path) -> None:
    run, latencies = run_of(tmp_path)
    result = merged_result(plan(), run, files(tmp_path))
    assert result.valid, result.generator.problem()
    assert result.requests == len(latencies) == RATE * DURATION
    assert result.errors == sum(route.errors for route in result.routes) == 10
    assert result.error_kinds == {"HTTP 500": 10}
    union = merge(text for worker in run.per_worker.values() for text in worker.select())
    for q in (0.5, 0.95, 0.99):
        assert result.latency.quantile(q) == union.get_value_at_percentile(q * 100) / 1e6
        exact = sorted(latencies)[max(1, round(q * len(latencies) + 0.4999)) - 1]
        assert result.latency.quantile(q) == pytest.approx(exact, rel=2e-3)
    assert result.service.n == len(latencies), "every answered request's service time"
    assert result.service.quantile(0.5) < result.latency.quantile(0.5)
    assert [row.second for row in result.timeline] == [0, 1, 2, 3, 4]
    assert sum(row.requests for row in result.timeline) == result.requests
    assert {route.route for route in result.routes} == set(ROUTES)
    assert (result.started_at, result.ended_at) == (GO_WALL, GO_WALL + DURATION)
    assert result.generator.workers == 2
    assert result.generator.cpu == pytest.approx(0.3)
    assert "on 2 workers" in result.summary()
    assert [second for second, _ in result.intervals] == [0, 1, 2, 3, 4]


def test_a_look_during_the_run_counts_what_is_not_reported_yet_as_pending(
    tmp_path: Path,
) -> None:
    run, latencies = run_of(tmp_path, until=2.0, finished=False)
    result = merged_result(plan(), run, files(tmp_path), until=3.0, pending_latency=0.5)
    assert not result.finished
    assert result.pending == RATE * 3.0 - len(latencies)
    assert result.requests == RATE * 3.0
    assert result.latency.n == result.requests
    assert dict(result.latency.counts)[to_us(0.5)] >= result.pending, "at their lower bound"


def test_a_lost_worker_makes_the_run_invalid_never_a_target_failure(tmp_path: Path) -> None:
    run, _ = run_of(tmp_path, lost="no heartbeat (Locust marked it missing)")
    result = merged_result(plan(), run, files(tmp_path))
    problem = result.generator.problem()
    assert problem is not None
    assert "worker w1 lost mid-run" in problem
    outcome = evaluate(Gate("latency", 10.0, "graph_query", percentile=0.95), result)
    assert outcome.verdict is Verdict.INVALID


def test_a_histogram_reads_as_its_recorded_values() -> None:
    recorder = IntervalRecorder()
    for latency in (0.001, 0.002, 0.002, 1.5):
        recorder.record(0, ROUTES[0], True, latency)
    (interval,) = recorder.drain()
    histogram = merge([interval[3]])
    values = distribution(histogram)
    assert values.n == 4
    assert values.quantile(0.5) == pytest.approx(0.002, rel=1e-3)
    assert values.max == pytest.approx(1.5, rel=1e-3)


def test_a_generator_that_falls_behind_says_how_many_workers_the_rate_needs() -> None:
    stats = GeneratorStats(
        vus=100,
        peak_in_flight=40,
        cpu=0.97,
        dropped={LATE: 1000},
        tolerance=0.05,
        send_lag_p99=0.2,
        send_lag_max=0.4,
        arrivals=3000,
        max_dropped_ratio=0.01,
        rate=300.0,
        window=10.0,
        generators=1,
    )
    problem = stats.problem()
    assert problem is not None
    assert "each of its 1 generator(s) held about 200/s: 300/s needs about 2" in problem
    assert "[load] workers = 2" in problem

"""The child's records survive the trip: wire format, merge, files, and back to a LoadResult."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from load.pacing import IN_FLIGHT, Unfinished
from load.plan import LoadPlan
from load.recorder import Recorder, Records, merge_snapshots, nearest_rank, write_results
from load.result import read_result

PLAN = LoadPlan("mixed", "http://127.0.0.1:9", users=2, duration_seconds=3, rate_per_second=10)


def recorder_with(latencies: list[float], t0: float = 100.0, wall: float = 1e9) -> Recorder:
    recorder = Recorder()
    recorder.start(t0, wall, cpu=0.0)
    for i, latency in enumerate(latencies):
        end = t0 + 0.3 * i
        kind = "HTTP 500" if i % 5 == 4 else None
        recorder.record("GET /entities/{id}", end - latency, end - latency / 2, end, kind)
    recorder.stop(duration=3.0, now=t0 + 4.0, cpu=1.0)
    return recorder


def test_records_round_trip_through_the_wire_format() -> None:
    records = recorder_with([0.01, 0.02, 0.5]).records
    back = Records.from_wire(records.to_wire())
    assert back == records


def test_snapshots_merge_and_the_window_spans_all_processes() -> None:
    first = recorder_with([0.01] * 4, wall=1000.0)
    second = recorder_with([0.02] * 6, wall=1000.5)
    second.records.add(0, 5, 5, "POST /entities", "ConnectionRefusedError")
    records, window = merge_snapshots([first.snapshot(), second.snapshot()])
    assert len(records) == 11
    assert set(records.routes) == {"GET /entities/{id}", "POST /entities"}
    assert (window.started_at, window.ended_at) == (1000.0, 1003.5)
    assert window.generator_cpu == 0.25, "the busiest process: 1 s of CPU in 4 s"


def test_a_merge_with_no_started_process_fails() -> None:
    with pytest.raises(RuntimeError, match="no user ever joined"):
        merge_snapshots([Recorder().snapshot()])


def test_files_read_back_into_a_load_result(tmp_path: Path) -> None:
    latencies = [0.001 * (i + 1) for i in range(20)]  # 1 ms .. 20 ms
    recorder = recorder_with(latencies)
    recorder.record_unfinished([Unfinished("GET /entities/{id}", 106.0, 2.5, IN_FLIGHT)], 108.5)
    records, window = merge_snapshots([recorder.snapshot()])
    write_results(records, window, tmp_path, {"scenario": "mixed", "open_model": True})
    result = read_result(PLAN, tmp_path, tmp_path / "child.log")
    assert result.requests == 21
    assert result.completed == 20
    assert result.errors == 5
    assert result.error_kinds == {"HTTP 500": 4, IN_FLIGHT: 1}
    assert result.max == pytest.approx(2.5, rel=1e-3)
    assert result.p50 == pytest.approx(0.011, rel=1e-3), "HDR keeps 3 significant digits"
    assert result.service.n == 20
    assert result.service.max == pytest.approx(0.010, rel=1e-3)
    assert result.load_seconds == 3
    assert result.throughput == pytest.approx(20 / 3)
    assert result.generator_cpu == 0.25
    assert not result.generator_saturated
    assert result.route("GET /entities/{id}").requests == 21
    assert sum(second.requests for second in result.timeline) == 21
    first = result.timeline[0]
    assert (first.second, first.requests) == (0, 4)  # ends at t0 + 0, 0.3, 0.6, 0.9
    assert first.max == pytest.approx(0.004)
    log = result.files.interval_log.read_text().splitlines()
    assert log[0] == "#[Histogram log format version 1.2]"
    assert len([line for line in log if not line.startswith(("#", '"'))]) == len(result.timeline)


def test_nearest_rank() -> None:
    values = list(range(1, 101))
    assert nearest_rank(values, 0.95) == 95
    assert nearest_rank(values, 0.951) == 96
    assert nearest_rank([7], 0.5) == 7
    assert math.isclose(nearest_rank(values, 1.0), 100)

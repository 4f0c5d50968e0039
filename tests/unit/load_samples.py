"""Synthetic load results for the load engine's unit tests (no child process, no server)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from load.plan import LoadPlan
from load.result import LoadResult, ResultFiles, RouteStats, SecondStats
from load.stats import LatencyDistribution

ROUTE = "GET /graph/{id}/neighbors"


def make_result(
    latencies_s: Sequence[float],
    *,
    errors: int = 0,
    scenario: str = "graph_query",
    seconds: float = 60.0,
    rate: float | None = 50.0,
    service_s: Sequence[float] | None = None,
    directory: Path = Path("/nonexistent"),
) -> LoadResult:
    values = [round(v * 1e6) for v in latencies_s]
    latency = LatencyDistribution.from_values(values)
    service_values = values if service_s is None else [round(v * 1e6) for v in service_s]
    plan = LoadPlan(
        scenario, "http://127.0.0.1:8000", users=10, duration_seconds=seconds, rate_per_second=rate
    )
    per_second = max(1, len(values) // max(1, int(seconds)))
    timeline = tuple(SecondStats(s, per_second, 0, 0.01, 0.02, 0.03) for s in range(int(seconds)))
    return LoadResult(
        plan=plan,
        latency=latency,
        service=LatencyDistribution.from_values(service_values),
        requests=len(values),
        completed=len(values) - errors,
        errors=errors,
        error_kinds={"HTTP 500": errors} if errors else {},
        routes=(RouteStats(ROUTE, len(values), errors, latency),),
        timeline=timeline,
        started_at=1_700_000_000.0,
        ended_at=1_700_000_000.0 + seconds,
        files=ResultFiles(
            directory=directory,
            summary=directory / "result.json",
            latency_histogram=directory / "latency.hdr",
            service_histogram=directory / "service.hdr",
            interval_log=directory / "intervals.hlog",
            child_log=directory / "child.log",
        ),
    )

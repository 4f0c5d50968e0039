"""Synthetic load results for the load engine's unit tests (no child process, no server)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from load.plan import LoadPlan
from load.result import GeneratorStats, LoadResult, ResultFiles, RouteStats, SecondStats, to_us
from load.stats import LatencyDistribution
from tests.reference import traffic

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
    dropped: Mapping[str, int] | None = None,
    pending: int = 0,
    pending_latency: float = 0.0,
    cpu: float = 0.1,
) -> LoadResult:
    values = [to_us(v) for v in latencies_s] + [to_us(pending_latency)] * pending
    latency = LatencyDistribution.from_values(values)
    service_values = values if service_s is None else [to_us(v) for v in service_s]
    sends = traffic("graph_query")
    if rate is None:
        plan = LoadPlan(
            scenario, "http://127.0.0.1:8000", duration_seconds=seconds, users=10, traffic=sends
        )
    else:
        plan = LoadPlan(
            scenario,
            "http://127.0.0.1:8000",
            duration_seconds=seconds,
            rate_per_second=rate,
            traffic=sends,
        )
    per_second = max(1, len(values) // max(1, int(seconds)))
    timeline = tuple(
        SecondStats(s, per_second, 0, 0, 0.01, 0.02, 0.03) for s in range(int(seconds))
    )
    return LoadResult(
        plan=plan,
        latency=latency,
        service=LatencyDistribution.from_values(service_values),
        requests=len(values),
        completed=len(values) - pending,
        errors=errors,
        error_kinds={"HTTP 500": errors} if errors else {},
        pending=pending,
        routes=(RouteStats(ROUTE, len(values), errors, latency),),
        timeline=timeline,
        generator=GeneratorStats(
            vus=plan.vus,
            peak_in_flight=5,
            cpu=cpu,
            dropped=dict(dropped or {}),
            tolerance=plan.send_tolerance_seconds,
            send_lag_p99=0.001,
            send_lag_max=0.002,
            arrivals=len(values) + sum((dropped or {}).values()),
            max_dropped_ratio=plan.max_dropped_ratio,
        ),
        started_at=1_700_000_000.0,
        ended_at=1_700_000_000.0 + seconds,
        files=ResultFiles(directory=directory, records=(), logs=()),
        finished=pending == 0,
        pending_latency=pending_latency,
    )

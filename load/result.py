"""The result of one load run, read back from the files the load child wrote.

`LoadResult` is frozen. Its latencies come from the HDR histograms (decoded here with
`hdrhistogram`, which does not import gevent), its counts and timeline from result.json.
"Latency" is measured from each request's origin (`load.pacing`): the intended send time
in the open model, the send time in the closed model. Every intended request counts,
the unfinished ones too (as errors, with a lower bound of their latency).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from load.errors import LoadRunError
from load.plan import LoadPlan
from load.stats import LatencyDistribution

SUPPORTED_FORMAT = 1
SATURATED_CPU = 0.9


@dataclass(frozen=True)
class RouteStats:
    """One route template (e.g. "GET /entities/{id}") of a run."""

    route: str
    requests: int
    errors: int
    latency: LatencyDistribution

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class SecondStats:
    """One second of the run (by response end): count, errors, exact P50/P95/max in s."""

    second: int
    requests: int
    errors: int
    p50: float
    p95: float
    max: float


@dataclass(frozen=True)
class ResultFiles:
    directory: Path
    summary: Path
    latency_histogram: Path
    service_histogram: Path
    interval_log: Path
    child_log: Path


@dataclass(frozen=True)
class LoadResult:
    """Latencies, counts and timeline of one run of `plan`."""

    plan: LoadPlan
    latency: LatencyDistribution
    service: LatencyDistribution
    requests: int
    completed: int
    errors: int
    error_kinds: Mapping[str, int]
    routes: tuple[RouteStats, ...]
    timeline: tuple[SecondStats, ...]
    started_at: float
    ended_at: float
    files: ResultFiles
    generator_cpu: float = 0.0

    @property
    def generator_saturated(self) -> bool:
        """True when a load process was CPU-bound: latencies then include the client's own
        queueing, and the target may be faster than it looks (add `processes`)."""
        return self.generator_cpu >= SATURATED_CPU

    @property
    def scenario(self) -> str:
        return self.plan.scenario

    @property
    def load_seconds(self) -> float:
        return self.ended_at - self.started_at

    @property
    def throughput(self) -> float:
        """Completed requests per second of the load window."""
        return self.completed / self.load_seconds if self.load_seconds > 0 else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def p50(self) -> float:
        return self.latency.quantile(0.50)

    @property
    def p95(self) -> float:
        return self.latency.quantile(0.95)

    @property
    def p99(self) -> float:
        return self.latency.quantile(0.99)

    @property
    def max(self) -> float:
        return self.latency.max

    def route(self, name: str) -> RouteStats:
        for stats in self.routes:
            if stats.route == name:
                return stats
        raise KeyError(name)

    def summary(self) -> str:
        """One line for logs and reports."""
        return (
            f"{self.scenario}: n={self.requests} in {self.load_seconds:.1f} s "
            f"({self.throughput:.1f}/s), errors {self.error_rate:.2%}, "
            f"P50 {self.p50:.4f} s, P95 {self.p95:.4f} s, P99 {self.p99:.4f} s, "
            f"max {self.max:.4f} s; load generator CPU {self.generator_cpu:.0%}"
            + (" (saturated: add processes)" if self.generator_saturated else "")
        )


def distribution_from_encoded(encoded: str) -> LatencyDistribution:
    """Decode an HDR histogram (base64 V2) into (value in us, count) pairs."""
    histogram = HdrHistogram.decode(encoded.encode("ascii"))
    pairs = [
        (int(item.value_iterated_to), int(item.count_at_value_iterated_to))
        for item in histogram.get_recorded_iterator()
    ]
    return LatencyDistribution(tuple(pairs))


def read_result(plan: LoadPlan, directory: Path, child_log: Path) -> LoadResult:
    """Parse the files the load child wrote into `directory`."""
    summary_path = directory / "result.json"
    try:
        data: dict[str, Any] = json.loads(summary_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise LoadRunError(f"load result {summary_path} is unreadable: {error}") from None
    if data.get("format") != SUPPORTED_FORMAT:
        raise LoadRunError(f"load result {summary_path} has format {data.get('format')!r}")
    files = ResultFiles(
        directory=directory,
        summary=summary_path,
        latency_histogram=directory / data["latency_histogram"],
        service_histogram=directory / data["service_histogram"],
        interval_log=directory / data["interval_log"],
        child_log=child_log,
    )
    return LoadResult(
        plan=plan,
        latency=distribution_from_encoded(files.latency_histogram.read_text()),
        service=distribution_from_encoded(files.service_histogram.read_text()),
        requests=int(data["requests"]),
        completed=int(data["completed"]),
        errors=int(data["errors"]),
        error_kinds={str(k): int(v) for k, v in data["error_kinds"].items()},
        routes=tuple(_route(name, row) for name, row in sorted(data["routes"].items())),
        timeline=tuple(SecondStats(**row) for row in data["timeline"]),
        started_at=float(data["started_at"]),
        ended_at=float(data["ended_at"]),
        files=files,
        generator_cpu=float(data.get("generator_cpu", 0.0)),
    )


def _route(name: str, row: dict[str, Any]) -> RouteStats:
    return RouteStats(
        route=name,
        requests=int(row["requests"]),
        errors=int(row["errors"]),
        latency=distribution_from_encoded(row["histogram"]),
    )

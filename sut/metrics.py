"""The target's Prometheus metrics, in a registry of its own (design section 4).

The three contract metrics keep their names and labels; the rest are extensions that
make cache behaviour, dependency failures and injected faults visible.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sut.config import Faults

# Fine around the 1.5 s SLO bound so histogram_quantile can tell 1.4 s from 1.6 s.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 5.0, 10.0
)  # fmt: skip


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    query_latency: Histogram
    request_duration: Histogram
    requests: Counter
    cache_lookups: Counter
    dependency_errors: Counter
    faults: Gauge

    @classmethod
    def create(cls) -> Metrics:
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            registry=registry,
            query_latency=Histogram(
                "intelgraph_query_latency_seconds",
                "Latency of one query to a backing database, including waiting for a connection.",
                ("database", "operation"),
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            request_duration=Histogram(
                "http_request_duration_seconds",
                "HTTP request duration by route template, method and status.",
                ("route", "method", "status"),
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            requests=Counter(
                "http_requests_total",
                "HTTP requests by route template, method and status.",
                ("route", "method", "status"),
                registry=registry,
            ),
            cache_lookups=Counter(
                "intelgraph_cache_lookups_total",
                "Entity cache lookups in Redis: hit, miss, or error (then read from Postgres).",
                ("result",),
                registry=registry,
            ),
            dependency_errors=Counter(
                "intelgraph_dependency_errors_total",
                "Failed or timed-out calls to a backing database.",
                ("database", "operation", "kind"),
                registry=registry,
            ),
            faults=Gauge(
                "intelgraph_target_fault",
                "Test-only faults in effect (value = configured delay or share); absent if none.",
                ("fault",),
                registry=registry,
            ),
        )

    def show_faults(self, faults: Faults) -> None:
        for name, value in faults.describe().items():
            self.faults.labels(fault=name).set(value)

    @contextmanager
    def time_query(self, database: str, operation: str) -> Iterator[None]:
        """Observe the block's duration, whether it succeeds, fails or times out."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.query_latency.labels(database=database, operation=operation).observe(
                time.perf_counter() - started
            )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        labels = {"route": route, "method": method, "status": str(status)}
        self.request_duration.labels(**labels).observe(seconds)
        self.requests.labels(**labels).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

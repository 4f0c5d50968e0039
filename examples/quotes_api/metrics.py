"""The quotes API's Prometheus metrics, in a registry of its own.

Names and labels differ from the reference target's on purpose (`handler`/`code`, not
`route`/`status`): a harness must read them from the system description, not assume them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from examples.quotes_api.config import Faults

Statement = Literal["insert_quote", "select_quote", "upsert_prices", "ping"]

# Fine around the 0.9 s bound of QuotesGenerateSlow, so that histogram_quantile can tell
# 0.85 s from 0.95 s.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0, 3.0, 5.0, 10.0
)  # fmt: skip


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    request_seconds: Histogram
    requests: Counter
    db_seconds: Histogram
    faults: Gauge

    @classmethod
    def create(cls) -> Metrics:
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            registry=registry,
            request_seconds=Histogram(
                "quotes_request_seconds",
                "HTTP request duration by handler (route template), method and status code.",
                ("handler", "method", "code"),
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            requests=Counter(
                "quotes_requests_total",
                "HTTP requests by handler (route template), method and status code.",
                ("handler", "method", "code"),
                registry=registry,
            ),
            db_seconds=Histogram(
                "quotes_db_seconds",
                "Duration of one database statement kind, waiting for a connection included.",
                ("statement",),
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            faults=Gauge(
                "quotes_fault",
                "Test-only faults in effect (value: the delay, the share, or 1); absent if none.",
                ("fault",),
                registry=registry,
            ),
        )

    def show_faults(self, faults: Faults) -> None:
        for name, value in faults.describe().items():
            self.faults.labels(fault=name).set(value)

    def observe_request(self, handler: str, method: str, code: int, seconds: float) -> None:
        labels = {"handler": handler, "method": method, "code": str(code)}
        self.request_seconds.labels(**labels).observe(seconds)
        self.requests.labels(**labels).inc()

    @contextmanager
    def time_statement(self, statement: Statement) -> Iterator[None]:
        """Observe the block's duration, whether it succeeds, fails or times out."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.db_seconds.labels(statement=statement).observe(time.perf_counter() - started)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

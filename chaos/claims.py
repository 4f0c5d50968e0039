"""What a target claims about a window of load, judged from the load engine's records.

A claim names what must hold for the requests intended in a window (during a fault, say),
optionally for some routes only:

- `min_success`: at least this share succeeded (">= 95 % of requests succeed where the
  target claims graceful degradation"); pending requests count as failures;
- `p95_below`: their P95 latency (from the intended send time) stayed below this;
- `max_latency_below`: none took longer ("fail fast": the dependency's timeout + 1 s);
  a request still pending after that long breaks it too;
- `max_success`: at most this share succeeded (a claim that requests FAIL, fast).

Each measure is returned (it goes to the journal and the report) or the claim fails with
`HypothesisFailedError` naming the claim, the measure and the window. A window in which
the load generator did not hold its rate proves nothing either way: `InvalidWindowError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chaos.errors import HypothesisFailedError
from fixtures.errors import HarnessError
from load.result import LoadResult
from load.stats import LatencyDistribution, proportion_interval


class InvalidWindowError(HarnessError):
    """The load generator could not hold its rate in the window: not the target's fault."""


@dataclass(frozen=True)
class Claim:
    min_success: float | None = None
    max_success: float | None = None
    p95_below: float | None = None
    max_latency_below: float | None = None
    routes: tuple[str, ...] = ()  # route templates, e.g. "GET /items/{id}"; () = all

    def describe(self) -> str:
        parts = []
        if self.min_success is not None:
            parts.append(f">= {self.min_success:.0%} succeed")
        if self.max_success is not None:
            parts.append(f"<= {self.max_success:.0%} succeed")
        if self.p95_below is not None:
            parts.append(f"P95 < {self.p95_below:g} s")
        if self.max_latency_below is not None:
            parts.append(f"none slower than {self.max_latency_below:g} s")
        where = f" for {', '.join(self.routes)}" if self.routes else ""
        return ", ".join(parts) + where


@dataclass(frozen=True)
class Sample:
    requests: int
    errors: int
    pending: int
    latency: LatencyDistribution


def sample_of(result: LoadResult, routes: Sequence[str]) -> Sample:
    """The requests of `routes` (all routes when empty) in `result`."""
    if not routes:
        return Sample(result.requests, result.errors, result.pending, result.latency)
    chosen = [stats for stats in result.routes if stats.route in routes]
    if not chosen:
        known = ", ".join(stats.route for stats in result.routes) or "none"
        raise HypothesisFailedError(
            f"no request of {', '.join(routes)} in the window (routes requested: {known})"
        )
    counts: dict[int, int] = {}
    for stats in chosen:
        for value, count in stats.latency.counts:
            counts[value] = counts.get(value, 0) + count
    return Sample(
        requests=sum(stats.requests for stats in chosen),
        errors=sum(stats.errors for stats in chosen),
        pending=0,
        latency=LatencyDistribution(tuple(sorted(counts.items()))),
    )


def judge(result: LoadResult, claim: Claim, window: str) -> dict[str, Any]:
    """The window's measures if `claim` holds; `HypothesisFailedError` naming it if not."""
    problem = result.generator.problem()
    if problem is not None:
        raise InvalidWindowError(f"invalid window ({window}): {problem}")
    sample = sample_of(result, claim.routes)
    if sample.requests == 0:
        raise HypothesisFailedError(f"no request was sent in the window ({window})")
    succeeded = sample.requests - sample.errors - sample.pending
    low, high = proportion_interval(succeeded, sample.requests)
    measures: dict[str, Any] = {
        "window": window,
        "requests": sample.requests,
        "success_ratio": succeeded / sample.requests,
        "success_interval": [low, high],
        "p95_seconds": sample.latency.quantile(0.95),
        "max_seconds": sample.latency.max,
        "pending": sample.pending,
        "error_kinds": dict(result.error_kinds),
        "min_success": claim.min_success,  # what the experiment claims (None: no rate claim)
    }
    failures = _failures(claim, measures)
    if failures:
        raise HypothesisFailedError(
            f"{'; '.join(failures)} ({window}: {sample.requests} requests, "
            f"errors {dict(result.error_kinds) or 'none'})"
        )
    return measures


def _failures(claim: Claim, measures: dict[str, Any]) -> list[str]:
    ratio, p95, slowest = (
        measures["success_ratio"],
        measures["p95_seconds"],
        measures["max_seconds"],
    )
    failures = []
    if claim.min_success is not None and ratio < claim.min_success:
        failures.append(
            f"only {ratio:.1%} of requests succeeded, claimed >= {claim.min_success:.0%}"
        )
    if claim.max_success is not None and ratio > claim.max_success:
        failures.append(f"{ratio:.1%} of requests succeeded, claimed <= {claim.max_success:.0%}")
    if claim.p95_below is not None and p95 >= claim.p95_below:
        failures.append(f"P95 {p95:.2f} s >= the claimed {claim.p95_below:g} s")
    if claim.max_latency_below is not None and slowest >= claim.max_latency_below:
        failures.append(
            f"a request took {slowest:.2f} s, claimed none slower than "
            f"{claim.max_latency_below:g} s (they do not fail fast)"
        )
    return failures

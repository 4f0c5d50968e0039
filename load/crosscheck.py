"""Client P95 against the target's own P95 from Prometheus, side by side.

After a run, Prometheus is asked (HTTP API `/api/v1/query`, evaluated at the end of the
run's window, over a range W = the window's length) for the P95 of the histograms the
system description names (`[metrics]`): its request-duration histogram, with its route
label's excluded routes and its selector (e.g. `job="api"`, so that a shared Prometheus's
other services stay out), and the histograms of parts of a request (a database query):

    histogram_quantile(0.95, sum by (le) (rate(<http_histogram>_bucket{<selector>}[W])))
    histogram_quantile(0.95, sum by (le) (rate(<part>_bucket{<selector>}[W])))

and for the buckets themselves (`sum by (le) (rate(..._bucket[W]))`) to know how coarse
the server's estimate is: histogram_quantile interpolates linearly inside the bucket
that holds the quantile, so the true server P95 can be anywhere in that bucket.

Tolerated disagreement (documented rule):

    tolerance = width of the bucket holding the server's estimate
              + queueing delta: client P95 (from origin) - client service-time P95, >= 0
                (in the open model the client's latency includes waiting for a free
                user, which the server never sees; 0 in the closed model)
              + network allowance (default 25 ms: loopback TCP, HTTP parsing, scheduling)

- the request-duration histogram measures what the client measures, minus the network:
  the two agree when |client P95 - server P95| <= tolerance.
- a part's histogram measures one database query, a part of a request: the server may be
  far below the client, but never above it by more than the bucket width plus the network
  allowance.

A server estimate that is missing (no samples in the window, metric absent) or that
falls in the +Inf bucket cannot confirm anything: such a comparison is not ok either.
Prometheus must have scraped the target after the run ended: call this at least one
scrape interval after the run (or widen `extra_seconds`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import requests

from load.errors import CrossCheckError
from load.result import LoadResult

DEFAULT_NETWORK_ALLOWANCE = 0.025
QUERY_TIMEOUT_SECONDS = 10.0

Sample = tuple[Mapping[str, str], float]
QueryFunction = Callable[[str, float], list[Sample]]


@dataclass(frozen=True)
class ServerMetrics:
    """The target's histograms the cross-check reads (a description's `[metrics]`)."""

    http_histogram: str
    route_label: str = "route"
    selector: str = ""  # extra matchers, e.g. 'job="api"'
    exclude_routes: tuple[str, ...] = ()
    parts: tuple[tuple[str, str], ...] = ()  # (histogram, its own extra matchers)

    def http_matchers(self) -> str:
        """`{route!~"/metrics|/healthz",job="api"}`: the routes the load sends, this job."""
        matchers = []
        if self.exclude_routes:
            excluded = "|".join(re.escape(route) for route in self.exclude_routes)
            matchers.append(f'{self.route_label}!~"{excluded}"')
        if self.selector:
            matchers.append(self.selector)
        return "{" + ",".join(matchers) + "}" if matchers else ""

    def part_matchers(self, own: str) -> str:
        matchers = [matcher for matcher in (self.selector, own) if matcher]
        return "{" + ",".join(matchers) + "}" if matchers else ""


class Agreement(Enum):
    AGREE = "agree"
    DISAGREE = "disagree"
    NO_DATA = "no data"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class Comparison:
    metric: str
    query: str
    client_p95: float
    server_p95: float | None
    bucket: tuple[float, float] | None
    tolerance: float | None
    agreement: Agreement
    message: str

    @property
    def ok(self) -> bool:
        return self.agreement is Agreement.AGREE


class CrossCheckFailedError(AssertionError):
    """Client and server disagree beyond the tolerance, or the server cannot tell."""


@dataclass(frozen=True)
class CrossCheck:
    comparisons: tuple[Comparison, ...]

    @property
    def ok(self) -> bool:
        return all(comparison.ok for comparison in self.comparisons)

    @property
    def message(self) -> str:
        return "\n".join(comparison.message for comparison in self.comparisons)

    def require(self) -> None:
        if not self.ok:
            raise CrossCheckFailedError(self.message)


def prometheus_query(base_url: str, timeout: float = QUERY_TIMEOUT_SECONDS) -> QueryFunction:
    """A `QueryFunction` that asks the Prometheus at `base_url` (instant query)."""

    def query(promql: str, at: float) -> list[Sample]:
        url = base_url.rstrip("/") + "/api/v1/query"
        try:
            response = requests.get(
                url, params={"query": promql, "time": f"{at:.3f}"}, timeout=timeout
            )
            body: Any = response.json()
        except (requests.RequestException, ValueError) as error:
            raise CrossCheckError(
                f"Prometheus at {base_url} did not answer {promql!r}: {error}"
            ) from None
        return parse_vector(body, promql)

    return query


def parse_vector(body: Any, promql: str) -> list[Sample]:
    """The samples of an instant-vector answer; `CrossCheckError` for anything else."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else body
        raise CrossCheckError(f"Prometheus rejected {promql!r}: {error}")
    data = body.get("data", {})
    if data.get("resultType") != "vector":
        raise CrossCheckError(f"Prometheus answered {promql!r} with {data.get('resultType')!r}")
    return [(dict(item["metric"]), float(item["value"][1])) for item in data["result"]]


def crosscheck(
    result: LoadResult,
    prometheus_url: str | None = None,
    *,
    metrics: ServerMetrics,
    query: QueryFunction | None = None,
    network_allowance: float = DEFAULT_NETWORK_ALLOWANCE,
    extra_seconds: float = 0.0,
) -> CrossCheck:
    """Compare the client P95 of `result` with the server's request and part P95s."""
    if query is None:
        if prometheus_url is None:
            raise CrossCheckError("crosscheck needs a Prometheus URL or a query function")
        query = prometheus_query(prometheus_url)
    at = result.ended_at + extra_seconds
    window = f"{max(1, math.ceil(result.load_seconds + extra_seconds))}s"
    client = Client(result.p95, max(0.0, result.p95 - result.service.quantile(0.95)))
    look = Look(query, window, at, client, network_allowance)
    comparisons = [_compare(look, metrics.http_histogram, metrics.http_matchers(), part=False)]
    comparisons += [
        _compare(look, name, metrics.part_matchers(own), part=True) for name, own in metrics.parts
    ]
    return CrossCheck(tuple(comparisons))


@dataclass(frozen=True)
class Client:
    p95: float
    queueing: float


@dataclass(frozen=True)
class Look:
    """One cross-check's question to Prometheus: when, over which window, of which client."""

    query: QueryFunction
    window: str
    at: float
    client: Client
    network: float


def _compare(look: Look, metric: str, selector: str, *, part: bool) -> Comparison:
    buckets_query = f"sum by (le) (rate({metric}_bucket{selector}[{look.window}]))"
    quantile_query = f"histogram_quantile(0.95, {buckets_query})"
    estimates = [value for _, value in look.query(quantile_query, look.at) if math.isfinite(value)]
    server = estimates[0] if estimates else None
    bounds = bucket_bounds(look.query(buckets_query, look.at))
    return judge(
        metric, quantile_query, look.client, server, bounds, network=look.network, part=part
    )


def bucket_bounds(samples: Sequence[Sample]) -> list[float]:
    """The sorted upper bounds (le) of the buckets that exist, +Inf included."""
    return sorted({float(labels["le"]) for labels, _ in samples if "le" in labels})


def bucket_of(value: float, bounds: Sequence[float]) -> tuple[float, float] | None:
    """(lower, upper] of the bucket holding `value`; None if it is the +Inf bucket."""
    finite = [bound for bound in bounds if math.isfinite(bound)]
    lower = 0.0
    for upper in finite:
        if value <= upper:
            return lower, upper
        lower = upper
    return None


def judge(
    metric: str,
    promql: str,
    client: Client,
    server: float | None,
    bounds: Sequence[float],
    *,
    network: float,
    part: bool = False,
) -> Comparison:
    """Apply the tolerance rule of the module docstring."""
    head = f"{metric}: client P95 {client.p95:.3f} s"
    if server is None:
        message = f"{head}, server P95 unknown: no samples in the window ({promql})"
        return Comparison(metric, promql, client.p95, None, None, None, Agreement.NO_DATA, message)
    bucket = bucket_of(server, bounds)
    finite = [b for b in bounds if math.isfinite(b)]
    if bucket is None or (finite and server >= finite[-1]):
        message = (
            f"{head}, server P95 >= {server:.3f} s lies in the +Inf bucket: the buckets are too "
            "coarse to compare; add buckets above it"
        )
        return Comparison(
            metric, promql, client.p95, server, None, None, Agreement.UNRESOLVED, message
        )
    width = bucket[1] - bucket[0]
    if part:
        tolerance = width + network
        agree = server <= client.p95 + tolerance
        rule = f"server may exceed client by at most {tolerance:.3f} s"
        parts = f"bucket width {width:.3f} + network {network:.3f}"
    else:
        tolerance = width + client.queueing + network
        agree = abs(client.p95 - server) <= tolerance
        rule = f"tolerance {tolerance:.3f} s"
        parts = f"bucket width {width:.3f} + queueing {client.queueing:.3f} + network {network:.3f}"
    verdict = Agreement.AGREE if agree else Agreement.DISAGREE
    message = (
        f"{head} vs server P95 {server:.3f} s (bucket {bucket[0]:g}-{bucket[1]:g} s): "
        f"{verdict.value} ({rule}; {parts})"
    )
    return Comparison(metric, promql, client.p95, server, bucket, tolerance, verdict, message)

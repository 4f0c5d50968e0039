"""Interval HDR histograms: what a load worker measures, sent as text, merged exactly.

A distributed run (`load.distributed`) cannot stream one record per request to pytest: at
10^5 requests/s that is the bottleneck. Each worker records every request's latency in
microseconds, measured on its own monotonic clock from the arrival's intended time
(`load.pacing`), in one HDR histogram per (second of the run, route, outcome), the second
being that of the intended time. Every flush it sends what it recorded since the last one
as compact strings (`HdrHistogram.encode`); the master adds them up. Adding HDR histograms
of one precision is exact (counts per bucket add), so the merged view is the histogram of
the union of every worker's samples: percentiles and counts from it are the same as one
process recording everything would give, to the histogram's precision (3 significant
digits, the same as `load.evidence`'s interval log).

Nothing here imports Locust or gevent; the master keeps its histograms encoded (a decoded
one holds ~190 KB of counts; a 5-minute run has ~1,800 of them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from load.result import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS, to_us

SUCCESS, FAILURE = "ok", "failed"
OUTCOMES = (SUCCESS, FAILURE)  # every sent request is one of these, latency from intended time
# Answered requests again, by their service time (send to response end): what the load
# cross-check compares with the server's own view (the generator's queueing apart). Not a
# request count: selections without an outcome leave it out.
SERVICE = "service"
KINDS = (*OUTCOMES, SERVICE)

# One interval histogram on the wire and in the result file: [second, route, outcome, text].
Interval = tuple[int, str, str, str]


def new_histogram() -> Any:
    """An empty histogram of the harness's one precision (1 us .. 1 h, 3 digits)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def encode(histogram: Any) -> str:
    """The histogram as compact text (HdrHistogram's V2 compressed, base64)."""
    return str(histogram.encode().decode("ascii"))


def decode(text: str) -> Any:
    """The histogram `encode` wrote; a histogram of another precision is refused."""
    histogram = HdrHistogram.decode(text.encode("ascii"))
    if (
        histogram.lowest_trackable_value != LOWEST_US
        or histogram.highest_trackable_value != HIGHEST_US
        or histogram.significant_figures != SIGNIFICANT_DIGITS
    ):
        raise ValueError(
            "histogram of another precision "
            f"({histogram.lowest_trackable_value}..{histogram.highest_trackable_value} us, "
            f"{histogram.significant_figures} digits): cannot be merged exactly with "
            f"{LOWEST_US}..{HIGHEST_US} us, {SIGNIFICANT_DIGITS} digits"
        )
    return histogram


def merge(texts: Iterable[str]) -> Any:
    """The exact sum of encoded histograms (an empty histogram for none)."""
    total = new_histogram()
    for text in texts:
        total.add(decode(text))
    return total


def outcome_of(success: bool) -> str:
    return SUCCESS if success else FAILURE


class IntervalRecorder:
    """Worker side: latencies by (second, route, outcome); `drain` hands over what is new.

    Only the intervals that received a sample since the last drain are held decoded, so a
    worker's memory does not grow with the run's length."""

    def __init__(self) -> None:
        self._open: dict[tuple[int, str, str], Any] = {}

    def record(self, second: int, route: str, success: bool, latency_seconds: float) -> None:
        self.record_kind(second, route, outcome_of(success), latency_seconds)

    def record_service(self, second: int, route: str, service_seconds: float) -> None:
        self.record_kind(second, route, SERVICE, service_seconds)

    def record_kind(self, second: int, route: str, kind: str, seconds: float) -> None:
        key = (max(0, second), route, kind)
        histogram = self._open.get(key)
        if histogram is None:
            histogram = self._open[key] = new_histogram()
        histogram.record_value(to_us(seconds))

    def drain(self) -> list[Interval]:
        """What was recorded since the last drain, encoded; the recorder is then empty."""
        drained = [
            (second, route, outcome, encode(histogram))
            for (second, route, outcome), histogram in sorted(self._open.items())
        ]
        self._open.clear()
        return drained


@dataclass
class MergedHistograms:
    """Master side: the exact sum of every interval received, kept encoded by key.

    `add` takes deltas in any order and from any worker (addition commutes); a key is
    (second, route, outcome)."""

    intervals: dict[tuple[int, str, str], str] = field(default_factory=dict)

    def add(self, second: int, route: str, outcome: str, text: str) -> None:
        if outcome not in KINDS:
            raise ValueError(f"outcome {outcome!r} is not one of {KINDS}")
        key = (int(second), str(route), outcome)
        known = self.intervals.get(key)
        self.intervals[key] = text if known is None else encode(merge((known, text)))

    def add_all(self, intervals: Iterable[Iterable[Any]]) -> None:
        for second, route, outcome, text in intervals:
            self.add(second, route, outcome, text)

    def routes(self) -> list[str]:
        return sorted({route for _, route, _ in self.intervals})

    def seconds(self) -> list[int]:
        return sorted({second for second, _, _ in self.intervals})

    def select(
        self,
        *,
        route: str | None = None,
        outcome: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> Iterator[str]:
        """The encoded intervals of a route / outcome / window of seconds [since, until);
        without an outcome, the requests' (`OUTCOMES`), not the service times."""
        for (second, key_route, key_outcome), text in sorted(self.intervals.items()):
            if route is not None and key_route != route:
                continue
            if key_outcome != outcome and (outcome is not None or key_outcome not in OUTCOMES):
                continue
            if since is not None and second < since:
                continue
            if until is not None and second >= until:
                continue
            yield text

    def histogram(self, **where: Any) -> Any:
        """One histogram of the selection (`select`'s arguments)."""
        return merge(self.select(**where))

    def to_json(self) -> list[list[Any]]:
        return [[s, r, o, text] for (s, r, o), text in sorted(self.intervals.items())]

    @classmethod
    def from_json(cls, rows: Iterable[Iterable[Any]]) -> MergedHistograms:
        merged = cls()
        merged.add_all(rows)
        return merged


@dataclass(frozen=True)
class Summary:
    """Counts and percentiles (seconds) of a histogram."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    def to_json(self) -> dict[str, float | int]:
        return {"count": self.count, "p50": self.p50, "p95": self.p95, "p99": self.p99}


def percentile_seconds(histogram: Any, percentile: float) -> float:
    """The value at `percentile` (0-100) in seconds; 0.0 for an empty histogram."""
    if histogram.get_total_count() == 0:
        return 0.0
    return float(histogram.get_value_at_percentile(percentile)) / 1e6


def summarize(histogram: Any) -> Summary:
    count = int(histogram.get_total_count())
    return Summary(
        count=count,
        p50=percentile_seconds(histogram, 50.0),
        p95=percentile_seconds(histogram, 95.0),
        p99=percentile_seconds(histogram, 99.0),
        max=0.0 if count == 0 else float(histogram.get_max_value()) / 1e6,
    )

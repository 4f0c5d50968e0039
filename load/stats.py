"""Percentiles and confidence intervals from recorded latencies, distribution-free.

Quantiles use the nearest-rank rule: the q-quantile of n values is the ceil(q * n)-th
smallest (HDR's rule too). The recorded values are HDR bucket values (3 significant
digits: each is the highest value equivalent to the true one, at most 0.1 % above it).

The confidence interval of a quantile is the order-statistic (binomial) interval: with
B ~ Binomial(n, q), the number of samples below the true q-quantile,

    P(X(l) <= true quantile <= X(u)) >= P(l <= B <= u - 1),

for any distribution. We take the equal-tailed pair: l the largest rank with
P(B <= l - 1) <= alpha / 2, u the smallest with P(B >= u) <= alpha / 2. When no rank is
small (or large) enough, that side of the interval is unbounded: the run is too short
to say anything there (e.g. the upper end of a 95 % interval on P95 needs n >= 72).

An error rate's interval is the exact (Clopper-Pearson) binomial interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

DEFAULT_CONFIDENCE = 0.95
WINDOW_SD = 40.0  # binomial mass beyond 40 standard deviations is far below double precision


def _log_pmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def _window(n: int, p: float) -> tuple[int, int]:
    """Ranks outside which Binomial(n, p) has negligible mass."""
    spread = WINDOW_SD * math.sqrt(n * p * (1 - p)) + 10
    return max(0, math.floor(n * p - spread)), min(n, math.ceil(n * p + spread))


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(B <= k) for B ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    low, high = _window(n, p)
    if k < low:
        return 0.0
    if k >= high:
        return 1.0
    return min(1.0, sum(math.exp(_log_pmf(i, n, p)) for i in range(low, k + 1)))


def quantile_rank_interval(
    n: int, q: float, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[int | None, int | None]:
    """1-based ranks (l, u) of the order-statistic interval; None where unbounded.

    l is the largest rank with P(B <= l - 1) <= alpha / 2, u the smallest with
    P(B >= u) <= alpha / 2, for B ~ Binomial(n, q).
    """
    if n <= 0 or not 0.0 < q < 1.0:
        raise ValueError(f"need n > 0 and 0 < q < 1, got n={n}, q={q}")
    tail = (1.0 - confidence) / 2.0
    low, high = _window(n, q)
    pmf = {k: math.exp(_log_pmf(k, n, q)) for k in range(low, high + 1)}
    return _lower_rank(pmf, low, high, tail), _upper_rank(pmf, low, high, n, tail)


def _lower_rank(pmf: dict[int, float], low: int, high: int, tail: float) -> int | None:
    lower = low if low >= 1 else None  # P(B <= low - 1) is ~0: rank `low` qualifies
    below = 0.0  # P(B <= k)
    for k in range(low, high + 1):
        below += pmf[k]
        if below > tail:
            break
        lower = k + 1
    return lower


def _upper_rank(pmf: dict[int, float], low: int, high: int, n: int, tail: float) -> int | None:
    upper = high + 1 if high < n else None  # P(B >= high + 1) is ~0
    above = 0.0  # P(B >= k)
    for k in range(high, max(low, 1) - 1, -1):
        above += pmf[k]
        if above > tail:
            break
        upper = k
    return upper


def proportion_interval(
    successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """Clopper-Pearson interval of a binomial proportion (e.g. an error rate)."""
    if n <= 0:
        return 0.0, 1.0
    tail = (1.0 - confidence) / 2.0
    low = 0.0
    if successes > 0:  # the p at which P(B >= successes) = tail
        low = _bisect(lambda p: 1.0 - binomial_cdf(successes - 1, n, p) >= tail)
    high = 1.0
    if successes < n:  # the p at which P(B <= successes) = tail
        high = _bisect(lambda p: binomial_cdf(successes, n, p) <= tail)
    return low, high


def _bisect(reached: Callable[[float], bool]) -> float:
    """The p in [0, 1] where the monotone predicate `reached` turns true."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if reached(mid):
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class Interval:
    """A confidence interval; a side is None when the data cannot bound it."""

    low: float | None
    high: float | None
    confidence: float


@dataclass(frozen=True)
class LatencyDistribution:
    """Recorded latencies as (value in microseconds, count) pairs, ascending by value."""

    counts: tuple[tuple[int, int], ...]

    @classmethod
    def from_values(cls, values_us: Iterable[int]) -> LatencyDistribution:
        tally: dict[int, int] = {}
        for value in values_us:
            tally[value] = tally.get(value, 0) + 1
        return cls(tuple(sorted(tally.items())))

    def added(self, value_us: int, count: int) -> LatencyDistribution:
        """This distribution with `count` more values of `value_us`."""
        if count <= 0:
            return self
        tally = dict(self.counts)
        tally[value_us] = tally.get(value_us, 0) + count
        return LatencyDistribution(tuple(sorted(tally.items())))

    def moved(self, from_us: int, to_us: int, count: int) -> LatencyDistribution:
        """`count` of the values `from_us` (at most as many as there are) made `to_us`."""
        tally = dict(self.counts)
        moving = min(count, tally.get(from_us, 0))
        if moving <= 0:
            return self
        tally[from_us] -= moving
        if tally[from_us] == 0:
            del tally[from_us]
        tally[to_us] = tally.get(to_us, 0) + moving
        return LatencyDistribution(tuple(sorted(tally.items())))

    @property
    def n(self) -> int:
        return sum(count for _, count in self.counts)

    def at_rank(self, rank: int) -> float:
        """The rank-th smallest latency (1-based), in seconds."""
        if not 1 <= rank <= self.n:
            raise ValueError(f"rank {rank} outside 1..{self.n}")
        seen = 0
        for value, count in self.counts:
            seen += count
            if seen >= rank:
                return value / 1e6
        raise AssertionError("unreachable: rank checked against n")

    def quantile(self, q: float) -> float:
        """Nearest-rank q-quantile in seconds (q in (0, 1]); 0.0 when empty."""
        if self.n == 0:
            return 0.0
        return self.at_rank(max(1, math.ceil(q * self.n)))

    @property
    def max(self) -> float:
        return self.counts[-1][0] / 1e6 if self.counts else 0.0

    def quantile_interval(self, q: float, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
        if self.n == 0:
            return Interval(None, None, confidence)
        lower, upper = quantile_rank_interval(self.n, q, confidence)
        return Interval(
            None if lower is None else self.at_rank(lower),
            None if upper is None else self.at_rank(upper),
            confidence,
        )

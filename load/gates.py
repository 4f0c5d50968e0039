"""Gates on a load result: honest about the target, the generator, and the sample size.

A `Gate` names a metric, a bound and the scenario it is about (and optionally a route):

    Gate("latency", 1.5, "graph_query", percentile=95)   # P95 < 1.5 s
    Gate("error_rate", 0.01, "graph_query")              # error rate < 1 %
    Gate("throughput", 40.0, "graph_query")              # at least 40 successful answers/s

A gate that names a metric, percentile, scenario or route that does not exist raises
`GateError`: an error, never a pass (k6 ignores such thresholds and exits 0; we don't).

The decision rule, so that a gate near its bound does not flap. Latency percentiles and
error rates are estimates from a sample, so each comes with a two-sided confidence
interval [lo, hi] (`load.stats`: order-statistic interval for a percentile, Clopper-Pearson
for an error rate; 95 % for one look, less per look under `load.sequential`), and for an
upper bound B ("must stay below B"):

- PASS         when hi < B, counting every open request against the target (a pending
               request, and an arrival the generator dropped, as infinitely slow and
               failed);
- FAIL         when lo >= B, counting every open request for it (a pending request at the
               lower bound of its latency and successful, every arrival the generator
               dropped as an instant success): the target is over the bound beyond doubt,
               whatever the generator did;
- INVALID      when the generator did not hold the plan (it dropped more than the plan's
               `max_dropped_ratio` of the arrivals, 0.1 % by default, or its CPU was
               saturated: `GeneratorStats.problem`) and the gate did not FAIL: the run
               neither passes nor fails the target, and says what to change;
- INCONCLUSIVE otherwise: the interval straddles the bound. This fails too, with a
               message saying the run was too short to decide (`load.sequential` extends it).

So a target whose true P95 sits at the bound fails (at most 2.5 % of its runs could pass),
a target clearly below passes run after run, and the verdict changes only when the
interval, not the noisy point estimate, crosses the bound. Throughput is a count over a
fixed window, not a sample estimate: its gate compares the measured rate with the bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from load.errors import GateError
from load.result import HIGHEST_US, LOWEST_US, LoadResult, to_us
from load.stats import DEFAULT_CONFIDENCE, Interval, LatencyDistribution, proportion_interval
from system.criteria import Verdict

__all__ = [
    "Gate",
    "GateFailedError",
    "GateOutcome",
    "Verdict",
    "evaluate",
    "evaluate_all",
    "require",
]

METRICS = ("latency", "error_rate", "throughput")


@dataclass(frozen=True)
class Gate:
    """`metric` below `bound` (at least `bound` for throughput) for `scenario` [and `route`]."""

    metric: str
    bound: float
    scenario: str
    percentile: float | None = None
    route: str | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise GateError(
                f"gate metric {self.metric!r} does not exist; use one of {', '.join(METRICS)}"
            )
        if self.metric == "latency" and self.percentile is None:
            raise GateError("a latency gate needs a percentile, e.g. percentile=95")
        if self.metric != "latency" and self.percentile is not None:
            raise GateError(
                f"a {self.metric} gate has no percentile (got {self.percentile}); "
                "drop it, or use metric='latency'"
            )
        if self.percentile is not None and not 0 < self.percentile < 100:
            raise GateError(
                f"gate percentile {self.percentile} does not exist; give one in (0, 100), e.g. 95"
            )
        if not math.isfinite(self.bound) or self.bound < 0:
            raise GateError(f"gate bound {self.bound} must be a finite number >= 0")

    @property
    def label(self) -> str:
        if self.metric == "latency":
            return f"P{self.percentile:g}"
        return self.metric.replace("_", " ")


@dataclass(frozen=True)
class GateOutcome:
    gate: Gate
    verdict: Verdict
    measured: float
    interval: Interval | None
    n: int
    message: str

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS

    @property
    def decided(self) -> bool:
        return self.verdict is not Verdict.INCONCLUSIVE


class GateFailedError(AssertionError):
    """One or more gates did not pass; the message lists each, one line per gate."""

    def __init__(self, outcomes: list[GateOutcome]) -> None:
        self.outcomes = outcomes
        super().__init__("\n".join(outcome.message for outcome in outcomes))


def evaluate(gate: Gate, result: LoadResult, confidence: float = DEFAULT_CONFIDENCE) -> GateOutcome:
    """Judge one gate; `GateError` if it names a scenario or route the result lacks."""
    _check_scenario(gate, result)
    where = f"scenario {gate.scenario}" + (f", route {gate.route}" if gate.route else "")
    problem = result.generator.problem()
    if gate.metric == "throughput":
        return _throughput(gate, result, where, problem)
    sample = _sample(gate, result)
    if gate.metric == "latency":
        return _latency(gate, sample, where, confidence, problem)
    return _error_rate(gate, sample, where, confidence, problem)


def evaluate_all(
    gates: Iterable[Gate], result: LoadResult, confidence: float = DEFAULT_CONFIDENCE
) -> list[GateOutcome]:
    return [evaluate(gate, result, confidence) for gate in gates]


def require(result: LoadResult, gates: Iterable[Gate]) -> list[GateOutcome]:
    """Evaluate every gate; raise `GateFailedError` naming each one that did not pass."""
    outcomes = evaluate_all(gates, result)
    if not outcomes:
        raise GateError("no gates given: a load test without a gate proves nothing")
    failed = [outcome for outcome in outcomes if not outcome.passed]
    if failed:
        raise GateFailedError(failed)
    return outcomes


@dataclass(frozen=True)
class _Sample:
    """What a gate sees: the sent requests, and what is still open about them.

    `latency` holds every sent request, the `pending` ones at `pending_us` (a lower bound);
    `dropped` arrivals were never sent (the generator's).
    """

    latency: LatencyDistribution
    requests: int
    errors: int
    pending: int
    pending_us: int
    dropped: int

    def latency_against(self) -> LatencyDistribution:
        """Pending requests and dropped arrivals as infinitely slow: the worst case."""
        worst = self.latency.moved(self.pending_us, HIGHEST_US, self.pending)
        return worst.added(HIGHEST_US, self.dropped)

    def latency_for(self) -> LatencyDistribution:
        """Pending at their lower bound, dropped arrivals as instant: the best case."""
        return self.latency.added(LOWEST_US, self.dropped)


def _sample(gate: Gate, result: LoadResult) -> _Sample:
    _route_or_error(gate, result)
    pending_us = to_us(result.pending_latency)
    if gate.route is None:
        return _Sample(
            result.latency,
            result.requests,
            result.errors,
            result.pending,
            pending_us,
            result.dropped,
        )
    route = result.route(gate.route)  # pending requests have no route yet: none here
    return _Sample(route.latency, route.requests, route.errors, 0, pending_us, result.dropped)


def _check_scenario(gate: Gate, result: LoadResult) -> None:
    if gate.scenario == result.scenario:
        return
    raise GateError(
        f"gate for scenario {gate.scenario!r} was given a result of scenario "
        f"{result.scenario!r}; evaluate it on a run of {gate.scenario!r}"
    )


def _route_or_error(gate: Gate, result: LoadResult) -> None:
    if gate.route is not None and gate.route not in {r.route for r in result.routes}:
        known = ", ".join(r.route for r in result.routes) or "none"
        raise GateError(
            f"gate names route {gate.route!r}, which scenario {result.scenario} did not "
            f"request; its routes: {known}"
        )


def decide(interval: Interval, bound: float) -> Verdict:
    """PASS below, FAIL above, INCONCLUSIVE across the bound (an upper bound)."""
    if interval.high is not None and interval.high < bound:
        return Verdict.PASS
    if interval.low is not None and interval.low >= bound:
        return Verdict.FAIL
    return Verdict.INCONCLUSIVE


def _combine(against: Interval, for_target: Interval, bound: float, problem: str | None) -> Verdict:
    """The rule of the module docstring, from the worst-case and the best-case intervals."""
    if decide(for_target, bound) is Verdict.FAIL:
        return Verdict.FAIL
    if problem is not None:
        return Verdict.INVALID
    if decide(against, bound) is Verdict.PASS:
        return Verdict.PASS
    return Verdict.INCONCLUSIVE


def _latency(
    gate: Gate, sample: _Sample, where: str, confidence: float, problem: str | None
) -> GateOutcome:
    assert gate.percentile is not None
    q = gate.percentile / 100
    latency = sample.latency
    n = latency.n
    if n == 0:
        return _no_requests(gate, where, problem)
    measured = latency.quantile(q)
    interval = latency.quantile_interval(q, confidence)
    verdict = _combine(
        sample.latency_against().quantile_interval(q, confidence),
        sample.latency_for().quantile_interval(q, confidence),
        gate.bound,
        problem,
    )
    ci = f"{_level(confidence)} CI [{_s(interval.low, '0')}, {_s(interval.high, 'inf')}] s"
    context = f"{where}, n={n}{_open(sample)}, {ci}"
    message = _message(gate, verdict, f"{measured:.2f} s", f"{gate.bound:.2f} s", context)
    message += _note(
        verdict, sample, problem=problem, measured=measured, interval=interval, bound=gate.bound
    )
    return GateOutcome(gate, verdict, measured, interval, n, message)


def _error_rate(
    gate: Gate, sample: _Sample, where: str, confidence: float, problem: str | None
) -> GateOutcome:
    requests, errors = sample.requests, sample.errors
    if requests == 0:
        return _no_requests(gate, where, problem)
    measured = errors / requests
    low, high = proportion_interval(errors, requests, confidence)
    interval = Interval(low, high, confidence)
    worst = errors + sample.pending + sample.dropped
    against = Interval(
        *proportion_interval(worst, requests + sample.dropped, confidence), confidence
    )
    for_target = Interval(
        *proportion_interval(errors, requests + sample.dropped, confidence), confidence
    )
    verdict = _combine(against, for_target, gate.bound, problem)
    ci = f"{_level(confidence)} CI [{low:.2%}, {high:.2%}]"
    context = f"{where}, {errors} of {requests} requests failed{_open(sample)}, {ci}"
    message = _message(gate, verdict, f"{measured:.2%}", f"{gate.bound:.2%}", context)
    message += _note(
        verdict, sample, problem=problem, measured=measured, interval=interval, bound=gate.bound
    )
    return GateOutcome(gate, verdict, measured, interval, requests, message)


def _throughput(gate: Gate, result: LoadResult, where: str, problem: str | None) -> GateOutcome:
    measured = result.good_throughput
    verdict = Verdict.PASS if measured >= gate.bound else Verdict.FAIL
    if verdict is Verdict.FAIL and problem is not None:
        verdict = Verdict.INVALID
    sign = ">=" if measured >= gate.bound else "<"
    message = (
        f"throughput {measured:.1f}/s {sign} bound {gate.bound:.1f}/s "
        f"({where}, {result.successes} successful answers in {result.load_seconds:.1f} s)"
    )
    if verdict is Verdict.INVALID:
        message = f"invalid run: {message}; {problem}"
    return GateOutcome(gate, verdict, measured, None, result.successes, message)


def _no_requests(gate: Gate, where: str, problem: str | None) -> GateOutcome:
    verdict = Verdict.FAIL if problem is None else Verdict.INVALID
    message = f"{gate.label}: no requests were recorded ({where}); the gate cannot pass"
    if problem is not None:
        message = f"invalid run: {message}; {problem}"
    return GateOutcome(gate, verdict, math.nan, None, 0, message)


def _open(sample: _Sample) -> str:
    parts = []
    if sample.pending:
        parts.append(f"{sample.pending} pending")
    if sample.dropped:
        parts.append(f"{sample.dropped} dropped by the generator")
    return f" ({', '.join(parts)})" if parts else ""


def _message(gate: Gate, verdict: Verdict, measured: str, bound: str, context: str) -> str:
    if verdict is Verdict.PASS:
        return f"{gate.label} {measured} < bound {bound} ({context})"
    if verdict is Verdict.FAIL:
        return f"{gate.label} {measured} > bound {bound} ({context})"
    if verdict is Verdict.INVALID:
        return (
            f"invalid run: {gate.label} {measured} against bound {bound} neither passes nor "
            f"fails the target ({context})"
        )
    return (
        f"{gate.label} {measured} undecided against bound {bound}: the interval straddles "
        f"the bound ({context}); the run was too short to decide"
    )


def _note(
    verdict: Verdict,
    sample: _Sample,
    *,
    problem: str | None,
    measured: float,
    interval: Interval,
    bound: float,
) -> str:
    if verdict is Verdict.INVALID:
        return f": {problem}"
    if verdict is Verdict.FAIL and sample.dropped:
        return (
            f"; it fails even counting the {sample.dropped} arrivals the generator dropped "
            "as instant successes"
        )
    if verdict is Verdict.INCONCLUSIVE:
        return _longer(measured, interval, bound)
    return ""


def _longer(measured: float, interval: Interval, bound: float) -> str:
    """How much longer a run would narrow the interval past the bound (width ~ 1/sqrt(n))."""
    if interval.low is None or interval.high is None:
        return " — it has too few requests for a bounded interval: run several times longer"
    half_width = (interval.high - interval.low) / 2
    margin = abs(measured - bound)
    if margin == 0 or half_width == 0:
        return " — the estimate sits on the bound: a longer run will not settle it"
    factor = max(1.5, (half_width / margin) ** 2)
    return f" — run about {math.ceil(factor)}x longer"


def _level(confidence: float) -> str:
    """95 % as "95%", a per-look level such as 0.9903 as "99%"."""
    return f"{confidence * 100:.3g}%"


def _s(value: float | None, unbounded: str) -> str:
    return unbounded if value is None else f"{value:.2f}"

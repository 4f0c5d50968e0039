"""Gates on a load result: honest, and impossible to skip by a typo.

A `Gate` names a metric, a bound and the scenario it is about (and optionally a route):

    Gate("latency", 1.5, "graph_query", percentile=95)   # P95 < 1.5 s
    Gate("error_rate", 0.01, "graph_query")              # error rate < 1 %
    Gate("throughput", 40.0, "graph_query")              # at least 40 completed requests/s

A gate that names a metric, percentile, scenario or route that does not exist raises
`GateError`: an error, never a pass (k6 ignores such thresholds and exits 0; we don't).

The decision rule, so that a gate near its bound does not flap. Latency percentiles and
error rates are estimates from a sample, so each comes with a two-sided 95 % confidence
interval [lo, hi] (`load.stats`: order-statistic interval for a percentile, Clopper-Pearson
for an error rate), and for an upper bound B ("must stay below B"):

- PASS         when hi < B: the point estimate and the whole interval are below the bound;
- FAIL         when lo >= B: the target is over the bound beyond reasonable doubt;
- INCONCLUSIVE otherwise: the interval straddles the bound. This fails too, with a
  message saying the run was too short to decide and about how much longer would be.

So a target whose true P95 sits at the bound fails (at most 2.5 % of its runs could
pass), a target clearly below passes run after run, and the verdict changes only when the
interval, not the noisy point estimate, crosses the bound. Throughput is a count over a
fixed window, not a sample estimate: its gate compares the measured rate with the bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from load.errors import GateError
from load.plan import discover_scenarios
from load.result import LoadResult
from load.stats import DEFAULT_CONFIDENCE, Interval, LatencyDistribution, proportion_interval

METRICS = ("latency", "error_rate", "throughput")


class Verdict(Enum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


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


class GateFailedError(AssertionError):
    """One or more gates did not pass; the message lists each, one line per gate."""

    def __init__(self, outcomes: list[GateOutcome]) -> None:
        self.outcomes = outcomes
        super().__init__("\n".join(outcome.message for outcome in outcomes))


def evaluate(gate: Gate, result: LoadResult, confidence: float = DEFAULT_CONFIDENCE) -> GateOutcome:
    """Judge one gate; `GateError` if it names a scenario or route the result lacks."""
    _check_scenario(gate, result)
    where = f"scenario {gate.scenario}" + (f", route {gate.route}" if gate.route else "")
    if gate.metric == "latency":
        return _latency(gate, _distribution(gate, result), where, confidence)
    if gate.metric == "error_rate":
        requests, errors = _counts(gate, result)
        return _error_rate(gate, requests, errors, where, confidence)
    return _throughput(gate, result, where)


def evaluate_all(gates: Iterable[Gate], result: LoadResult) -> list[GateOutcome]:
    return [evaluate(gate, result) for gate in gates]


def require(result: LoadResult, gates: Iterable[Gate]) -> list[GateOutcome]:
    """Evaluate every gate; raise `GateFailedError` naming each one that did not pass."""
    outcomes = evaluate_all(gates, result)
    if not outcomes:
        raise GateError("no gates given: a load test without a gate proves nothing")
    failed = [outcome for outcome in outcomes if not outcome.passed]
    if failed:
        raise GateFailedError(failed)
    return outcomes


def _check_scenario(gate: Gate, result: LoadResult) -> None:
    if gate.scenario == result.scenario:
        return
    known = discover_scenarios(result.plan.scenarios_dir)
    if gate.scenario not in known:
        raise GateError(
            f"gate names scenario {gate.scenario!r}, which does not exist; "
            f"known: {', '.join(known) or 'none'}"
        )
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


def _distribution(gate: Gate, result: LoadResult) -> LatencyDistribution:
    _route_or_error(gate, result)
    return result.latency if gate.route is None else result.route(gate.route).latency


def _counts(gate: Gate, result: LoadResult) -> tuple[int, int]:
    _route_or_error(gate, result)
    if gate.route is None:
        return result.requests, result.errors
    route = result.route(gate.route)
    return route.requests, route.errors


def decide(interval: Interval, bound: float) -> Verdict:
    """The rule of the module docstring, for an upper bound."""
    if interval.high is not None and interval.high < bound:
        return Verdict.PASS
    if interval.low is not None and interval.low >= bound:
        return Verdict.FAIL
    return Verdict.INCONCLUSIVE


def _latency(
    gate: Gate, latency: LatencyDistribution, where: str, confidence: float
) -> GateOutcome:
    assert gate.percentile is not None
    q = gate.percentile / 100
    n = latency.n
    if n == 0:
        message = f"{gate.label}: no requests were recorded ({where}); the gate cannot pass"
        return GateOutcome(gate, Verdict.FAIL, math.nan, None, 0, message)
    measured = latency.quantile(q)
    interval = latency.quantile_interval(q, confidence)
    verdict = decide(interval, gate.bound)
    ci = f"{confidence:.0%} CI [{_s(interval.low, '0')}, {_s(interval.high, 'inf')}] s"
    context = f"{where}, n={n}, {ci}"
    message = _message(gate, verdict, f"{measured:.2f} s", f"{gate.bound:.2f} s", context)
    if verdict is Verdict.INCONCLUSIVE:
        message += _longer(measured, interval, gate.bound)
    return GateOutcome(gate, verdict, measured, interval, n, message)


def _error_rate(
    gate: Gate, requests: int, errors: int, where: str, confidence: float
) -> GateOutcome:
    if requests == 0:
        message = f"error rate: no requests were recorded ({where}); the gate cannot pass"
        return GateOutcome(gate, Verdict.FAIL, math.nan, None, 0, message)
    measured = errors / requests
    low, high = proportion_interval(errors, requests, confidence)
    interval = Interval(low, high, confidence)
    verdict = decide(interval, gate.bound)
    ci = f"{confidence:.0%} CI [{low:.2%}, {high:.2%}]"
    context = f"{where}, {errors} of {requests} requests failed, {ci}"
    message = _message(gate, verdict, f"{measured:.2%}", f"{gate.bound:.2%}", context)
    if verdict is Verdict.INCONCLUSIVE:
        message += _longer(measured, interval, gate.bound)
    return GateOutcome(gate, verdict, measured, interval, requests, message)


def _throughput(gate: Gate, result: LoadResult, where: str) -> GateOutcome:
    measured = result.throughput
    verdict = Verdict.PASS if measured >= gate.bound else Verdict.FAIL
    sign = ">=" if verdict is Verdict.PASS else "<"
    message = (
        f"throughput {measured:.1f}/s {sign} bound {gate.bound:.1f}/s "
        f"({where}, {result.completed} completed in {result.load_seconds:.1f} s)"
    )
    return GateOutcome(gate, verdict, measured, None, result.completed, message)


def _message(gate: Gate, verdict: Verdict, measured: str, bound: str, context: str) -> str:
    if verdict is Verdict.PASS:
        return f"{gate.label} {measured} < bound {bound} ({context})"
    if verdict is Verdict.FAIL:
        return f"{gate.label} {measured} > bound {bound} ({context})"
    return (
        f"{gate.label} {measured} undecided against bound {bound}: the interval straddles "
        f"the bound ({context}); the run was too short to decide"
    )


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


def _s(value: float | None, unbounded: str) -> str:
    return unbounded if value is None else f"{value:.2f}"

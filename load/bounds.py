"""A workload's bounds (from its system description) as gates, and each gate's criterion.

Every bound a description writes becomes one `Gate` and, once judged, one row of the
drill's verdict table under a registered criterion (`system.criteria`):

| bound                     | gate                                     | criterion            |
|---------------------------|------------------------------------------|----------------------|
| `p50`, `p95`, `p99`       | latency percentile below it              | `p50_latency`, ...   |
| `error_rate`              | error rate below it                      | `error_rate`         |
| `availability`            | error rate below 1 - it                  | `availability`       |
| `throughput`              | successful answers/s at least it         | `throughput`         |
| `throughput = "baseline"` | at least (1 - tolerance) x the baseline  | `throughput`         |

A workload without latency or error-rate bounds takes the description's `[slo]` (as the
profile's `[slo]` changes it). A route listed under `routes` with no latency bound of its
own is gated at the workload's latency bounds. The baseline of a throughput is the
median of the earlier runs' measured throughput of the same workload (the drill's
history), and the planned arrival rate when there is no history yet: in the open model a
target that keeps up answers every arrival.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from fixtures.profile import Slo
from load.gates import Gate, GateOutcome
from system.criteria import latency_criterion
from system.description import Bounds, Workload


@dataclass(frozen=True)
class Bounded:
    """A gate and the criterion it stands for."""

    gate: Gate
    criterion: str
    unit: str
    # availability is judged as an error rate: its row shows 1 - the measured error rate
    complement: bool = False
    baseline: float | None = None  # the throughput baseline the bound came from


def gates_for(
    scenario: str,
    workload: Workload,
    slo: Slo,
    history: Sequence[float] = (),
) -> list[Bounded]:
    """The gates of `workload` (named `scenario` in its results)."""
    bounds = workload.bounds
    latency = bounds.latency() or {95.0: slo.p95_seconds}
    error_rate = bounds.error_rate
    if error_rate is None and bounds.availability is None:
        error_rate = slo.error_rate
    found = [_latency(scenario, percentile, bound) for percentile, bound in latency.items()]
    if error_rate is not None:
        found.append(Bounded(Gate("error_rate", error_rate, scenario), "error_rate", "ratio"))
    if bounds.availability is not None:
        gate = Gate("error_rate", 1 - bounds.availability, scenario)
        found.append(Bounded(gate, "availability", "ratio", complement=True))
    if bounds.throughput is not None:
        found.append(_throughput(scenario, workload, bounds, history))
    for route, own in workload.routes.items():
        found += _route(scenario, route, own, latency)
    return found


def _latency(scenario: str, percentile: float, bound: float, route: str | None = None) -> Bounded:
    gate = Gate("latency", bound, scenario, percentile=percentile, route=route)
    return Bounded(gate, latency_criterion(percentile), "s")


def _route(scenario: str, route: str, own: Bounds, default: dict[float, float]) -> list[Bounded]:
    latency = own.latency() or default
    found = [_latency(scenario, percentile, bound, route) for percentile, bound in latency.items()]
    if own.error_rate is not None:
        gate = Gate("error_rate", own.error_rate, scenario, route=route)
        found.append(Bounded(gate, "error_rate", "ratio"))
    return found


def _throughput(
    scenario: str, workload: Workload, bounds: Bounds, history: Sequence[float]
) -> Bounded:
    if bounds.throughput == "baseline":
        baseline = statistics.median(history) if history else workload.rate
        bound = baseline * (1 - bounds.throughput_tolerance)
        gate = Gate("throughput", bound, scenario)
        return Bounded(gate, "throughput", "req/s", baseline=baseline)
    assert isinstance(bounds.throughput, float)
    return Bounded(Gate("throughput", bounds.throughput, scenario), "throughput", "req/s")


def scope_of(bounded: Bounded) -> str:
    """The row's scope: the workload, and the route when the gate is one route's."""
    gate = bounded.gate
    return gate.scenario if gate.route is None else f"{gate.scenario} {gate.route}"


Shown = tuple[float, float, tuple[float | None, float | None] | None]


def row_values(bounded: Bounded, outcome: GateOutcome) -> Shown:
    """(bound, measured, interval) of the row; an availability shown as a success ratio."""
    interval = outcome.interval
    low_high = None if interval is None else (interval.low, interval.high)
    if not bounded.complement:
        return bounded.gate.bound, outcome.measured, low_high
    flipped = None
    if interval is not None:
        flipped = (
            None if interval.high is None else 1 - interval.high,
            None if interval.low is None else 1 - interval.low,
        )
    return 1 - bounded.gate.bound, 1 - outcome.measured, flipped

"""A workload's bounds in its description become gates and rows (pure logic)."""

from __future__ import annotations

import dataclasses

import pytest

from fixtures.profile import Slo
from load.bounds import gates_for, row_values, scope_of
from load.gates import evaluate
from load.result import RouteStats, to_us
from load.stats import LatencyDistribution
from system.criteria import Verdict
from system.description import Workload
from tests.reference import DESCRIPTION, QUOTES
from tests.unit.load_samples import make_result

ROUTES = ("GET /entities/{id}", "GET /graph/{id}/neighbors", "POST /entities")


def test_the_sustained_mix_gates_each_route_and_the_pr_gate_mix_does_not() -> None:
    sustained = gates_for("mixed_sustained", DESCRIPTION.workloads["mixed_sustained"], Slo())
    by_route = [bounded.gate for bounded in sustained if bounded.gate.route is not None]
    assert [gate.route for gate in by_route] == list(ROUTES)
    assert {(gate.metric, gate.percentile, gate.bound) for gate in by_route} == {
        ("latency", 95, 1.5)
    }
    whole = [bounded.criterion for bounded in sustained if bounded.gate.route is None]
    assert whole == ["p95_latency", "error_rate"]
    quick = gates_for("mixed", DESCRIPTION.workloads["mixed"], Slo())
    assert all(bounded.gate.route is None for bounded in quick)


def test_the_mixed_routes_are_the_ones_its_requests_send() -> None:
    assert DESCRIPTION.workloads["mixed_sustained"].route_names == ROUTES


def test_without_bounds_the_profiles_slo_applies() -> None:
    loosened = Slo(p95_seconds=3.0, error_rate=0.05)
    gates = [
        b.gate for b in gates_for("entity_query", DESCRIPTION.workloads["entity_query"], loosened)
    ]
    assert [(gate.metric, gate.bound) for gate in gates] == [("latency", 3.0), ("error_rate", 0.05)]


def test_a_slow_request_type_fails_its_gate_while_the_overall_p95_passes() -> None:
    """3 % of requests (all the writes) at 2 s: the whole run's P95 hides them."""
    fast, slow = [0.02] * 9700, [2.0] * 300
    result = make_result(fast + slow, scenario="mixed_sustained", seconds=300.0)

    def stats(route: str, values: list[float]) -> RouteStats:
        latency = LatencyDistribution.from_values([to_us(v) for v in values])
        return RouteStats(route, len(values), 0, latency)

    reads, traversals, writes = ROUTES
    routes = (stats(reads, fast[:7000]), stats(traversals, fast[7000:]), stats(writes, slow))
    result = dataclasses.replace(result, routes=routes)
    gates = gates_for("mixed_sustained", DESCRIPTION.workloads["mixed_sustained"], Slo())
    verdicts = {(b.criterion, b.gate.route): evaluate(b.gate, result).verdict.value for b in gates}
    assert verdicts == {
        ("p95_latency", None): "pass",
        ("error_rate", None): "pass",
        ("p95_latency", reads): "pass",
        ("p95_latency", traversals): "pass",
        ("p95_latency", writes): "fail",
    }


def test_a_requirement_written_as_data_becomes_its_gates() -> None:
    """ "60 req/min sustained for 20 min, p95 < 900 ms, throughput >= baseline"."""
    quotes = QUOTES.description.workloads["quotes_generate"]
    assert (quotes.rate, quotes.duration) == (1.0, 1200.0)
    first = gates_for("quotes_generate", quotes, Slo())
    assert [(b.criterion, b.gate.bound) for b in first] == [
        ("p95_latency", 0.9),
        ("error_rate", 0.01),  # not bounded there: the [slo] given
        ("throughput", pytest.approx(0.9)),  # no history: the planned rate, less 10 % noise
    ]
    assert first[-1].baseline == 1.0
    later = gates_for("quotes_generate", quotes, Slo(), history=[0.98, 1.0, 0.96])
    assert later[-1].baseline == 0.98
    assert later[-1].gate.bound == pytest.approx(0.882)


def test_availability_is_judged_as_an_error_rate_and_shown_as_a_success_ratio() -> None:
    reads = QUOTES.description.workloads["quotes_read"]
    gates = gates_for("quotes_read", reads, Slo())
    assert [(b.criterion, b.gate.metric) for b in gates] == [
        ("p99_latency", "latency"),
        ("availability", "error_rate"),
    ]
    availability = gates[1]
    result = make_result([0.01] * 2000, errors=2, scenario="quotes_read")
    outcome = evaluate(availability.gate, result)
    bound, measured, interval = row_values(availability, outcome)
    assert bound == pytest.approx(0.995)
    assert measured == pytest.approx(0.999)
    assert interval is not None
    assert interval[0] is not None
    assert interval[1] is not None
    assert interval[0] < 0.999 < interval[1]
    assert outcome.verdict is Verdict.PASS
    assert scope_of(availability) == "quotes_read"


def test_p50_and_p99_bounds_are_their_own_criteria() -> None:
    workload = Workload.model_validate(
        {
            "rate": "10/s",
            "duration": "30s",
            "requests": [{"request": "GET /x"}],
            "bounds": {"p50": "50ms", "p99": "2s"},
        }
    )
    criteria = [b.criterion for b in gates_for("w", workload, Slo())]
    assert criteria == ["p50_latency", "p99_latency", "error_rate"]

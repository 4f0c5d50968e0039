"""The drill's sustained run gates each request type of the mixed workload (pure logic)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from fixtures.profile import Slo
from load.gates import evaluate
from load.result import RouteStats, to_us
from load.stats import LatencyDistribution
from suites.load.gated_run import slo_gates
from suites.load.workloads import DRILL, PR_GATE, ROUTES
from tests.unit.load_samples import make_result

MIXED = Path(__file__).resolve().parents[2] / "scenarios" / "load" / "mixed.py"


def _sent_routes(locustfile: Path) -> set[str]:
    """The "METHOD name" of every `self.send(METHOD, path, name=...)` in a locustfile."""
    routes = set()
    for node in ast.walk(ast.parse(locustfile.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "send":
            method = ast.literal_eval(node.args[0])
            name = ast.literal_eval(next(k.value for k in node.keywords if k.arg == "name"))
            routes.add(f"{method} {name}")
    return routes


def test_the_mixed_routes_are_the_ones_its_locustfile_sends() -> None:
    assert set(ROUTES["mixed"]) == _sent_routes(MIXED)


def test_the_drill_gates_each_route_and_the_pr_gate_does_not() -> None:
    assert DRILL.by_route
    assert not PR_GATE.by_route
    gates = slo_gates("mixed", Slo(), ROUTES["mixed"])
    by_route = [gate for gate in gates if gate.route is not None]
    assert [gate.route for gate in by_route] == list(ROUTES["mixed"])
    # P95 per route at the service's bound; the error rate stays the service's, overall.
    assert {(gate.metric, gate.percentile, gate.bound) for gate in by_route} == {
        ("latency", 95, 1.5)
    }
    assert [gate.metric for gate in gates if gate.route is None] == ["latency", "error_rate"]


def test_a_slow_request_type_fails_its_gate_while_the_overall_p95_passes() -> None:
    """3 % of requests (all the writes) at 2 s: the whole run's P95 hides them."""
    fast, slow = [0.02] * 9700, [2.0] * 300
    result = make_result(fast + slow, scenario="mixed", seconds=300.0)

    def stats(route: str, values: list[float]) -> RouteStats:
        latency = LatencyDistribution.from_values([to_us(v) for v in values])
        return RouteStats(route, len(values), 0, latency)

    reads, traversals, writes = ROUTES["mixed"]
    routes = (stats(reads, fast[:7000]), stats(traversals, fast[7000:]), stats(writes, slow))
    result = dataclasses.replace(result, routes=routes)
    verdicts = {
        (gate.metric, gate.route): evaluate(gate, result).verdict.value
        for gate in slo_gates("mixed", Slo(), ROUTES["mixed"])
    }
    assert verdicts == {
        ("latency", None): "pass",
        ("error_rate", None): "pass",
        ("latency", reads): "pass",
        ("latency", traversals): "pass",
        ("latency", writes): "fail",
    }

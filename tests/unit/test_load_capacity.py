"""Capacity search: the rates tried, and what is concluded from the steps (pure logic)."""

from __future__ import annotations

import pytest

from load.capacity import Capacity, CapacitySearch, Step
from load.errors import LoadPlanError
from load.gates import evaluate_all
from tests.reference import traffic
from tests.unit.load_samples import make_result

URL = "http://127.0.0.1:8000"


def search(**values: float) -> CapacitySearch:
    return CapacitySearch(
        scenario="graph_query",
        base_url=URL,
        traffic=traffic("graph_query"),
        **values,  # type: ignore[arg-type]
    )


def test_rates_rise_by_the_factor_up_to_the_cap() -> None:
    assert search(start_rate=25, factor=2, max_rate=200).rates() == [25, 50, 100, 200]
    assert search(start_rate=25, factor=1.5, max_rate=100).rates() == [25, 37.5, 56.2, 84.4]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"factor": 1.0}, "factor=1.0 must be > 1"),
        ({"start_rate": 0}, "need 0 < start_rate <= max_rate"),
        ({"start_rate": 50, "max_rate": 10}, "need 0 < start_rate <= max_rate"),
    ],
)
def test_a_bad_search_is_one_line(values: dict[str, float], message: str) -> None:
    with pytest.raises(LoadPlanError, match=message):
        search(**values)
    with pytest.raises(LoadPlanError, match="not on this machine"):
        CapacitySearch(scenario="mixed", base_url="http://10.1.1.1:80", traffic=traffic("mixed"))


def step(rate: float, latencies: list[float], **extra: object) -> Step:
    result = make_result(latencies, **extra)  # type: ignore[arg-type]
    return Step(rate, result, evaluate_all(search().gates(), result))


def test_capacity_is_the_last_rate_that_passed() -> None:
    steps = [step(25, [0.01] * 2000), step(50, [0.02] * 2000), step(100, [3.0] * 2000)]
    capacity = Capacity(search(), steps)
    assert capacity.highest_passing_rate == 50
    assert capacity.stopped_by is steps[2]
    assert capacity.conclusion().startswith("graph_query: the SLO holds up to 50/s; at 100/s: P95")


def test_a_generator_that_gives_out_makes_capacity_a_lower_bound() -> None:
    steps = [step(25, [0.01] * 2000), step(50, [0.01] * 2000, dropped={"sent too late": 30})]
    conclusion = Capacity(search(), steps).conclusion()
    assert "the SLO holds up to 25/s at least" in conclusion
    assert "the load generator gave out, not the target" in conclusion
    assert Capacity(search(), [step(25, [3.0] * 2000)]).highest_passing_rate is None

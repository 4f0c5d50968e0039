"""Gates: exact confidence intervals, an honest decision rule, and no silent pass."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from load.errors import GateError
from load.gates import Gate, GateFailedError, Verdict, decide, evaluate, require
from load.stats import (
    Interval,
    LatencyDistribution,
    binomial_cdf,
    proportion_interval,
    quantile_rank_interval,
)
from tests.unit.load_samples import ROUTE, make_result

TAIL = Fraction(1, 40)  # (1 - 0.95) / 2


def exact_cdf(k: int, n: int, q: Fraction) -> Fraction:
    return sum((math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(k + 1)), Fraction(0))


def brute_force_ranks(n: int, q: Fraction) -> tuple[int | None, int | None]:
    """Every rank tried, exact arithmetic: the definition in load.stats, spelled out."""
    pmf = [math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(n + 1)]
    cdf = [sum(pmf[: k + 1], Fraction(0)) for k in range(n + 1)]
    lower = [r for r in range(1, n + 1) if cdf[r - 1] <= TAIL]
    upper = [r for r in range(1, n + 1) if 1 - cdf[r - 1] <= TAIL]
    return (max(lower) if lower else None, min(upper) if upper else None)


@pytest.mark.parametrize(
    "q", [Fraction(1, 2), Fraction(9, 10), Fraction(95, 100), Fraction(99, 100)]
)
@pytest.mark.parametrize("n", [1, 5, 20, 58, 71, 72, 100, 150])
def test_order_statistic_ranks_match_brute_force(n: int, q: Fraction) -> None:
    assert quantile_rank_interval(n, float(q)) == brute_force_ranks(n, q)


def test_known_textbook_interval_for_the_median() -> None:
    assert quantile_rank_interval(100, 0.5) == (40, 61)


def test_coverage_is_at_least_the_confidence() -> None:
    rng = random.Random(42)  # noqa: S311 - test data
    n, runs, covered = 200, 2000, 0
    low_rank, high_rank = quantile_rank_interval(n, 0.95)
    assert low_rank is not None
    assert high_rank is not None
    for _ in range(runs):
        sample = sorted(rng.random() for _ in range(n))
        covered += sample[low_rank - 1] <= 0.95 <= sample[high_rank - 1]
    assert covered / runs >= 0.93  # exact coverage >= 0.95; 2000 runs: sd ~0.005


def test_large_samples_stay_fast_and_tight() -> None:
    low, high = quantile_rank_interval(1_000_000, 0.95)
    assert low is not None
    assert high is not None
    assert 949_000 < low < 950_000 < high < 951_000


def test_binomial_cdf_matches_exact_arithmetic() -> None:
    for k in (0, 3, 10, 19):
        assert binomial_cdf(k, 20, 0.3) == pytest.approx(float(exact_cdf(k, 20, Fraction(3, 10))))


def test_clopper_pearson() -> None:
    low, high = proportion_interval(0, 3000)
    assert low == 0.0
    assert high == pytest.approx(1 - 0.025 ** (1 / 3000), rel=1e-6)
    low, high = proportion_interval(42, 1000)
    assert binomial_cdf(42, 1000, high) == pytest.approx(0.025, abs=1e-6)
    assert 1 - binomial_cdf(41, 1000, low) == pytest.approx(0.025, abs=1e-6)
    assert proportion_interval(5, 5)[1] == 1.0


def test_nearest_rank_quantiles_match_sorting() -> None:
    rng = random.Random(7)  # noqa: S311 - test data
    values = [rng.randint(100, 100_000) for _ in range(997)]
    distribution = LatencyDistribution.from_values(values)
    ordered = sorted(values)
    for q in (0.01, 0.5, 0.95, 0.99, 1.0):
        assert distribution.quantile(q) == ordered[math.ceil(q * len(values)) - 1] / 1e6
    assert distribution.max == ordered[-1] / 1e6
    interval = distribution.quantile_interval(0.95)
    low_rank, high_rank = quantile_rank_interval(997, 0.95)
    assert low_rank is not None
    assert high_rank is not None
    assert interval.low == ordered[low_rank - 1] / 1e6
    assert interval.high == ordered[high_rank - 1] / 1e6


# -- gates that name something that does not exist are errors -----------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"metric": "latancy", "percentile": 95}, "metric 'latancy' does not exist"),
        ({"metric": "latency"}, "needs a percentile"),
        ({"metric": "latency", "percentile": 100}, "percentile 100 does not exist"),
        ({"metric": "latency", "percentile": 0}, "percentile 0 does not exist"),
        ({"metric": "latency", "percentile": 195}, "percentile 195 does not exist"),
        ({"metric": "error_rate", "percentile": 95}, "has no percentile"),
        ({"metric": "p95"}, "does not exist"),
    ],
)
def test_malformed_gates_are_errors(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(GateError, match=fragment):
        Gate(bound=1.5, scenario="graph_query", **kwargs)  # type: ignore[arg-type]


def test_a_gate_for_an_unknown_scenario_is_an_error_not_a_pass() -> None:
    result = make_result([0.1] * 100)
    with pytest.raises(GateError, match="scenario 'graph_qery' was given a result of scenario"):
        evaluate(Gate("latency", 1.5, "graph_qery", percentile=95), result)


def test_a_gate_for_another_scenario_is_an_error() -> None:
    result = make_result([0.1] * 100)
    with pytest.raises(GateError, match="given a result of scenario 'graph_query'"):
        evaluate(Gate("latency", 1.5, "mixed", percentile=95), result)


def test_a_gate_for_an_unknown_route_is_an_error() -> None:
    result = make_result([0.1] * 100)
    gate = Gate("latency", 1.5, "graph_query", percentile=95, route="GET /graph/{id}")
    with pytest.raises(GateError, match=r"route 'GET /graph/\{id\}'"):
        evaluate(gate, result)
    assert evaluate(Gate("latency", 1.5, "graph_query", percentile=95, route=ROUTE), result).passed


def test_no_gates_is_an_error() -> None:
    with pytest.raises(GateError, match="no gates"):
        require(make_result([0.1] * 10), [])


# -- the decision rule ----------------------------------------------------------------------


def test_decide() -> None:
    assert decide(Interval(1.0, 1.4, 0.95), 1.5) is Verdict.PASS
    assert decide(Interval(1.5, 1.9, 0.95), 1.5) is Verdict.FAIL
    assert decide(Interval(1.4, 1.6, 0.95), 1.5) is Verdict.INCONCLUSIVE
    assert decide(Interval(1.0, None, 0.95), 1.5) is Verdict.INCONCLUSIVE
    assert decide(Interval(None, 1.0, 0.95), 1.5) is Verdict.PASS


def spread(center: float, n: int, width: float = 0.2) -> list[float]:
    """n evenly spread latencies whose P95 is about `center`."""
    return [center - 0.95 * width + width * i / n for i in range(n)]


def test_a_slow_target_fails_naming_the_measured_value_and_the_bound() -> None:
    result = make_result(spread(1.83, 3012))
    outcome = evaluate(Gate("latency", 1.5, "graph_query", percentile=95), result)
    assert outcome.verdict is Verdict.FAIL
    assert outcome.message.startswith(
        "P95 1.83 s > bound 1.50 s (scenario graph_query, n=3012, 95% CI ["
    )
    assert outcome.message.endswith("] s)")


def test_a_fast_target_passes() -> None:
    outcome = evaluate(
        Gate("latency", 1.5, "graph_query", percentile=95), make_result(spread(0.2, 500))
    )
    assert outcome.verdict is Verdict.PASS
    assert outcome.message.startswith("P95 0.20 s < bound 1.50 s")


def test_a_target_near_the_bound_is_inconclusive_and_fails_saying_why() -> None:
    result = make_result(spread(1.45, 200, width=2.0))
    outcome = evaluate(Gate("latency", 1.5, "graph_query", percentile=95), result)
    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert not outcome.passed
    assert "undecided against bound 1.50 s" in outcome.message
    assert "too short to decide" in outcome.message
    assert "longer" in outcome.message


def test_too_few_requests_to_bound_p95_is_inconclusive() -> None:
    outcome = evaluate(Gate("latency", 1.5, "graph_query", percentile=95), make_result([0.1] * 30))
    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert "CI [0.10, inf] s" in outcome.message


def test_error_rate_gate() -> None:
    failing = evaluate(
        Gate("error_rate", 0.01, "graph_query"), make_result([0.1] * 1000, errors=42)
    )
    assert failing.verdict is Verdict.FAIL
    assert failing.message.startswith(
        "error rate 4.20% > bound 1.00% (scenario graph_query, 42 of 1000 requests failed"
    )
    clean = evaluate(Gate("error_rate", 0.01, "graph_query"), make_result([0.1] * 1000))
    assert clean.passed
    short = evaluate(Gate("error_rate", 0.01, "graph_query"), make_result([0.1] * 50))
    assert short.verdict is Verdict.INCONCLUSIVE, "0 of 50 cannot show a rate below 1 %"


def test_throughput_gate() -> None:
    result = make_result([0.1] * 600, seconds=60.0)
    assert evaluate(Gate("throughput", 9.0, "graph_query"), result).passed
    outcome = evaluate(Gate("throughput", 20.0, "graph_query"), result)
    assert outcome.message.startswith("throughput 10.0/s < bound 20.0/s")


def test_require_lists_every_failed_gate() -> None:
    result = make_result(spread(1.83, 3012), errors=100)
    gates = [
        Gate("latency", 1.5, "graph_query", percentile=95),
        Gate("error_rate", 0.01, "graph_query"),
        Gate("latency", 10.0, "graph_query", percentile=50),
    ]
    with pytest.raises(GateFailedError) as caught:
        require(result, gates)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("P95 1.83 s > bound 1.50 s")
    assert lines[1].startswith("error rate 3.32% > bound 1.00%")


def test_an_empty_result_cannot_pass() -> None:
    outcome = evaluate(Gate("latency", 1.5, "graph_query", percentile=95), make_result([]))
    assert outcome.verdict is Verdict.FAIL
    assert "no requests were recorded" in outcome.message


# The generator's failures and what is still open --------------------------------------

P95 = Gate("latency", 1.5, "graph_query", percentile=95)
ERRORS = Gate("error_rate", 0.01, "graph_query")


def test_a_run_whose_generator_dropped_arrivals_is_invalid_not_a_pass() -> None:
    result = make_result([0.01] * 2000, dropped={"max_in_flight reached": 40})
    for gate in (P95, ERRORS):
        outcome = evaluate(gate, result)
        assert outcome.verdict is Verdict.INVALID
        assert outcome.message.startswith("invalid run: ")
        assert "neither passes nor fails the target" in outcome.message
        assert "dropped 40 of 2040 arrivals (1.96% > 1.00%; max_in_flight reached: 40)" in (
            outcome.message
        )
        assert "raise max_in_flight" in outcome.message


def test_a_bad_target_fails_even_if_the_generator_dropped_arrivals() -> None:
    result = make_result([0.01] * 800 + [3.0] * 200, errors=200, dropped={"sent too late": 30})
    for gate in (P95, ERRORS):
        outcome = evaluate(gate, result)
        assert outcome.verdict is Verdict.FAIL, outcome.message
        assert "fails even counting the 30 arrivals the generator dropped" in outcome.message


def test_a_saturated_generator_makes_the_run_invalid() -> None:
    outcome = evaluate(P95, make_result([0.01] * 2000, cpu=0.97))
    assert outcome.verdict is Verdict.INVALID
    assert "CPU was 97% busy" in outcome.message


def test_pending_requests_count_against_a_pass_and_for_a_fail() -> None:
    # 1,000 answered fast, 40 due and unanswered 3 s after: at least 3 s slow, outcome open.
    open_40 = make_result([0.01] * 1000, pending=40, pending_latency=3.0)
    assert evaluate(P95, open_40).verdict is Verdict.INCONCLUSIVE
    assert evaluate(ERRORS, open_40).verdict is Verdict.INCONCLUSIVE, "they may all fail"
    open_2 = make_result([0.01] * 1000, pending=2, pending_latency=0.1)
    assert evaluate(P95, open_2).verdict is Verdict.PASS, "even if they never end"
    open_200 = make_result([0.01] * 1000, pending=200, pending_latency=3.0)
    assert evaluate(P95, open_200).verdict is Verdict.FAIL, "they are slow whatever happens"
    assert "200 pending" in evaluate(P95, open_200).message


def test_a_few_drops_do_not_invalidate_a_run_but_count_against_a_pass() -> None:
    # 1 of 2,001 (a GC pause): below the 0.1 % the plan tolerates; counted as failed.
    few = make_result([0.01] * 2000, dropped={"sent too late": 1})
    assert few.valid
    assert evaluate(P95, few).verdict is Verdict.PASS
    assert evaluate(ERRORS, make_result([0.01] * 2000, errors=10)).verdict is Verdict.PASS
    near = make_result([0.01] * 2000, errors=10, dropped={"sent too late": 2})
    outcome = evaluate(ERRORS, near)
    assert outcome.verdict is Verdict.INCONCLUSIVE, "10 errors pass; 12 of 2,002 might not"

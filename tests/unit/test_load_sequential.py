"""Sequential gates: alpha spending that keeps the error rate of repeated looks, and looks."""

from __future__ import annotations

import functools
import itertools
import math
import random

import pytest

from load.errors import LoadPlanError
from load.sequential import DEFAULT_ALPHA, Looks, alpha_spent
from load.stats import proportion_interval, quantile_rank_interval


def test_the_looks_are_fixed_in_advance_and_end_at_the_cap() -> None:
    assert Looks(15, 15, 60).cuts() == [15, 30, 45, 60]
    assert Looks(15, 20, 60).cuts() == [15, 35, 55, 60]
    assert Looks(300, 300, 300).cuts() == [300]


def test_the_looks_spend_exactly_alpha_in_all() -> None:
    looks = Looks(15, 15, 120)
    spent = [1 - level for level in looks.confidences()]
    assert sum(spent) == pytest.approx(DEFAULT_ALPHA)
    assert spent[0] == pytest.approx(DEFAULT_ALPHA * math.log(1 + (math.e - 1) / 8))
    assert all(a > b for a, b in itertools.pairwise(spent)), "Pocock spends early"
    assert Looks(300, 300, 300).confidences() == [pytest.approx(0.95)]
    assert alpha_spent(0.0) == 0.0
    assert alpha_spent(2.0) == pytest.approx(DEFAULT_ALPHA)


@pytest.mark.parametrize(
    ("values", "fix"),
    [
        ({"first_seconds": 0}, "first_seconds=0 must be a number > 0"),
        ({"max_seconds": -1}, "max_seconds=-1 must be a number > 0"),
        ({"first_seconds": 90, "max_seconds": 60}, "beyond the cap"),
    ],
)
def test_bad_looks_are_one_line(values: dict[str, float], fix: str) -> None:
    arguments = {"first_seconds": 15.0, "step_seconds": 15.0, "max_seconds": 60.0, **values}
    with pytest.raises(LoadPlanError, match=fix):
        Looks(**arguments)


def simulate(share: float, q_or_rate: str, trials: int, seed: int) -> dict[str, int]:
    """Verdicts of a sequential gate on a target with `share` of bad requests, 40/s."""
    rng = random.Random(seed)  # noqa: S311 - simulation
    looks = Looks(15, 15, 120)
    tally = {"pass": 0, "fail": 0, "undecided": 0}
    for _ in range(trials):
        bad = n = 0
        verdict = "undecided"
        for cut, level in zip(looks.cuts(), looks.confidences(), strict=True):
            while n < 40 * cut:
                n += 1
                bad += rng.random() < share
            verdict = _decide(q_or_rate, n, bad, level)
            if verdict != "undecided":
                break
        tally[verdict] += 1
    return tally


@functools.cache
def _decide(kind: str, n: int, bad: int, level: float) -> str:
    if kind == "rate":  # error rate < 1 %
        low, high = proportion_interval(bad, n, level)
        return "pass" if high < 0.01 else "fail" if low >= 0.01 else "undecided"
    lower, upper = quantile_rank_interval(n, 0.95, level)  # P95 < bound: bad = above bound
    good = n - bad
    if upper is not None and good >= upper:
        return "pass"
    if lower is not None and good < lower:
        return "fail"
    return "undecided"


def test_a_target_at_its_bound_is_rarely_passed_despite_the_repeated_looks() -> None:
    # At the bound, a pass is a wrong decision: alpha / 2 = 2.5 % is the promise.
    for kind, share in (("rate", 0.01), ("p95", 0.05)):
        tally = simulate(share, kind, trials=600, seed=7)
        assert tally["pass"] / 600 <= 0.04, (kind, tally)


def test_a_target_well_below_its_bound_is_passed_by_extending() -> None:
    tally = simulate(0.003, "rate", trials=200, seed=3)
    assert tally["pass"] >= 190, tally
    assert simulate(0.0, "rate", trials=20, seed=1) == {"pass": 20, "fail": 0, "undecided": 0}

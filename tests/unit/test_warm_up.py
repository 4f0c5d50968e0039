"""A warm-up round is warm when it is fast and its latency has stopped falling
(`fixtures.providers.api.plateaued`), so a JVM still compiling under the bound gets
another round and a warm target is done in one."""

from __future__ import annotations

from fixtures.providers.api import plateaued

FAST = 0.1


def test_a_warm_target_is_done_in_one_round() -> None:
    assert plateaued([0.02, 0.03, 0.025, 0.02] * 30, FAST)


def test_a_round_still_getting_faster_is_not_warm_even_under_the_bound() -> None:
    warming = [0.09] * 60 + [0.03] * 60  # 90 ms falling to 30 ms: a JIT at work
    assert not plateaued(warming, FAST)
    assert plateaued([0.03] * 60 + [0.03] * 60, FAST)  # the next round: flat


def test_small_gains_are_noise_and_slow_rounds_are_not_warm() -> None:
    assert plateaued([0.012] * 60 + [0.004] * 60, FAST)  # 8 ms better: under 10 ms
    assert not plateaued([0.3] * 120, FAST)  # flat, but slow
    assert not plateaued([0.02] * 60 + [0.2] * 60, FAST)  # getting slower, over the bound
    assert plateaued([0.05], FAST)
    assert not plateaued([], FAST)

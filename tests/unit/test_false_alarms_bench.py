"""The false-alarm benchmark's arithmetic and what it counts as a false alarm."""

from __future__ import annotations

import pytest

from bench.false_alarms import Run, wilson


def test_wilson_interval_is_sound_at_zero_of_twenty() -> None:
    low, high = wilson(0, 20)
    assert low == 0.0
    assert high == pytest.approx(0.161, abs=0.001)
    assert wilson(10, 20) == pytest.approx((0.299, 0.701), abs=0.001)


def _row(verdict: str, **details: object) -> dict[str, object]:
    return {"criterion": "p95_latency", "scope": "mixed", "verdict": verdict, "details": details}


def test_a_failed_row_or_an_invalid_one_that_does_not_name_the_host_is_a_false_alarm() -> None:
    run = Run(1, 300.0, 1, 0.9, 0.0, [_row("pass"), _row("fail"), _row("invalid")])
    assert run.false_alarms == ["p95_latency mixed: fail", "p95_latency mixed: invalid"]
    named = Run(2, 300.0, 1, 0.9, 0.0, [_row("invalid", spoiled="the host's CPU was 99% busy")])
    assert named.false_alarms == []
    assert named.invalid == ["p95_latency mixed"]
    assert Run(3, 10.0, 2, 0.1, 0.0, []).false_alarms == ["no verdict table (exit 2)"]

"""The open model's arrival schedule and the generator's drop rule (pure logic)."""

from __future__ import annotations

import pytest

from load.pacing import CAP, LATE, Arrival, ArrivalSchedule, drop_reason


def test_arrivals_are_evenly_spaced_and_end_before_the_duration() -> None:
    schedule = ArrivalSchedule(rate=40.0, duration=4.0)
    assert schedule.count == 160
    assert schedule.time_of(0) == 0.0
    assert schedule.time_of(159) == pytest.approx(3.975)
    assert schedule.count_before(1.0) == 40, "t = 1.0 itself is not before 1.0"
    assert schedule.count_before(1.01) == 41
    assert schedule.count_before(0) == 0
    assert schedule.count_before(99) == 160, "nothing after the duration"


def test_a_fractional_rate_keeps_its_count() -> None:
    schedule = ArrivalSchedule(rate=2.5, duration=3.0)
    assert [schedule.time_of(k) for k in range(schedule.count)] == [
        0.0,
        0.4,
        0.8,
        1.2,
        1.6,
        2.0,
        2.4,
        2.8,
    ]


def test_an_arrival_is_sent_on_time_by_a_free_vu_and_dropped_otherwise() -> None:
    arrival = Arrival(index=7, origin=10.0)
    assert drop_reason(arrival, 10.0, 0.05, free_vus=3) is None
    assert drop_reason(arrival, 10.04, 0.05, free_vus=1) is None, "within the tolerance: sent"
    assert drop_reason(arrival, 10.051, 0.05, free_vus=1) == LATE
    assert drop_reason(arrival, 10.0, 0.05, free_vus=0) == CAP
    assert drop_reason(arrival, 11.0, 0.05, free_vus=0) == LATE, "late is reported first"

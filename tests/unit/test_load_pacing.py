"""The open-model schedule and its coordinated-omission correction, on a driven clock."""

from __future__ import annotations

import itertools

import pytest

from load.pacing import IN_FLIGHT, NOT_SENT, SEND_GRACE_SECONDS, Pacer, Schedule


def pacer(rate: float | None, users: int = 4, duration: float = 10.0, local: int = 4) -> Pacer:
    return Pacer(rate, users, duration, lambda: local)


def test_user_i_of_u_sends_its_kth_request_at_t0_plus_i_plus_k_u_over_rate() -> None:
    schedule = Schedule(rate=20.0, users=4, t0=100.0)
    assert schedule.intended(0, 0) == 100.0
    assert schedule.intended(3, 0) == pytest.approx(100.15)
    assert schedule.intended(1, 2) == pytest.approx(100.0 + (1 + 2 * 4) / 20)
    slots = sorted(schedule.intended(i, k) for i in range(4) for k in range(5))
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(slots)}
    assert gaps == {0.05}, "together the users send one request every 1/rate seconds"


def test_first_slot_is_at_or_after_joining() -> None:
    schedule = Schedule(rate=10.0, users=2, t0=0.0)
    assert schedule.first_slot(1, 0.0) == 0
    k = schedule.first_slot(1, 0.55)
    assert schedule.intended(1, k) >= 0.55 > schedule.intended(1, k - 1)


def test_an_on_time_user_waits_for_its_slot_and_the_origin_is_the_slot() -> None:
    paced = pacer(rate=4.0, users=1, local=1)
    user = paced.join(now=10.0)
    assert user.delay(10.0) == 0.0
    assert user.begin(10.0, "GET /x") == 10.0
    user.finish()
    assert user.delay(10.1) == pytest.approx(0.15)
    assert user.begin(10.25, "GET /x") == pytest.approx(10.25)


def test_a_late_user_sends_at_once_and_latency_counts_from_the_intended_time() -> None:
    paced = pacer(rate=10.0, users=1, local=1)
    user = paced.join(now=0.0)
    assert user.begin(0.0, "GET /x") == 0.0
    user.finish()  # that response took 1 s: slots 0.1 .. 0.9 are overdue at 1.0
    assert user.delay(1.0) == 0.0
    origins = []
    for _ in range(3):
        origin = user.begin(1.0, "GET /x")
        assert origin is not None
        origins.append(origin)
        user.finish()
    assert origins == pytest.approx([0.1, 0.2, 0.3]), "no slot is skipped"


def test_the_closed_model_measures_from_the_send() -> None:
    paced = pacer(rate=None)
    user = paced.join(now=5.0)
    assert user.delay(6.0) == 0.0
    assert user.begin(6.0, "GET /x") == 6.0
    user.finish()
    assert user.delay(15.0) is None, "no request after the end"


def test_a_process_with_u_of_the_users_gets_its_share_of_the_rate() -> None:
    paced = Pacer(30.0, 6, 10.0, lambda: 2)
    paced.join(now=0.0)
    assert paced.schedule == Schedule(rate=10.0, users=2, t0=0.0)


def test_no_slot_at_or_after_the_end_and_no_send_after_the_grace() -> None:
    paced = pacer(rate=1.0, users=1, duration=2.0, local=1)
    user = paced.join(now=0.0)
    for now in (0.0, 1.0):
        assert user.begin(now, "GET /x") == now
        user.finish()
    assert user.delay(2.0) is None, "the slot at t0 + duration is not used"
    late = pacer(rate=1.0, users=1, duration=2.0, local=1)
    slow = late.join(now=0.0)
    assert slow.begin(0.0, "GET /x") == 0.0
    slow.finish()
    assert slow.delay(2.0 + SEND_GRACE_SECONDS / 2) == 0.0
    assert slow.delay(2.0 + SEND_GRACE_SECONDS) is None


def test_unfinished_requests_are_recorded_with_a_lower_bound_of_their_latency() -> None:
    paced = pacer(rate=10.0, users=1, duration=1.0, local=1)
    user = paced.join(now=0.0)
    assert user.begin(0.0, "GET /x") == 0.0  # never answered
    assert not paced.idle()
    owed = list(paced.unfinished(now=1.5))
    assert owed[0].kind == IN_FLIGHT
    assert owed[0].latency == pytest.approx(1.5)
    assert owed[0].route == "GET /x"
    not_sent = owed[1:]
    assert [o.kind for o in not_sent] == [NOT_SENT] * 9
    assert [o.latency for o in not_sent] == pytest.approx([0.9 - 0.1 * i for i in range(9)])


def test_a_user_that_kept_up_owes_nothing() -> None:
    paced = pacer(rate=2.0, users=1, duration=1.0, local=1)
    user = paced.join(now=0.0)
    for now in (0.0, 0.5):
        user.begin(now, "GET /x")
        user.finish()
    assert paced.idle()
    assert list(paced.unfinished(now=1.2)) == []


def test_the_end_is_unknown_before_anyone_joins() -> None:
    with pytest.raises(RuntimeError, match="no user has joined"):
        _ = pacer(rate=1.0).end

"""The one deadline primitive, on a fake clock: it returns what it waited for, polls at its
interval on the monotonic clock, and on timeout names what, how long and the last thing
seen; nothing is swallowed."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

import pytest

from fixtures.errors import HarnessError
from system.deadline import Deadline, NotYet, WaitTimeoutError, short, wait_until


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def answers(*values: object) -> Callable[[], object]:
    """A condition answering `values` in turn, raising those that are exceptions."""
    stream: Iterator[object] = iter(values)

    def condition() -> object:
        value = next(stream)
        if isinstance(value, BaseException):
            raise value
        return value

    return condition


def test_it_returns_the_first_truthy_answer_and_how_long_it_took() -> None:
    clock = FakeClock()
    deadline = Deadline(5.0, clock=clock)
    found = deadline.wait(answers(None, 0, "", "ready"), what="x", interval=0.5, sleep=clock.sleep)
    assert found == "ready"
    assert clock.sleeps == [0.5, 0.5, 0.5]
    assert deadline.elapsed() == pytest.approx(1.5)


def test_a_condition_true_at_once_never_sleeps() -> None:
    clock = FakeClock()
    assert wait_until(lambda: 42, seconds=1, what="x", sleep=clock.sleep, clock=clock) == 42
    assert clock.sleeps == []


def test_the_timeout_names_what_how_long_and_the_last_value_seen() -> None:
    clock = FakeClock()
    seen = iter(range(100))
    with pytest.raises(WaitTimeoutError) as caught:
        wait_until(
            lambda: NotYet(f"HTTP 503 #{next(seen)}"),
            seconds=2.0,
            what="the target answering healthy",
            interval=0.5,
            sleep=clock.sleep,
            clock=clock,
        )
    error = caught.value
    assert str(error) == (
        "the target answering healthy: not within 2 s (5 checks; last seen: HTTP 503 #4)"
    )
    assert (error.what, error.seconds, error.checks) == ("the target answering healthy", 2.0, 5)
    assert isinstance(error, HarnessError), "a one-line message for the user"
    assert clock.now == pytest.approx(1002.0), "it gave up at the deadline, not later"


def test_it_asks_once_more_at_the_deadline_and_never_sleeps_past_it() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeoutError, match=r"\(3 checks; last seen: False\)"):
        wait_until(
            lambda: False, seconds=1.0, what="x", interval=0.7, sleep=clock.sleep, clock=clock
        )
    assert clock.sleeps == [0.7, pytest.approx(0.3)]


def test_a_retried_exception_is_the_last_thing_seen_and_the_cause() -> None:
    clock = FakeClock()
    refused = ConnectionRefusedError("refused on 127.0.0.1:5432")
    with pytest.raises(WaitTimeoutError) as caught:
        wait_until(
            answers(None, refused, refused),
            seconds=1.0,
            what="postgres accepting connections",
            interval=0.5,
            retry_on=(OSError,),
            sleep=clock.sleep,
            clock=clock,
        )
    assert "last seen: ConnectionRefusedError: refused on 127.0.0.1:5432" in str(caught.value)
    assert caught.value.last is refused
    assert caught.value.__cause__ is refused


def test_an_exception_not_retried_ends_the_wait_at_once() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="a bug in the probe"):
        wait_until(
            answers(None, ValueError("a bug in the probe")),
            seconds=60.0,
            what="x",
            retry_on=(OSError,),
            sleep=clock.sleep,
            clock=clock,
        )
    assert len(clock.sleeps) == 1


def test_a_retried_exception_followed_by_success_returns_the_value() -> None:
    clock = FakeClock()
    found = wait_until(
        answers(OSError("not yet"), {"ok": True}),
        seconds=5,
        what="x",
        retry_on=(OSError,),
        sleep=clock.sleep,
        clock=clock,
    )
    assert found == {"ok": True}


def test_the_interval_is_respected() -> None:
    clock = FakeClock()
    calls: list[float] = []

    def condition() -> bool:
        calls.append(clock.now)
        return len(calls) == 4

    assert wait_until(
        condition, seconds=10, what="x", interval=0.25, sleep=clock.sleep, clock=clock
    )
    assert [b - a for a, b in itertools.pairwise(calls)] == [0.25, 0.25, 0.25]


def test_the_deadline_is_monotonic_not_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 0.0)  # a wall clock stepped back to 1970
    deadline = Deadline(30.0)
    assert not deadline.expired
    assert 29.0 < deadline.remaining() <= 30.0
    assert deadline.clock is time.monotonic


def test_a_deadline_may_start_earlier_and_be_shared_by_several_waits() -> None:
    clock = FakeClock()
    deadline = Deadline(3.0, since=clock.now - 1.0, clock=clock)
    assert deadline.remaining() == pytest.approx(2.0)
    deadline.wait(answers(False, True), what="first", interval=1.5, sleep=clock.sleep)
    assert deadline.remaining() == pytest.approx(0.5)
    with pytest.raises(WaitTimeoutError, match=r"^second: not within 3 s"):
        deadline.wait(lambda: None, what="second", interval=1.5, sleep=clock.sleep)
    assert deadline.expired
    assert deadline.remaining() == 0.0
    assert deadline.elapsed() == pytest.approx(3.0)


def test_a_deadline_until_a_moment() -> None:
    clock = FakeClock()
    deadline = Deadline.until(clock.now + 4.0, clock=clock)
    assert deadline.remaining() == pytest.approx(4.0)
    assert Deadline.until(clock.now - 1.0, clock=clock).expired


def test_what_is_seen_is_quoted_short() -> None:
    assert short("x" * 1000).startswith("'xxx")
    assert len(short("x" * 1000)) < 220
    assert short(TimeoutError()) == "TimeoutError"
    assert short(OSError("first line\nsecond")) == "OSError: first line"
    assert short(NotYet("HTTP 503")) == "HTTP 503"
    assert not NotYet("anything")


def test_the_default_sleep_is_time_sleep_as_it_is_when_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Looked up at each wait, not at import: gevent's in a process it has patched."""
    clock = FakeClock()
    monkeypatch.setattr(time, "sleep", clock.sleep)
    assert wait_until(answers(False, "up"), seconds=1, what="x", interval=0.25, clock=clock)
    assert clock.sleeps == [0.25]

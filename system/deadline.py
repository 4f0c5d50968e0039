"""One deadline primitive: every wait of the harness polls through it.

`Deadline` is a budget of seconds on the monotonic clock (never the wall clock: a clock
step must neither end nor stretch a wait). `Deadline.wait` (or `wait_until`, which makes
the deadline) calls a condition at once, then every `interval`, until it returns a truthy
value, and returns that value. At the deadline it raises `WaitTimeoutError`, naming what was
awaited, the budget and the last thing seen: the condition's last falsy answer or the
last exception of a `retry_on` type it raised. Any other exception ends the wait at once.
A wait never gives up silently: a caller with a fallback (SIGKILL after the grace, the
reaper's undo after a failed removal) catches `WaitTimeoutError` where a reader sees it.

A condition that only knows yes or no can answer `NotYet("what it saw")` instead of
False: it is falsy, and it is what a timeout reports.

How long a wait took is `Deadline.elapsed()` (the time to detect a fault, to recover).
One deadline can bound several waits in turn (`remaining()` is what is left), and it may
start before the wait (`since`: an alert's bound counts from its inducement).

Not tenacity (which the readiness wait used): it reads `time.monotonic` inside its retry
state, so a fake clock, a deadline shared by several waits or one that started earlier
would each need a custom stop, wait and result predicate around it; the loop below is
shorter than that glue, and its timeout is ours rather than a `RetryError` to unpack.
"""

from __future__ import annotations

import reprlib
import time
from collections.abc import Callable
from typing import Literal, TypeVar

from fixtures.errors import HarnessError

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], None]
INTERVAL_SECONDS = 0.1
SHORT_CHARACTERS = 200

_short_repr = reprlib.Repr()
_short_repr.maxstring = SHORT_CHARACTERS
_short_repr.maxother = SHORT_CHARACTERS


class NotYet:
    """A condition's falsy answer that says what it saw ("HTTP 503", "2 processes left")."""

    def __init__(self, seen: str) -> None:
        self.seen = seen

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return self.seen


class WaitTimeoutError(HarnessError):
    """A deadline passed before the awaited condition held.

    `what` was awaited for `seconds`; `last` is what the condition last answered (a falsy
    value, or the exception it raised); `checks` is how often it was asked.
    """

    def __init__(self, what: str, seconds: float, last: object, checks: int) -> None:
        self.what = what
        self.seconds = seconds
        self.last = last
        self.checks = checks
        super().__init__(
            f"{what}: not within {round(seconds, 2):g} s ({checks} checks; last seen: {self.seen})"
        )

    @property
    def seen(self) -> str:
        """The last thing seen, short: what a message about this timeout quotes."""
        return short(self.last)


def short(seen: object) -> str:
    """`seen` in at most about `SHORT_CHARACTERS` characters (an exception as `Type: first
    line`), but a `NotYet`'s text as it is."""
    if isinstance(seen, BaseException):
        text = str(seen).strip()
        line = text.splitlines()[0] if text else ""
        whole = f"{type(seen).__name__}: {line}" if line else type(seen).__name__
        return whole if len(whole) <= SHORT_CHARACTERS else whole[: SHORT_CHARACTERS - 3] + "..."
    if isinstance(seen, NotYet):
        return seen.seen  # the condition's own words, as short as it made them
    return _short_repr.repr(seen)


class Deadline:
    """`seconds` from now (or from `since`, a moment of `clock`), on the monotonic clock."""

    def __init__(
        self, seconds: float, *, since: float | None = None, clock: Clock = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.started = clock() if since is None else since
        self.at = self.started + seconds

    @classmethod
    def until(cls, moment: float, *, clock: Clock = time.monotonic) -> Deadline:
        """The deadline that ends at `moment` of `clock`."""
        now = clock()
        return cls(moment - now, since=now, clock=clock)

    def remaining(self) -> float:
        """Seconds left, never below zero."""
        return max(0.0, self.at - self.clock())

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed (at `at`, not after it)."""
        return self.clock() >= self.at

    def elapsed(self) -> float:
        """Seconds since the deadline started."""
        return self.clock() - self.started

    def wait(
        self,
        condition: Callable[[], T | NotYet | Literal[False] | None],
        *,
        what: str,
        interval: float = INTERVAL_SECONDS,
        retry_on: tuple[type[BaseException], ...] = (),
        sleep: Sleep | None = None,
    ) -> T:
        """`condition()`'s first truthy answer, asked at once and then every `interval`
        until this deadline; `WaitTimeoutError` (naming `what`) after it. Exceptions of a
        `retry_on` type count as "not yet"; any other goes through at once. `sleep`:
        `time.sleep` as it is when called (gevent's, in a process it has patched)."""
        pause = time.sleep if sleep is None else sleep
        checks = 0
        while True:
            checks += 1
            try:
                answer = condition()
            except retry_on as error:
                last: object = error
            else:
                if answer:
                    return answer
                last = answer
            if self.expired:
                cause = last if isinstance(last, BaseException) else None
                raise WaitTimeoutError(what, self.seconds, last, checks) from cause
            pause(min(interval, self.remaining()))


def wait_until(
    condition: Callable[[], T | NotYet | Literal[False] | None],
    *,
    seconds: float,
    what: str,
    interval: float = INTERVAL_SECONDS,
    retry_on: tuple[type[BaseException], ...] = (),
    sleep: Sleep | None = None,
    clock: Clock = time.monotonic,
) -> T:
    """`Deadline(seconds).wait(condition, ...)`: the first truthy answer, or `WaitTimeoutError`."""
    deadline = Deadline(seconds, clock=clock)
    return deadline.wait(condition, what=what, interval=interval, retry_on=retry_on, sleep=sleep)

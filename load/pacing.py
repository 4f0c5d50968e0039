"""When each request is meant to leave, and from when its latency counts.

Open model (a rate R requests/s shared by U users), wrk2's constant-throughput rule:

    user i (0 <= i < U) sends its k-th request (k = 0, 1, ...) at the intended time
        t(i, k) = t0 + (i + k * U) / R
    so the users together send one request every 1/R seconds, each user one every U/R.

    If user i is still waiting for an earlier response at t(i, k), it sends the k-th
    request at once when it is free (slots are never skipped), and the latency recorded
    for it is (response end - t(i, k)), not (response end - actual send). A target that
    stalls for 10 s therefore shows the 10 s in every request that was due during the
    stall, instead of in one request (coordinated omission; Gil Tene, wrk2).

    Ramp-up: a user that starts at time s begins with its first slot at or after s; slots
    before it existed were never intended. t0 is when the first user of the process starts.

    End: only slots before t0 + duration are used, and none is sent later than
    `SEND_GRACE_SECONDS` after that end (room for scheduling jitter). Requests still in
    flight then get a drain to finish. What is left after it is recorded, never dropped: a
    request still in flight with latency (drain end - t(i, k)), a slot that was due before
    the end but never sent (its user was busy) with latency (end - t(i, k)). Both are lower
    bounds of what the latency would have been, both count as errors ("in flight at end of
    run", "not sent by end of run"). A target that keeps up has neither.

Closed model (no rate): each user sends its next request as soon as the previous response
ends; the latency recorded is the service time (response end - send), the same origin
Locust uses. Only requests in flight at the end are recorded as unfinished.

Distributed: a process that runs u of the U users gets the share R * u / U of the rate,
and applies the same rule to its own users with (u, R * u / U) in place of (U, R).

Timer granularity: gevent's event loop (libev on epoll) wakes a sleeping user 0-1 ms
after its slot, and that lateness is part of the latency recorded, as in wrk2 (measured
here: P50 latency from the slot ~0.5 ms above P50 service time at low rates). The service
time (send to response end) is recorded beside it, for comparisons with closed-loop tools.

Everything here is pure: the clock is passed in, so tests can drive it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

NOT_SENT = "not sent by end of run"
IN_FLIGHT = "in flight at end of run"
SEND_GRACE_SECONDS = 0.25


@dataclass(frozen=True)
class Schedule:
    """The open-model slot times of one process: `users` users sharing `rate` requests/s."""

    rate: float
    users: int
    t0: float

    def intended(self, user: int, k: int) -> float:
        return self.t0 + (user + k * self.users) / self.rate

    def first_slot(self, user: int, at: float) -> int:
        """The smallest k whose slot is at or after `at` (0 before t0)."""
        k = math.ceil(((at - self.t0) * self.rate - user) / self.users)
        return max(k, 0)


@dataclass(frozen=True)
class Unfinished:
    """A request the run could not complete: recorded with a lower bound of its latency."""

    route: str
    origin: float
    latency: float
    kind: str


class UserPace:
    """One user's place in the schedule: the origin of its next request, what is in flight."""

    def __init__(self, pacer: Pacer, index: int, joined_at: float) -> None:
        self.index = index
        self._pacer = pacer
        schedule = pacer.schedule
        self._k = 0 if schedule is None else schedule.first_slot(index, joined_at)
        self.in_flight: tuple[str, float] | None = None  # (route, origin)

    def delay(self, now: float) -> float | None:
        """Seconds to wait before the next request, or None when the run is over for it."""
        schedule = self._pacer.schedule
        end = self._pacer.end
        if schedule is None:
            return 0.0 if now < end else None
        slot = schedule.intended(self.index, self._k)
        if slot >= end or now >= end + SEND_GRACE_SECONDS:
            return None
        return max(0.0, slot - now)

    def begin(self, now: float, route: str) -> float | None:
        """Take the next slot for a request sent at `now`: its latency origin, or None."""
        if self.delay(now) is None:
            return None
        schedule = self._pacer.schedule
        origin = now if schedule is None else schedule.intended(self.index, self._k)
        self._k += 1
        self.in_flight = (route, origin)
        return origin

    def finish(self) -> None:
        self.in_flight = None

    def unfinished(self, now: float) -> Iterator[Unfinished]:
        """What this user owes at `now` (after the drain): in-flight and never-sent slots.

        A generator: a stalled target at a high rate can leave millions of slots unsent.
        """
        if self.in_flight is not None:
            route, origin = self.in_flight
            yield Unfinished(route, origin, now - origin, IN_FLIGHT)
        schedule = self._pacer.schedule
        if schedule is None:
            return
        k = self._k
        end = self._pacer.end
        while (slot := schedule.intended(self.index, k)) < end:
            yield Unfinished("(not sent)", slot, end - slot, NOT_SENT)
            k += 1


class Pacer:
    """The schedule of one process, shared by its users; started by the first user to join.

    `local_users` tells how many users this process runs (the plan's users for a local
    run; the count the master gave a worker); it is asked when the first user joins.
    """

    def __init__(
        self,
        rate: float | None,
        total_users: int,
        duration: float,
        local_users: Callable[[], int],
    ) -> None:
        self._rate = rate
        self._total_users = total_users
        self._duration = duration
        self._local_users = local_users
        self.schedule: Schedule | None = None
        self.t0: float | None = None
        self.users: list[UserPace] = []

    @property
    def started(self) -> bool:
        return self.t0 is not None

    @property
    def end(self) -> float:
        if self.t0 is None:
            raise RuntimeError("the pacer has not started: no user has joined")
        return self.t0 + self._duration

    def join(self, now: float) -> UserPace:
        if self.t0 is None:
            self._start(now)
        pace = UserPace(self, len(self.users), now)
        self.users.append(pace)
        return pace

    def _start(self, now: float) -> None:
        self.t0 = now
        if self._rate is None:
            return
        local = max(1, self._local_users())
        share = self._rate * local / self._total_users
        self.schedule = Schedule(rate=share, users=local, t0=now)

    def idle(self) -> bool:
        """True when no user of this process has a request in flight."""
        return all(pace.in_flight is None for pace in self.users)

    def unfinished(self, now: float) -> Iterator[Unfinished]:
        for pace in self.users:
            yield from pace.unfinished(now)

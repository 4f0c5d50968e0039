"""When each request is meant to leave, and when the load generator has failed to send it.

Open model (k6's `constant-arrival-rate`, wrk2's rule). A process with the arrival rate R
has arrivals k = 0, 1, ... at the intended times

    t(k) = t0 + k / R,   for t(k) < t0 + duration,

and each arrival is handed, at t(k), to a free virtual user (VU) of a pool of
`max_in_flight` VUs, whatever the earlier requests are doing: a slow response holds its
VU, not the arrivals after it. Latency is measured from t(k), so the time a request waits
for the generator counts (coordinated omission cannot hide a stall), and by Little's law
the pool needs about R x (time in system) VUs.

The generator's own failures are not the target's (k6's `dropped_iterations`):

- no VU is free at t(k) (the cap is reached): the arrival is DROPPED, reason `CAP`;
- the request would leave more than `send_tolerance` after t(k) (the dispatcher or the
  VU woke late: CPU starved, a GC pause): it is not sent, it is DROPPED, reason `LATE`.

Dropped arrivals are never target errors nor target latencies; a run with any is not a
valid measurement of the target at that rate (`load.gates` says how it is judged). A
request that was sent is the target's, whatever happens to it: an error answer, a
timeout, or still in flight when the run ends (`IN_FLIGHT`, recorded as an error with the
lower bound of its latency).

Closed model (no rate): each user sends its next request as soon as the previous response
ends; latency is the service time (send to response end), Locust's own origin.

Everything here is pure; the load child (`load.locust_user`) drives it with its clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

IN_FLIGHT = "in flight at end of run"
CAP = "max_in_flight reached"
LATE = "sent too late"
NOT_SENT_ROUTE = "(not sent)"


@dataclass(frozen=True)
class ArrivalSchedule:
    """The intended send times (offsets from t0) of one process's arrivals."""

    rate: float
    duration: float

    @property
    def count(self) -> int:
        """Arrivals with t(k) < duration."""
        return self.count_before(self.duration)

    def time_of(self, index: int) -> float:
        return index / self.rate

    def count_before(self, offset: float) -> int:
        """How many arrivals are intended strictly before `offset` (within the run)."""
        if offset <= 0:
            return 0
        limit = min(offset, self.duration)
        return max(0, math.ceil(limit * self.rate - 1e-9))


@dataclass(frozen=True)
class Arrival:
    """One intended request: its index and its intended send time (the latency origin)."""

    index: int
    origin: float


def drop_reason(arrival: Arrival, now: float, tolerance: float, free_vus: int) -> str | None:
    """Why the generator cannot send `arrival` at `now`, or None if it can."""
    if now - arrival.origin > tolerance:
        return LATE
    if free_vus <= 0:
        return CAP
    return None

"""The VUs of the scenarios, and the engine of one load process that feeds them arrivals.

Imports Locust and gevent, so it is imported only inside the load child (`load.child`),
never by pytest. A scenario user subclasses `PacedUser` and, in each task, makes ONE
request with `self.send(method, path, name=route_template, ...)`.

Open model (`load.pacing`): the engine's dispatcher greenlet hands each arrival, at its
intended time, to an idle VU (the most recently idle first, so warm connections are
reused); the VU runs one task; `send` stamps the request with the arrival's origin, or
drops it if it would leave later than the tolerance. Closed model: each user takes the
next "arrival" as soon as it is free, with the current time as its origin.

Run by plain `locust -f scenarios/load/<name>.py` (no load child), a `PacedUser` is a
plain closed-model Locust user measured by Locust's own statistics, with ids from the
`LOAD_ENTITY_IDS` environment variable (ranges such as "1-10000", read when it starts).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from typing import Any

import gevent  # type: ignore[import-untyped]
from gevent.event import Event  # type: ignore[import-untyped]
from locust import FastHttpUser
from locust.env import Environment

from load.ids import DEFAULT_ENTITY_IDS, IdRanges
from load.pacing import IN_FLIGHT, LATE, NOT_SENT_ROUTE, Arrival, ArrivalSchedule, drop_reason
from load.plan import LoadPlan
from load.records import SUCCESS, RecordWriter

CONTEXT_KEY = "harness_arrival"
ENGINE_ATTRIBUTE = "reliability_load_engine"
IDLE_SECONDS = 24 * 3600.0  # a VU whose run is over sleeps until the runner stops it


@dataclass
class InFlight:
    arrival: Arrival
    route: str
    sent: float


class Engine:
    """One load process: its VUs, its arrivals, what is in flight, and its record file."""

    def __init__(self, plan: LoadPlan, process: int, writer: RecordWriter) -> None:
        self.plan = plan
        self.process = process
        self.writer = writer
        self.vus = plan.vus_of(process)
        rate = plan.rate_of(process)
        self.schedule = None if rate is None else ArrivalSchedule(rate, plan.duration_seconds)
        self.started = Event()
        self.stop_requested = Event()
        self.dispatch_over = Event()
        self.t0 = 0.0
        self.idle: list[PacedUser] = []
        self.joined = 0
        self.in_flight: dict[int, InFlight] = {}
        self.handed: dict[int, Arrival] = {}  # given to a VU that has not sent it yet
        self.peak_in_flight = 0
        self.next_index = 0
        self.closed = False
        self.asked_to_stop = False
        self.window_end = plan.duration_seconds
        self._cpu_at_t0 = 0.0

    # timeline -------------------------------------------------------------------------
    def start(self) -> None:
        """Set t0 now, write the header, release the VUs."""
        self.t0 = time.monotonic()
        self._cpu_at_t0 = time.process_time()
        self.writer.header(
            {
                "process": self.process,
                "t0_wall": time.time(),
                "t0_monotonic": self.t0,
                "rate": None if self.schedule is None else self.schedule.rate,
                "duration": self.plan.duration_seconds,
                "vus": self.vus,
                "open_model": self.plan.open_model,
                "tolerance": self.plan.send_tolerance_seconds,
                "scenario": self.plan.scenario,
            }
        )
        self.started.set()

    def offset(self, moment: float | None = None) -> float:
        return (time.monotonic() if moment is None else moment) - self.t0

    def cpu_share(self) -> float:
        elapsed = time.monotonic() - self.t0
        return (time.process_time() - self._cpu_at_t0) / elapsed if elapsed > 0 else 0.0

    def progress(self) -> dict[str, Any]:
        return {
            "at": round(self.offset(), 6),
            "dispatched": self.next_index,
            "in_flight": len(self.in_flight),
            "peak_in_flight": self.peak_in_flight,
            "cpu": round(self.cpu_share(), 4),
        }

    def busy(self) -> bool:
        """Requests in flight, or arrivals handed to a VU that has not sent them yet."""
        return bool(self.in_flight or self.handed)

    def over(self) -> bool:
        if self.schedule is not None:
            return bool(self.dispatch_over.is_set())
        return bool(self.stop_requested.is_set()) or self.offset() >= self.plan.duration_seconds

    # the open model's dispatcher -----------------------------------------------------
    def dispatch(self) -> None:
        """Hand every arrival to an idle VU at its intended time, or drop it (`load.pacing`)."""
        assert self.schedule is not None
        total, tolerance = self.schedule.count, self.plan.send_tolerance_seconds
        while self.next_index < total:
            due = self.t0 + self.schedule.time_of(self.next_index)
            if self.stop_requested.wait(timeout=max(0.0, due - time.monotonic())):
                break
            now = time.monotonic()
            while self.next_index < total:
                arrival = Arrival(self.next_index, self.t0 + self.schedule.time_of(self.next_index))
                if arrival.origin > now:
                    break
                self.next_index += 1
                reason = drop_reason(arrival, now, tolerance, len(self.idle))
                if reason is None:
                    self.handed[arrival.index] = arrival
                    self.idle.pop().assign(arrival)
                else:
                    self.drop(arrival, NOT_SENT_ROUTE, reason)
        self.dispatch_over.set()
        for user in self.idle:
            user.assign(None)

    def drop(self, arrival: Arrival, route: str, reason: str) -> None:
        if not self.closed:
            self.writer.dropped(arrival.index, self.offset(arrival.origin), route, reason)

    # VU side ---------------------------------------------------------------------------
    def next_arrival(self, user: PacedUser) -> Arrival | None:
        """Block until this VU has an arrival; None once the run is over."""
        self.started.wait()
        if self.schedule is None:
            if self.over():
                return None
            arrival = Arrival(self.next_index, time.monotonic())
            self.next_index += 1
            return arrival
        if self.dispatch_over.is_set():
            return None
        self.idle.append(user)
        return user.take_assignment()

    def begin(self, arrival: Arrival, route: str, now: float) -> bool:
        """Whether to send: False (and dropped) if it would leave too late."""
        self.handed.pop(arrival.index, None)
        if self.schedule is not None:
            reason = drop_reason(arrival, now, self.plan.send_tolerance_seconds, 1)
            if reason is not None:
                self.drop(arrival, route, reason)
                return False
        self.in_flight[arrival.index] = InFlight(arrival, route, now)
        self.peak_in_flight = max(self.peak_in_flight, len(self.in_flight))
        return True

    def complete(self, index: int, end: float, kind: str | None) -> None:
        flight = self.in_flight.pop(index, None)
        if flight is None or self.closed:
            return
        self.writer.completed(
            index,
            self.offset(flight.arrival.origin),
            self.offset(flight.sent),
            self.offset(end),
            route=flight.route,
            kind=SUCCESS if kind is None else kind,
        )

    def finish(self, stopped_early: bool) -> None:
        """Record what is still in flight, write the footer; later completions are ignored."""
        now = time.monotonic()
        for arrival in self.handed.values():  # its VU never ran: the generator's fault
            self.drop(arrival, NOT_SENT_ROUTE, LATE)
        for index, flight in sorted(self.in_flight.items()):
            self.writer.unfinished(
                index,
                self.offset(flight.arrival.origin),
                self.offset(flight.sent),
                self.offset(now),
                flight.route,
            )
        footer = self.progress()
        footer["stopped_early"] = stopped_early
        footer["window_end"] = round(self.window_end, 6)
        footer["unfinished"] = len(self.in_flight)
        self.writer.footer(footer)
        self.closed = True


def attach(environment: Environment, engine: Engine) -> None:
    setattr(environment, ENGINE_ATTRIBUTE, engine)


def engine_of(environment: Environment) -> Engine | None:
    engine = getattr(environment, ENGINE_ATTRIBUTE, None)
    return engine if isinstance(engine, Engine) else None


class PacedUser(FastHttpUser):
    """A FastHttpUser fed by the engine (`load.pacing`); subclasses define the tasks."""

    abstract = True
    # Locust's default timeouts (60 s) are kept on purpose: setting FastHttpUser's
    # `network_timeout` or `connection_timeout` halves its throughput (measured: 5.3k ->
    # 2.7k requests/s on 2 cores). A request still in flight when the run ends after its
    # drain is recorded as the target's error (`IN_FLIGHT`).

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.engine = engine_of(environment)
        self.rng = random.Random()  # noqa: S311 - workload ids, not security
        self.ids = IdRanges.parse(DEFAULT_ENTITY_IDS)
        self._arrival: Arrival | None = None
        self._wake = Event()
        self._assigned: Arrival | None = None

    def on_start(self) -> None:
        if self.engine is None:
            self.ids = IdRanges.parse(os.environ.get("LOAD_ENTITY_IDS", DEFAULT_ENTITY_IDS))
            return
        plan = self.engine.plan
        self.ids = plan.ids
        self.engine.joined += 1
        self.rng.seed(f"{plan.seed}:{self.engine.process}:{self.engine.joined}")
        self._take_next()

    def wait_time(self) -> float:
        """Block until the next arrival (the engine's); very long once the run is over."""
        if self.engine is None:
            return 0.0
        return self._take_next()

    def _take_next(self) -> float:
        assert self.engine is not None
        self._arrival = self.engine.next_arrival(self)
        if self._arrival is None:
            gevent.sleep(IDLE_SECONDS)
        return 0.0

    def assign(self, arrival: Arrival | None) -> None:
        self._assigned = arrival
        self._wake.set()

    def take_assignment(self) -> Arrival | None:
        self._wake.wait()
        self._wake.clear()
        arrival, self._assigned = self._assigned, None
        return arrival

    def send(self, method: str, path: str, name: str, **kwargs: Any) -> Any:
        """Make this task's one request, named by its route template; None if not sent."""
        if self.engine is None:
            return self.client.request(method, path, name=name, **kwargs)
        arrival, self._arrival = self._arrival, None
        if arrival is None:
            raise RuntimeError("a PacedUser task makes ONE request with send(); this was a second")
        route = f"{method} {name}"
        if not self.engine.begin(arrival, route, time.monotonic()):
            return None
        context = {CONTEXT_KEY: arrival.index}
        return self.client.request(method, path, name=name, context=context, **kwargs)

    def random_entity_id(self) -> int:
        return self.ids.pick(self.rng)

    def random_entity_ids(self, k: int) -> list[int]:
        return self.ids.sample(k, self.rng)


__all__ = ["IN_FLIGHT", "Engine", "PacedUser", "attach", "engine_of"]

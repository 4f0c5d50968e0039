"""The VUs of a workload, and the engine of one load process that feeds them arrivals.

Imports Locust and gevent, so it is imported only inside the load child (`load.child`),
never by pytest. Three kinds of user run in the open model, each arrival one task run:

- a user class written the standard Locust way (`HttpUser` or `FastHttpUser`, tasks that
  call `self.client.get(...)`): wrapped by `paced` so that its `wait_time` takes the next
  arrival and its client stamps the first request of each task with the arrival. A task
  that makes several requests is measured as a whole, as k6 measures an iteration: from
  the arrival's intended time to the task's end, failed if any of its requests failed,
  recorded under its first request's route;
- `PacedUser` subclasses, whose tasks make ONE request each with `self.send(...)` and draw
  values with `self.value(name)`;
- `MixUser`, built for a declarative request mix (`load.traffic`).

Open model (`load.pacing`): the engine's dispatcher greenlet hands each arrival, at its
intended time, to an idle VU (the most recently idle first, so warm connections are
reused); the VU runs one task; its first request is stamped with the arrival's origin, or
dropped if it would leave later than the tolerance. Closed model: each user takes the
next "arrival" as soon as it is free, with the current time as its origin.

Redirects are not followed unless the workload says so (a 302 to a login page is an
error, not a success); every answer is judged by the workload's `Expectation`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import gevent  # type: ignore[import-untyped]
from gevent.event import Event  # type: ignore[import-untyped]
from locust import FastHttpUser, HttpUser, User, task
from locust.env import Environment
from locust.exception import RescheduleTask

from load.host import cpu_times
from load.pacing import IN_FLIGHT, LATE, NOT_SENT_ROUTE, Arrival, ArrivalSchedule, drop_reason
from load.plan import LoadPlan
from load.records import SUCCESS, RecordWriter
from load.traffic import MixEntry, Values, pick, render

CONTEXT_KEY = "harness_arrival"
ITERATION_KEY = "harness_iteration"  # a request of a plain user's task (measured as a whole)
NO_REQUEST = "the task sent no request"
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
        self.idle: list[_Paced] = []
        self.joined = 0
        self.in_flight: dict[int, InFlight] = {}
        self.handed: dict[int, Arrival] = {}  # given to a VU that has not sent it yet
        self.failures: dict[int, str] = {}  # an iteration's first failed request, by arrival
        self.peak_in_flight = 0
        self.next_index = 0
        self.closed = False
        self.asked_to_stop = False
        self.window_end = plan.duration_seconds
        self._cpu_at_t0 = 0.0
        self._host_at_t0 = cpu_times()

    # timeline -------------------------------------------------------------------------
    def start(self) -> None:
        """Set t0 now, write the header, release the VUs."""
        self.t0 = time.monotonic()
        self._cpu_at_t0 = time.process_time()
        self._host_at_t0 = cpu_times()
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
        host_busy, host_steal = cpu_times().since(self._host_at_t0)
        return {
            "at": round(self.offset(), 6),
            "dispatched": self.next_index,
            "in_flight": len(self.in_flight),
            "peak_in_flight": self.peak_in_flight,
            "cpu": round(self.cpu_share(), 4),
            "host_busy": round(host_busy, 4),
            "host_steal": round(host_steal, 4),
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
    def next_arrival(self, user: _Paced) -> Arrival | None:
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

    def note(self, index: int, kind: str | None) -> None:
        """A request of an iteration ended; its first failure is the iteration's."""
        if kind is not None and index in self.in_flight:
            self.failures.setdefault(index, kind)

    def complete(self, index: int, end: float, kind: str | None) -> None:
        kind = self.failures.pop(index, kind)
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


class _Paced:
    """Arrival-taking for a Locust user: `wait_time` blocks until the engine hands it the
    next arrival; a user whose run is over sleeps until the runner stops it."""

    environment: Environment

    def _init_paced(self) -> None:
        self.engine = engine_of(self.environment)
        self.rng = random.Random()  # noqa: S311 - workload values, not security
        self._arrival: Arrival | None = None
        self._wake = Event()
        self._assigned: Arrival | None = None

    def _join(self) -> None:
        assert self.engine is not None
        self.engine.joined += 1
        self.rng.seed(f"{self.engine.plan.seed}:{self.engine.process}:{self.engine.joined}")
        self._take_next()

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

    def _stamp(self, method: str, route: str) -> dict[str, Any] | None:
        """The context of this task's first request, or None if it must not leave (late)."""
        assert self.engine is not None
        arrival, self._arrival = self._arrival, None
        if arrival is None:
            raise RuntimeError("a PacedUser task makes ONE request with send(); this was a second")
        if not self.engine.begin(arrival, f"{method} {route}", time.monotonic()):
            return None
        return {CONTEXT_KEY: arrival.index}

    @property
    def follow_redirects(self) -> bool:
        return self.engine is not None and self.engine.plan.traffic.follow_redirects


class PacedUser(_Paced, FastHttpUser):
    """A FastHttpUser fed by the engine (`load.pacing`); subclasses define the tasks, each
    making ONE request with `send` and drawing values with `value`."""

    abstract = True
    # Locust's default timeouts (60 s) are kept on purpose: setting FastHttpUser's
    # `network_timeout` or `connection_timeout` halves its throughput (measured: 5.3k ->
    # 2.7k requests/s on 2 cores). A request still in flight when the run ends after its
    # drain is recorded as the target's error (`IN_FLIGHT`).

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._init_paced()
        values = self.engine.plan.traffic.values if self.engine is not None else {}
        self.values = Values(values)

    def on_start(self) -> None:
        if self.engine is not None:
            self._join()

    def wait_time(self) -> float:
        """Block until the next arrival (the engine's); very long once the run is over."""
        if self.engine is None:
            return 0.0
        return self._take_next()

    def send(self, method: str, path: str, name: str, **kwargs: Any) -> Any:
        """Make this task's one request, named by its route template; None if not sent."""
        kwargs.setdefault("allow_redirects", self.follow_redirects)
        if self.engine is None:
            return self.client.request(method, path, name=name, **kwargs)
        context = self._stamp(method, name)
        if context is None:
            return None
        return self.client.request(method, path, name=name, context=context, **kwargs)

    def value(self, name: str) -> Any:
        """A value of the workload's generator `name` (ids, a range, a sample, ...)."""
        return self.values.draw(name, self.rng)


class MixUser(PacedUser):
    """The user of a declarative request mix: each arrival, one request drawn by weight."""

    abstract = True
    mix: tuple[MixEntry, ...] = ()

    @task
    def one_request(self) -> None:
        traffic = self.engine.plan.traffic if self.engine is not None else None
        headers = dict(traffic.headers) if traffic is not None else {}
        request = render(pick(self.mix, self.rng), self.values, self.rng, headers)
        kwargs: dict[str, Any] = {"headers": request.headers} if request.headers else {}
        if request.body is not None:
            kwargs["json"] = request.body
        name = request.route.split(" ", 1)[1]
        self.send(request.method, request.path, name=name, **kwargs)


def mix_user(mix: tuple[MixEntry, ...]) -> type[PacedUser]:
    """A concrete `MixUser` for `mix`."""
    return type("MixUser", (MixUser,), {"abstract": False, "mix": mix})


class _PlainPaced(_Paced):
    """Wraps a user class written the standard Locust way (see the module's docstring)."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)  # type: ignore[call-arg]
        self._init_paced()
        self._iteration: int | None = None
        client: Any = getattr(self, "client", None)
        if client is not None and self.engine is not None:
            original = client.request

            def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
                return self._request(original, method, url, *args, **kwargs)

            client.request = request

    def on_start(self) -> None:
        super_start = getattr(super(), "on_start", None)
        if super_start is not None:
            super_start()  # the user's own set-up (a login, say): not an arrival's request
        if self.engine is not None:
            self._join()

    def wait_time(self) -> float:
        if self.engine is None:
            return 0.0
        self._end_iteration()
        return self._take_next()

    def _end_iteration(self) -> None:
        assert self.engine is not None
        if self._iteration is not None:
            self.engine.complete(self._iteration, time.monotonic(), None)
            self._iteration = None
        elif self._arrival is not None:  # the task ran and sent nothing
            self.engine.drop(self._arrival, NOT_SENT_ROUTE, NO_REQUEST)
            self.engine.handed.pop(self._arrival.index, None)
            self._arrival = None

    def _request(self, original: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("allow_redirects", self.follow_redirects)
        if self._arrival is None:
            if self._iteration is not None:  # a later request of the same task
                kwargs["context"] = {CONTEXT_KEY: self._iteration, ITERATION_KEY: True}
            return original(method, url, *args, **kwargs)
        name = kwargs.get("name") or urlsplit(url).path or "/"
        context = self._stamp(method.upper(), str(name))
        if context is None:
            raise RescheduleTask()  # dropped (late): the rest of this task is not sent
        self._iteration = int(context[CONTEXT_KEY])
        kwargs["context"] = {**context, ITERATION_KEY: True}
        return original(method, url, *args, **kwargs)


def paced(user_class: type[User]) -> type[User]:
    """`user_class` fed by the engine: as it is for a `PacedUser`, wrapped for a plain one."""
    if issubclass(user_class, PacedUser):
        return user_class
    if not issubclass(user_class, HttpUser | FastHttpUser):
        raise TypeError(
            f"{user_class.__name__} is a Locust User without an HTTP client: derive it from "
            "HttpUser or FastHttpUser"
        )
    attributes = {"abstract": False, "__module__": user_class.__module__}
    return type(user_class.__name__, (_PlainPaced, user_class), attributes)


__all__ = [
    "IN_FLIGHT",
    "Engine",
    "MixUser",
    "PacedUser",
    "attach",
    "engine_of",
    "mix_user",
    "paced",
]

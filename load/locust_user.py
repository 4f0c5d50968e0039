"""The base class of the scenario users: paced requests, latency measured from their origin.

Imports Locust, so it is imported only inside the load child (`load.child`), never by
pytest. A scenario user subclasses `PacedUser` and, in each task, makes ONE request with
`self.send(method, path, name=route_template, ...)`. The pacing rule is in `load.pacing`:
the user waits for its next slot between tasks (`wait_time`), and `send` stamps each
request with its origin (the intended time in the open model, the send time in the
closed model) so that the child's request listener records latency from it.

Run by plain `locust -f scenarios/load/<name>.py` (no load child), a `PacedUser` is a
closed-model user measured by Locust's own statistics, with ids 1..`LOAD_ENTITY_COUNT`
(environment, read when a user starts; default 10,000).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import FastHttpUser
from locust.env import Environment

from load.pacing import Pacer, UserPace
from load.plan import DEFAULT_ENTITY_COUNT, LoadPlan
from load.recorder import Recorder

ORIGIN = "harness_origin"
SENT = "harness_sent"
ENGINE_ATTRIBUTE = "reliability_load_engine"
IDLE_SECONDS = 24 * 3600.0  # a user whose run is over sleeps until the runner stops it


@dataclass
class Engine:
    """What the users of one process share: the plan, the pacer and the recorder."""

    plan: LoadPlan
    pacer: Pacer
    recorder: Recorder
    process_index: int

    def join(self) -> UserPace:
        now = time.perf_counter()
        pace = self.pacer.join(now)
        if self.pacer.t0 is not None:
            wall = time.time() - (now - self.pacer.t0)
            self.recorder.start(self.pacer.t0, wall, time.process_time())
        return pace


def attach(environment: Environment, engine: Engine) -> None:
    setattr(environment, ENGINE_ATTRIBUTE, engine)


def engine_of(environment: Environment) -> Engine | None:
    engine = getattr(environment, ENGINE_ATTRIBUTE, None)
    return engine if isinstance(engine, Engine) else None


class PacedUser(FastHttpUser):
    """A FastHttpUser whose requests follow `load.pacing`; subclasses define the tasks."""

    abstract = True
    # Locust's default timeouts (60 s) are kept on purpose: setting FastHttpUser's
    # `network_timeout` or `connection_timeout` halves its throughput (measured: 5.3k ->
    # 2.7k requests/s on 2 cores). The load child bounds a run by its own drain anyway.

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.engine = engine_of(environment)
        self.pace: UserPace | None = None
        self.rng = random.Random()  # noqa: S311 - workload ids, not security
        self.entity_count = DEFAULT_ENTITY_COUNT

    def on_start(self) -> None:
        if self.engine is None:
            self.entity_count = int(os.environ.get("LOAD_ENTITY_COUNT", DEFAULT_ENTITY_COUNT))
            return
        plan = self.engine.plan
        self.entity_count = plan.entity_count
        self.pace = self.engine.join()
        self.rng.seed(f"{plan.seed}:{self.engine.process_index}:{self.pace.index}")
        gevent.sleep(self.wait_time())

    def wait_time(self) -> float:
        """Seconds until this user's next slot (`load.pacing`); very long once its run is over."""
        if self.pace is None:
            return 0.0
        delay = self.pace.delay(time.perf_counter())
        return IDLE_SECONDS if delay is None else delay

    def send(self, method: str, path: str, name: str, **kwargs: Any) -> Any:
        """Make one request named by its route template; None if the run is over."""
        if self.pace is None:
            return self.client.request(method, path, name=name, **kwargs)
        now = time.perf_counter()
        origin = self.pace.begin(now, f"{method} {name}")
        if origin is None:
            return None
        try:
            context = {ORIGIN: origin, SENT: now}
            return self.client.request(method, path, name=name, context=context, **kwargs)
        finally:
            self.pace.finish()

    def random_entity_id(self) -> int:
        return self.rng.randint(1, self.entity_count)

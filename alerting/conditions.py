"""How each shipped rule's real condition is induced, end to end.

A `Condition` says what target the stack needs (a reference target with which faults, or
none), how to bring the condition about once Prometheus scrapes, how to take it away, and
what the rule's alert must carry. `detection_seconds` is what the series need before the
expression can see it (see `alerting.bounds`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from alerting.traffic import Traffic
from fixtures.launcher import RunningService
from fixtures.providers.api import ApiEndpoint
from fixtures.pushgateway_client import DRILL_JOB, delete, publish

SLOW_SECONDS = 2.0
TRAFFIC_DEADLINE_SECONDS = 120.0
DAY_SECONDS = 86400


@dataclass
class Situation:
    """What an inducement acts on: the target (if any) and the Pushgateway."""

    target: RunningService[ApiEndpoint] | None
    pushgateway_url: str
    traffic: Traffic | None = None
    entity_ids: list[int] = field(default_factory=list)  # created through the API

    @property
    def target_url(self) -> str:
        assert self.target is not None
        return self.target.endpoint.url

    def close(self) -> None:
        if self.traffic is not None:
            self.traffic.stop()


Action = Callable[[Situation], None]


@dataclass(frozen=True)
class Condition:
    faults: Mapping[str, str] | None  # None: no target; {}: a healthy target
    induce: Action
    labels: Mapping[str, str]
    remove: Action | None = None
    detection_seconds: float = 0.0
    window_seconds: float = 0.0  # how far back the expression looks (for resolution)
    warm: bool = True  # warm the target up first (False: nothing reads it before its end)


def push(gateway: str, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
    """Push one gauge as the drill does (`fixtures.pushgateway_client`)."""
    publish(gateway, name, value, labels)


def unpush(gateway: str, name: str, labels: Mapping[str, str] | None = None) -> None:
    delete(gateway, name, labels)


def _graph_traffic(situation: Situation) -> None:
    paths = [f"/graph/{n}/neighbors?depth=1" for n in range(1, 51)]
    situation.traffic = Traffic(situation.target_url, paths, 8, TRAFFIC_DEADLINE_SECONDS)


def _entity_traffic(situation: Situation) -> None:
    paths = [f"/entities/{n}" for n in range(1, 51)]
    situation.traffic = Traffic(situation.target_url, paths, 4, TRAFFIC_DEADLINE_SECONDS)


def _kill_target(situation: Situation) -> None:
    assert situation.target is not None
    situation.target.kill()


def _pusher(name: str, value: Callable[[], float], labels: Mapping[str, str] | None) -> Action:
    return lambda situation: push(situation.pushgateway_url, name, value(), labels)


def _healthy_pusher(name: str, value: float, labels: Mapping[str, str] | None) -> Action:
    return _pusher(name, lambda: value, labels)


CONDITIONS: Mapping[str, Condition] = {
    "P95LatencyHigh": Condition(
        faults={
            "TARGET_FAULT_GRAPH_DELAY_SECONDS": str(SLOW_SECONDS),
            "TARGET_FAULT_GRAPH_DELAY_SHARE": "1.0",
        },
        induce=_graph_traffic,
        labels={"database": "neo4j", "severity": "page"},
        detection_seconds=SLOW_SECONDS + 1.0,  # the slow request ends, one more scrape
    ),
    "HighErrorRate": Condition(
        faults={"TARGET_FAULT_ERROR_SHARE": "1.0"},
        induce=_entity_traffic,
        labels={"job": "intelgraph-api", "severity": "page"},
        detection_seconds=1.0,  # rate() needs a second sample
    ),
    "ServiceDown": Condition(
        faults={},
        induce=_kill_target,
        warm=False,
        labels={"job": "intelgraph-api", "severity": "page"},
    ),
    "RPOViolated": Condition(
        faults=None,
        induce=_pusher("intelgraph_dr_rpo_actual_seconds", lambda: 400.0, {"database": "postgres"}),
        remove=_healthy_pusher("intelgraph_dr_rpo_actual_seconds", 42.0, {"database": "postgres"}),
        labels={"database": "postgres", "severity": "page"},
    ),
    "RTOViolated": Condition(
        faults=None,
        induce=_pusher(
            "intelgraph_dr_rto_actual_seconds", lambda: 4000.0, {"database": "postgres"}
        ),
        remove=_healthy_pusher("intelgraph_dr_rto_actual_seconds", 600.0, {"database": "postgres"}),
        labels={"database": "postgres", "severity": "page"},
    ),
    "ChaosDrillFailed": Condition(
        faults=None,
        induce=_pusher("chaos_experiment_passed", lambda: 0.0, {"experiment": "postgres-latency"}),
        remove=_healthy_pusher("chaos_experiment_passed", 1.0, {"experiment": "postgres-latency"}),
        labels={"experiment": "postgres-latency", "severity": "ticket"},
    ),
    "ChaosDrillNotRun": Condition(
        # a last success 36 days ago, pushed now: no waiting 35 days
        faults=None,
        induce=_pusher(
            "chaos_drill_last_success_timestamp_seconds",
            lambda: time.time() - 36 * DAY_SECONDS,
            None,
        ),
        remove=_pusher("chaos_drill_last_success_timestamp_seconds", time.time, None),
        labels={"job": DRILL_JOB, "severity": "ticket"},
    ),
}

# What a healthy system pushes after a good drill: none of the rules may fire on it.
HEALTHY_PUSHES: tuple[tuple[str, float | Callable[[], float], Mapping[str, str] | None], ...] = (
    ("intelgraph_dr_rpo_actual_seconds", 42.0, {"database": "postgres"}),
    ("intelgraph_dr_rto_actual_seconds", 600.0, {"database": "postgres"}),
    ("chaos_experiment_passed", 1.0, {"experiment": "postgres-latency"}),
    ("chaos_drill_last_success_timestamp_seconds", time.time, None),
)


def push_healthy_drill(gateway: str) -> None:
    for name, value, labels in HEALTHY_PUSHES:
        push(gateway, name, value() if callable(value) else value, labels)

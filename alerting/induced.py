"""Alerts against a profile: conditions the harness may create there, seen in its own
Alertmanager, with a bound read from its own Prometheus.

A profile's `[alerts] induce = ["RPOViolated", "ChaosDrillFailed"]` lets the harness push
a bad drill result to the profile's Pushgateway — under a grouping of its own, every
series labelled `harness_test="true"` — so that the real rule fires in the real
Prometheus and reaches the real Alertmanager, which routes that label to a quiet
receiver (the route to add is in the README). Then a good result is pushed, the alert
must resolve, and the pushed group is always deleted. Only pushed results can be induced
this way; the others need a faulted target.

The bound is `alerting.bounds.fire_bound` with the profile's own timing: the scrape and
evaluation intervals from its Prometheus's configuration (`/api/v1/status/config`, the
Pushgateway job's own scrape interval if it sets one), the rule's `for:` as that
Prometheus runs it (`/api/v1/rules`), and `group_wait` / `group_interval` from its
Alertmanager's route for `harness_test="true"` (`/api/v2/status`).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import yaml

from alerting.bounds import Timing, fire_bound, resolve_bound
from alerting.errors import AlertRuleError
from fixtures.pushgateway_client import delete, publish

TEST_LABEL = {"harness_test": "true"}
HTTP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.5
DAY_SECONDS = 86_400.0
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


@dataclass(frozen=True)
class Inducible:
    """A pushed result that makes a rule fire (`bad`) and that resolves it (`good`)."""

    metric: str
    bad: Callable[[], float]
    good: Callable[[], float]
    labels: Mapping[str, str]


INDUCIBLE: Mapping[str, Inducible] = {
    "RPOViolated": Inducible(
        "intelgraph_dr_rpo_actual_seconds", lambda: 400.0, lambda: 42.0, {"database": "postgres"}
    ),
    "RTOViolated": Inducible(
        "intelgraph_dr_rto_actual_seconds", lambda: 4000.0, lambda: 600.0, {"database": "postgres"}
    ),
    "ChaosDrillFailed": Inducible(
        "chaos_experiment_passed", lambda: 0.0, lambda: 1.0, {"experiment": "harness-test"}
    ),
    "ChaosDrillNotRun": Inducible(
        "chaos_drill_last_success_timestamp_seconds",
        lambda: time.time() - 36 * DAY_SECONDS,
        time.time,
        {},
    ),
}


def check_inducible(names: tuple[str, ...]) -> None:
    unknown = sorted(set(names) - set(INDUCIBLE))
    if unknown:
        raise AlertRuleError(
            f"[alerts] induce names {', '.join(unknown)}, which the harness cannot induce by "
            f"pushing a result; it can: {', '.join(INDUCIBLE)}"
        )


def seconds_of(duration: str | float | int) -> float:
    """Prometheus durations ("15s", "1m30s", "2h") in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    return sum(float(n) * UNIT_SECONDS[unit] for n, unit in DURATION.findall(str(duration)))


def _get(url: str, path: str) -> Any:
    answer = requests.get(f"{url.rstrip('/')}{path}", timeout=HTTP_TIMEOUT_SECONDS)
    answer.raise_for_status()
    return answer.json()


def prometheus_intervals(prometheus_url: str, pushgateway_host: str) -> tuple[float, float]:
    """(scrape interval of the Pushgateway's job, evaluation interval), from its config."""
    config = yaml.safe_load(_get(prometheus_url, "/api/v1/status/config")["data"]["yaml"]) or {}
    settings = config.get("global", {})
    scrape = seconds_of(settings.get("scrape_interval", "1m"))
    evaluation = seconds_of(settings.get("evaluation_interval", "1m"))
    for job in config.get("scrape_configs", []):
        targets = [t for static in job.get("static_configs", []) for t in static.get("targets", [])]
        if any(pushgateway_host in target for target in targets) and "scrape_interval" in job:
            scrape = seconds_of(job["scrape_interval"])
    return scrape, evaluation


def alertmanager_grouping(alertmanager_url: str) -> tuple[float, float]:
    """(group_wait, group_interval) of the route `harness_test="true"` takes (or the root)."""
    status = _get(alertmanager_url, "/api/v2/status")
    route = (yaml.safe_load(status["config"]["original"]) or {}).get("route", {})
    wait, interval = route.get("group_wait", "30s"), route.get("group_interval", "5m")
    for child in route.get("routes", []):
        matchers = " ".join(child.get("matchers", [])) + str(child.get("match", ""))
        if "harness_test" in matchers:
            wait = child.get("group_wait", wait)
            interval = child.get("group_interval", interval)
    return seconds_of(wait), seconds_of(interval)


def deployed_for(prometheus_url: str, rule: str) -> float:
    groups = _get(prometheus_url, "/api/v1/rules?type=alert")["data"]["groups"]
    for group in groups:
        for deployed in group["rules"]:
            if deployed["name"] == rule:
                return float(deployed.get("duration", 0))
    raise AlertRuleError(f"the profile's Prometheus at {prometheus_url} does not run {rule}")


def profile_timing(prometheus_url: str, alertmanager_url: str, pushgateway_host: str) -> Timing:
    scrape, evaluation = prometheus_intervals(prometheus_url, pushgateway_host)
    wait, interval = alertmanager_grouping(alertmanager_url)
    return Timing(scrape, evaluation, wait, interval)


def active_alerts(alertmanager_url: str, rule: str) -> list[dict[str, Any]]:
    """The harness's active alerts named `rule` in the Alertmanager (its API v2)."""
    filters = [f'alertname="{rule}"', 'harness_test="true"']
    answer = requests.get(
        f"{alertmanager_url.rstrip('/')}/api/v2/alerts",
        params={"filter": filters, "active": "true", "silenced": "true", "inhibited": "true"},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    answer.raise_for_status()
    alerts: list[dict[str, Any]] = answer.json()
    return [a for a in alerts if a.get("status", {}).get("state") in ("active", "suppressed")]


@contextlib.contextmanager
def induced(pushgateway_url: str, rule: str) -> Iterator[Inducible]:
    """Push `rule`'s bad result (labelled `harness_test="true"`); delete it on every exit."""
    inducible = INDUCIBLE[rule]
    labels = {**inducible.labels, **TEST_LABEL}
    publish(pushgateway_url, inducible.metric, inducible.bad(), labels)
    try:
        yield inducible
    finally:
        delete(pushgateway_url, inducible.metric, labels)


@contextlib.contextmanager
def healthy(pushgateway_url: str, names: tuple[str, ...]) -> Iterator[None]:
    """Healthy results for every rule in `names`, pushed as the harness's; deleted after."""
    pushed = [INDUCIBLE[name] for name in names]
    try:
        for inducible in pushed:
            heal(pushgateway_url, inducible)
        yield
    finally:
        for inducible in pushed:
            delete(pushgateway_url, inducible.metric, {**inducible.labels, **TEST_LABEL})


def heal(pushgateway_url: str, inducible: Inducible) -> None:
    publish(pushgateway_url, inducible.metric, inducible.good(), {**inducible.labels, **TEST_LABEL})


def wait_for(condition: Callable[[], bool], seconds: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started <= seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(POLL_SECONDS)
    return None


def bounds(timing: Timing, for_seconds: float) -> tuple[float, float]:
    """(fire bound, resolve bound) of a pushed result: no detection, no window."""
    return fire_bound(timing, for_seconds), resolve_bound(timing, 0.0)

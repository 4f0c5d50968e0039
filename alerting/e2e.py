"""The three end-to-end checks: an alert fires within its bound, resolves within its bound,
and nothing fires on a healthy system."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from alerting.bounds import fire_bound, resolve_bound
from alerting.conditions import Condition, Situation
from alerting.errors import FalseAlarmError
from alerting.rules import AlertRule
from alerting.stack import PUSHGATEWAY_JOB, AlertStack, Starter, start_stack
from alerting.traffic import RecordId, create_records
from alerting.webhook import WebhookReceiver
from fixtures.phases import phase
from system.deadline import Deadline
from system.description import Metrics, WritePath

POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Measured:
    rule: str
    event: str  # "fire" or "resolve"
    seconds: float
    bound: float
    alert: Mapping[str, Any]
    payload: Mapping[str, Any]
    # Time to detect (firing: the startsAt Prometheus sends, the moment the rule fired),
    # and its bound: the notify bound without group_wait. Firing events only.
    detect_seconds: float | None = None
    detect_bound: float | None = None

    @property
    def ratio(self) -> float:
        return self.seconds / self.bound

    def row(self) -> str:
        return (
            f"| {self.rule} | {self.event} | {self.seconds:.2f} s | {self.bound:.2f} s "
            f"| {self.ratio:.2f} |"
        )


def table(measured: Iterable[Measured]) -> str:
    rows = "\n".join(item.row() for item in measured)
    return f"| rule | event | measured | bound | measured/bound |\n|---|---|---|---|---|\n{rows}\n"


def prepare(
    start: Starter,
    receiver: WebhookReceiver,
    rules: Mapping[str, str],
    rule_names: set[str],
    *,
    job: str,
    target: bool,
    fault: str | None = None,
    warm: bool = True,
    write_path: WritePath | None = None,
    records: int = 0,
) -> tuple[AlertStack, Situation]:
    """A fresh Pushgateway, a target (when `target`; started with the description's
    `fault`, if any), and the stack scraping both — the target as job `job` — evaluating
    `rules` (file name -> YAML), ready.

    The target takes the databases as they are, unseeded: an induced condition needs the
    target's metrics, not its data. A test that reads records has `records` of them
    created through the description's `write_path` (`Situation.records`) before
    Prometheus first scrapes, so a cold target's first slow writes stay out of the rates
    the rules read. `warm=False`: no warm-up (a target that is only killed)."""
    pushgateway = start("pushgateway").endpoint
    scrape = {PUSHGATEWAY_JOB: f"{pushgateway.host}:{pushgateway.port}"}
    service = None
    created: list[RecordId] = []
    if target:
        arguments: dict[str, Any] = {"seed": False, "warm": warm}
        if fault is not None:
            arguments["fault"] = fault
        service = start("api", **arguments)
        created = create_records(service.endpoint.url, write_path, records)
        scrape[job] = f"{service.endpoint.host}:{service.endpoint.port}"
    stack = start_stack(start, receiver, scrape, rules, target_job=job if target else None)
    stack.wait_until_scraping(rule_names)
    return stack, Situation(service, pushgateway.url, records=created)


def prepare_condition(
    start: Starter,
    receiver: WebhookReceiver,
    rules: Mapping[str, str],
    rule_names: set[str],
    *,
    condition: Condition,
    job: str,
) -> tuple[AlertStack, Situation]:
    """`prepare` for one condition: the target it needs (with its fault and warm-up)."""
    return prepare(
        start,
        receiver,
        rules,
        rule_names,
        job=job,
        target=condition.needs_target,
        fault=condition.fault,
        warm=condition.warm,
    )


def expect_fires(
    stack: AlertStack, rule: AlertRule, condition: Condition, situation: Situation
) -> Measured:
    """Induce the condition; the alert must reach the webhook within its bound, rendered."""
    bound = fire_bound(stack.timing, rule.for_seconds, condition.detection_seconds)
    started, started_wall = time.monotonic(), time.time()
    with phase(f"condition of {rule.name} induced"):
        condition.induce(situation)
    with phase(f"pending for {rule.for_seconds:g} s, then firing: notified within {bound:g} s"):
        notification, alert = stack.receiver.wait_for(
            rule.name, bound, labels=condition.labels, since=started
        )
    _check_annotations(rule, alert)
    seconds = notification.received_monotonic - started
    if seconds < rule.for_seconds:
        raise AssertionError(
            f"{rule.name} fired {seconds:.2f} s after its condition began, before its "
            f"`for: {rule.for_seconds:g}s` elapsed: pending must last `for` before firing"
        )
    _check_times(rule.name, alert, resolved=False)
    starts = _timestamp(alert.get("startsAt"))
    detected = None if starts is None else starts.timestamp() - started_wall
    return Measured(
        rule.name,
        "fire",
        seconds,
        bound,
        alert,
        notification.payload,
        detect_seconds=detected,
        detect_bound=bound - stack.timing.group_wait,
    )


def expect_resolves(
    stack: AlertStack, rule: AlertRule, condition: Condition, situation: Situation
) -> Measured:
    """Take the condition away; Alertmanager must send the resolved notification in time."""
    if not condition.removable:
        raise ValueError(f"{rule.name}: its inducement says nothing to push to end it (resolve)")
    bound = resolve_bound(stack.timing, condition.window_seconds, condition.detection_seconds)
    started = time.monotonic()
    with phase(f"condition of {rule.name} removed"):
        condition.remove(situation)
    with phase(f"resolved: notified within {bound:g} s"):
        notification, alert = stack.receiver.wait_for(
            rule.name, bound, status="resolved", labels=condition.labels, since=started
        )
    _check_times(rule.name, alert, resolved=True)
    return Measured(
        rule.name,
        "resolve",
        notification.received_monotonic - started,
        bound,
        alert,
        notification.payload,
    )


def expect_silence(stack: AlertStack, seconds: float, metrics: Metrics | None = None) -> list[str]:
    """For `seconds`, no alert may fire in Prometheus nor reach the webhook. An alert only
    pending is what its rule's `for:` is there to absorb (nobody is notified; if the
    condition lasts, it fires within the window): it is returned, as a near miss to keep
    as evidence, not a false alarm. `metrics` (the description's): a false alarm then
    says what the target answered, from its own request counter."""
    with phase(f"no alert firing or notified for {seconds:g} s"):
        return _silence(stack, seconds, metrics)


def _silence(stack: AlertStack, seconds: float, metrics: Metrics | None) -> list[str]:
    watch = Deadline(seconds)  # a watch: its end is the good outcome, not a timeout
    pending: set[str] = set()
    while True:
        alerts = stack.alerts()
        waiting = [alert for alert in alerts if alert.get("state") == "pending"]
        pending |= {str(alert["labels"].get("alertname")) for alert in waiting}
        firing = [
            f"{alert['labels'].get('alertname')} ({alert.get('state')})"
            for alert in alerts
            if alert not in waiting
        ]
        received = [
            f"{alert.get('labels', {}).get('alertname')} (notified {alert.get('status')})"
            for payload in stack.receiver.payloads()
            for alert in payload.get("alerts", [])
        ]
        if firing or received:
            raise FalseAlarmError(
                f"false alarm on a healthy target: {', '.join(sorted(set(firing + received)))} "
                f"within {seconds:g} s of normal load; {_answers(stack, metrics)}"
            )
        if watch.expired:
            return sorted(pending)
        time.sleep(POLL_SECONDS)


def _answers(stack: AlertStack, metrics: Metrics | None) -> str:
    """What the target answered over the last 30 s, by route and status (from Prometheus):
    whether a false alarm is the rule's or a target that really failed."""
    if stack.target_job is None:
        return "no target was scraped"
    if metrics is None or metrics.requests_counter is None:
        return "the target's answers are unknown (the description names no requests_counter)"
    route = metrics.route_label
    # a PromQL string holding a regular expression: its backslashes doubled
    excluded = "|".join(re.escape(name) for name in metrics.exclude_routes).replace("\\", "\\\\")
    matchers = f'job="{stack.target_job}"' + (f', {route}!~"{excluded}"' if excluded else "")
    query = f"sum by ({route}, status) (increase({metrics.requests_counter}{{{matchers}}}[30s]))"
    try:
        answer = requests.get(
            f"{stack.prometheus_url}/api/v1/query", params={"query": query}, timeout=5
        )
        answer.raise_for_status()
        samples = answer.json()["data"]["result"]
    except (requests.RequestException, ValueError, KeyError) as error:
        return f"the target's answers are unknown ({type(error).__name__})"
    counts = sorted(
        (f"{s['metric'].get(route)} {s['metric'].get('status')}", float(s["value"][1]))
        for s in samples
    )
    if not counts:
        return "Prometheus has no answers of the target in the last 30 s"
    return "the target answered in the last 30 s: " + ", ".join(
        f"{name} x{count:.0f}" for name, count in counts
    )


def _check_times(name: str, alert: Mapping[str, Any], *, resolved: bool) -> None:
    """startsAt is set; a firing alert has no end yet, a resolved one ends after it began."""
    starts = _timestamp(alert.get("startsAt"))
    ends = _timestamp(alert.get("endsAt"))
    if starts is None:
        raise AssertionError(f"{name}: notification without a startsAt: {alert}")
    if resolved and (ends is None or ends < starts):
        raise AssertionError(
            f"{name}: resolved, but endsAt {alert.get('endsAt')} is not after "
            f"startsAt {alert.get('startsAt')}"
        )
    if not resolved and ends is not None and ends <= starts:
        raise AssertionError(f"{name}: firing, but endsAt {alert.get('endsAt')} is in the past")


def _timestamp(value: Any) -> datetime | None:
    """An RFC 3339 time from Alertmanager; its zero time (no end yet) is None."""
    if not value or str(value).startswith("0001-01-01"):
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _check_annotations(rule: AlertRule, alert: Mapping[str, Any]) -> None:
    """Every annotation the rule declares arrives rendered (no template left, not empty)."""
    annotations = alert.get("annotations", {})
    for key in rule.annotations:
        text = annotations.get(key, "")
        if not text or "{{" in text or "<no value>" in text:
            raise AssertionError(f"{rule.name}: annotation {key} arrived as {text!r}")

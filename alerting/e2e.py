"""The three end-to-end checks: an alert fires within its bound, resolves within its bound,
and nothing fires on a healthy system."""

from __future__ import annotations

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
from alerting.stack import PUSHGATEWAY_JOB, TARGET_JOB, AlertStack, Starter, start_stack
from alerting.traffic import create_entities
from alerting.webhook import WebhookReceiver
from fixtures.phases import phase

POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Measured:
    rule: str
    event: str  # "fire" or "resolve"
    seconds: float
    bound: float
    alert: Mapping[str, Any]
    payload: Mapping[str, Any]

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
    faults: Mapping[str, str] | None,
    rules: Mapping[str, str],
    rule_names: set[str],
    *,
    entities: int = 0,
    warm: bool = True,
) -> tuple[AlertStack, Situation]:
    """A fresh Pushgateway, a target with `faults` (none when `faults` is None), and the
    stack scraping both, evaluating `rules` (file name -> YAML), ready.

    The target takes the databases as they are, unseeded: an induced condition needs the
    target's metrics, not its data. A test that reads entities has `entities` of them
    created through the API (`Situation.entity_ids`) before Prometheus first scrapes, so
    a cold target's first slow writes stay out of the rates the rules read. `warm=False`:
    no warm-up (a target that is only killed)."""
    pushgateway = start("pushgateway").endpoint
    scrape = {PUSHGATEWAY_JOB: f"{pushgateway.host}:{pushgateway.port}"}
    target = None if faults is None else start("api", faults=dict(faults), seed=False, warm=warm)
    created = [] if target is None else create_entities(target.endpoint.url, entities)
    if target is not None:
        scrape[TARGET_JOB] = f"{target.endpoint.host}:{target.endpoint.port}"
    stack = start_stack(start, receiver, scrape, rules)
    stack.wait_until_scraping(rule_names)
    return stack, Situation(target, pushgateway.url, entity_ids=created)


def expect_fires(
    stack: AlertStack, rule: AlertRule, condition: Condition, situation: Situation
) -> Measured:
    """Induce the condition; the alert must reach the webhook within its bound, rendered."""
    bound = fire_bound(stack.timing, rule.for_seconds, condition.detection_seconds)
    started = time.monotonic()
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
    return Measured(rule.name, "fire", seconds, bound, alert, notification.payload)


def expect_resolves(
    stack: AlertStack, rule: AlertRule, condition: Condition, situation: Situation
) -> Measured:
    """Take the condition away; Alertmanager must send the resolved notification in time."""
    if condition.remove is None:
        raise ValueError(f"{rule.name}: no way to remove its condition is defined")
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


def expect_silence(stack: AlertStack, seconds: float) -> list[str]:
    """For `seconds`, no alert may fire in Prometheus nor reach the webhook. An alert only
    pending is what its rule's `for:` is there to absorb (nobody is notified; if the
    condition lasts, it fires within the window): it is returned, as a near miss to keep
    as evidence, not a false alarm."""
    with phase(f"no alert firing or notified for {seconds:g} s"):
        return _silence(stack, seconds)


def _silence(stack: AlertStack, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
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
                f"within {seconds:g} s of normal load; {_answers(stack)}"
            )
        if time.monotonic() >= deadline:
            return sorted(pending)
        time.sleep(POLL_SECONDS)


def _answers(stack: AlertStack) -> str:
    """What the target answered over the last 30 s, by route and status (from Prometheus):
    whether a false alarm is the rule's or a target that really failed."""
    query = (
        f'sum by (route, status) (increase(http_requests_total{{job="{TARGET_JOB}", '
        f'route!="/metrics"}}[30s]))'
    )
    try:
        answer = requests.get(
            f"{stack.prometheus_url}/api/v1/query", params={"query": query}, timeout=5
        )
        answer.raise_for_status()
        samples = answer.json()["data"]["result"]
    except (requests.RequestException, ValueError, KeyError) as error:
        return f"the target's answers are unknown ({type(error).__name__})"
    counts = sorted(
        (f"{s['metric'].get('route')} {s['metric'].get('status')}", float(s["value"][1]))
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

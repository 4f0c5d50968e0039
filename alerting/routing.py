"""Routing as a criterion: which receivers each rule's alert reaches in the Alertmanager
configuration the team deploys, how soon, what inhibits it, and that it is not repeated.

Two views of the same file, since neither is enough alone:

- **static**: `amtool config routes test` (Alertmanager's own matcher and tree code) for
  every rule's labels. It answers for one label set and ignores inhibition and timing.
- **end to end**: the real Alertmanager runs the file as written (tree, matchers,
  `continue`, group_by, group_wait, inhibit_rules) with each receiver's integrations
  (PagerDuty, Slack, e-mail, ...) replaced by the harness's webhook, which records the
  `receiver` of each notification. The alerts are posted through Alertmanager's API the
  way Prometheus sends them (resent every evaluation while they fire).

What the description declares (`[alerts.routing]`): the file, the receivers per value of
one rule label (`by`, usually severity) and the inhibitions that must hold, each with the
labels of "another service" whose alert must still get through.
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import yaml

from alerting.errors import RoutingConfigError
from alerting.rules import AlertRule, parse_duration
from alerting.slo import load_windows, read_slo, read_slo_rules
from alerting.webhook import WebhookReceiver
from fixtures.tools import require_binary, run_tool
from system.deadline import Deadline
from system.description import Alerts, Inhibition, Routing

AMTOOL_TIMEOUT_SECONDS = 30.0
HTTP_TIMEOUT_SECONDS = 5.0
RESEND_SECONDS = 1.0  # as Prometheus resends a firing alert at each evaluation (test profile)
MARGIN_SECONDS = 2.0  # Alertmanager's flush and the webhook's POST, beyond group_wait
# Alertmanager's defaults for a route that sets none (its documentation).
DEFAULT_GROUP_WAIT = "30s"
DEFAULT_GROUP_INTERVAL = "5m"
DEFAULT_REPEAT_INTERVAL = "4h"
# The dedup check runs the same tree with these flush times, so that many flushes pass
# within seconds; repeat_interval stays as written.
DEDUP_GROUP_WAIT = "1s"
DEDUP_GROUP_INTERVAL = "1s"
DEDUP_SECONDS = 8.0


@dataclass(frozen=True)
class RoutedAlert:
    """One rule's alert as it fires: its labels, and the receivers it must reach (`None`:
    the description declares none for its `by` label's value)."""

    rule: str
    labels: Mapping[str, str]
    expected: frozenset[str] | None


def routed_alerts(rules: Mapping[str, AlertRule], alerts: Alerts) -> list[RoutedAlert]:
    """Every rule's alert: `alertname`, the rule's labels, its inducement's labels and
    `[alerts.routing.labels.<rule>]`, with the receivers its `by` label names."""
    routing = _routing(alerts)
    routed = []
    for name, rule in sorted(rules.items()):
        induce = alerts.induce.get(name)
        labels = {
            "alertname": name,
            **rule.labels,
            **(induce.labels if induce else {}),
            **routing.labels.get(name, {}),
        }
        value = labels.get(routing.by)
        expected = routing.receivers.get(value) if value is not None else None
        routed.append(RoutedAlert(name, labels, frozenset(expected) if expected else None))
    return routed


def slo_routed_alerts(alerts: Alerts) -> list[RoutedAlert]:
    """The SLO's burn-rate alerts (`[alerts.slo]`): Sloth's page and ticket, which share a
    name (told apart as `<name> (page)`), and the hand-written budget alerts beside them,
    each with the labels Prometheus sends."""
    if alerts.slo is None:
        return []
    routing = _routing(alerts)
    slo = read_slo(Path(alerts.slo.spec))
    windows = load_windows(Path(alerts.slo.windows) if alerts.slo.windows else None)
    rules = read_slo_rules(Path(alerts.slo.rules), slo, windows.period)
    named = [
        (f"{rules.page.name} (page)", rules.page),
        (f"{rules.ticket.name} (ticket)", rules.ticket),
    ]
    named += [(alert.name, alert) for alert in rules.budget]
    routed = []
    for rule, alert in named:
        labels = {"alertname": alert.name, **alert.labels}
        value = labels.get(routing.by)
        expected = routing.receivers.get(value) if value is not None else None
        routed.append(RoutedAlert(rule, labels, frozenset(expected) if expected else None))
    return routed


def _routing(alerts: Alerts) -> Routing:
    if alerts.routing is None:
        raise RoutingConfigError("the description has no [alerts.routing]")
    return alerts.routing


def read_config(path: Path | str) -> dict[str, Any]:
    """The Alertmanager configuration at `path`, checked by `amtool check-config` (one line
    naming the file and amtool's complaint when it is refused)."""
    result = _amtool("check-config", str(path))
    if result.returncode != 0:
        complaint = next(
            (line.strip() for line in result.stdout.splitlines() if "FAILED" in line),
            (result.stderr.strip().splitlines() or ["refused"])[-1],
        )
        raise RoutingConfigError(
            f"{path}: amtool check-config refuses it ({complaint}); fix the Alertmanager "
            "configuration the description's [alerts.routing] config names"
        )
    document = yaml.safe_load(Path(path).read_text())
    if not isinstance(document, dict) or "route" not in document:
        raise RoutingConfigError(f"{path}: no `route` at the top; not an Alertmanager config")
    return document


def receiver_names(config: Mapping[str, Any]) -> set[str]:
    return {str(receiver["name"]) for receiver in config.get("receivers") or []}


def static_receivers(path: Path | str, labels: Mapping[str, str]) -> frozenset[str]:
    """The receivers `amtool config routes test` resolves for `labels` in the file."""
    matchers = [f"{key}={json.dumps(value)}" for key, value in sorted(labels.items())]
    result = _amtool("config", "routes", "test", f"--config.file={path}", *matchers)
    if result.returncode != 0:
        raise RoutingConfigError(
            f"{path}: amtool config routes test failed for {dict(labels)}: "
            f"{(result.stderr.strip().splitlines() or ['no output'])[-1]}"
        )
    answer = result.stdout.strip().splitlines()
    return frozenset(name for name in (answer[-1] if answer else "").split(",") if name)


def _amtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    amtool = require_binary("amtool", "prometheus-alertmanager")
    return run_tool(amtool, *arguments, timeout=AMTOOL_TIMEOUT_SECONDS)


def _routes(route: Mapping[str, Any], inherited: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    """Every node of the routing tree with the settings it inherits from its parents."""
    keys = ("receiver", "group_wait", "group_interval", "repeat_interval")
    node = {key: route.get(key, inherited.get(key)) for key in keys}
    yield node
    for child in route.get("routes") or []:
        yield from _routes(child, node)


def notify_bounds(config: Mapping[str, Any]) -> dict[str, float]:
    """Per receiver, the longest group_wait of the routes that name it, plus the margin:
    how long its first notification of a new group may take once the alert arrives."""
    defaults = {"group_wait": DEFAULT_GROUP_WAIT}
    bounds: dict[str, float] = {}
    for node in _routes(config["route"], defaults):
        wait = parse_duration(node["group_wait"]) + MARGIN_SECONDS
        receiver = str(node["receiver"])
        bounds[receiver] = max(bounds.get(receiver, 0.0), wait)
    return bounds


def repeat_interval_seconds(config: Mapping[str, Any]) -> float:
    """The shortest repeat_interval anywhere in the tree."""
    defaults = {"repeat_interval": DEFAULT_REPEAT_INTERVAL}
    return min(
        parse_duration(node["repeat_interval"]) for node in _routes(config["route"], defaults)
    )


def with_webhook(
    config: Mapping[str, Any],
    url: str,
    *,
    inhibit: bool = True,
    flush: tuple[str, str] | None = None,
) -> str:
    """The team's configuration with every receiver delivering to `url` (a webhook that
    records the `receiver` of each notification) and nothing else: the tree, matchers,
    grouping, timings and time intervals as written. `inhibit=False` drops the inhibit
    rules (to see where each alert alone goes); `flush` = (group_wait, group_interval)
    set on every route (the dedup check). Templates and the notifiers' global settings
    go: nothing is sent anywhere else, and no secret file is read."""
    harness = copy.deepcopy(dict(config))
    harness.pop("templates", None)
    harness["global"] = {
        key: value
        for key, value in (harness.get("global") or {}).items()
        if key == "resolve_timeout"
    }
    harness["receivers"] = [
        {"name": name, "webhook_configs": [{"url": url, "send_resolved": True}]}
        for name in sorted(receiver_names(config))
    ]
    if not inhibit:
        harness.pop("inhibit_rules", None)
    if flush is not None:
        _set_flush(harness["route"], *flush)
    return yaml.safe_dump(harness, sort_keys=False)


def _set_flush(route: dict[str, Any], group_wait: str, group_interval: str) -> None:
    route["group_wait"], route["group_interval"] = group_wait, group_interval
    for child in route.get("routes") or []:
        _set_flush(child, group_wait, group_interval)


def post_alerts(alertmanager_url: str, alerts: Sequence[Mapping[str, str]]) -> None:
    """Send `alerts` (label sets) as firing, as Prometheus does: endsAt a few resends ahead."""
    now = datetime.now(UTC)
    body = [
        {
            "labels": dict(labels),
            "annotations": {"summary": "sent by the harness's routing suite"},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(minutes=5)).isoformat(),
            "generatorURL": "http://127.0.0.1/harness-routing",
        }
        for labels in alerts
    ]
    answer = requests.post(
        f"{alertmanager_url}/api/v2/alerts", json=body, timeout=HTTP_TIMEOUT_SECONDS
    )
    answer.raise_for_status()


@dataclass(frozen=True)
class Delivery:
    """Where one alert's firing notifications went: receiver -> seconds from the first
    post to each notification, and the group (`groupLabels`) it was notified in."""

    labels: Mapping[str, str]
    arrivals: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    groups: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def receivers(self) -> frozenset[str]:
        return frozenset(self.arrivals)


def deliveries(
    receiver: WebhookReceiver, alerts: Sequence[Mapping[str, str]], since: float
) -> list[Delivery]:
    """For each alert (its exact labels), the firing notifications the webhook got."""
    found: list[Delivery] = []
    for labels in alerts:
        arrivals: dict[str, list[float]] = {}
        groups: dict[str, Mapping[str, str]] = {}
        for notification in receiver.notifications():
            payload = notification.payload
            if any(
                alert.get("status") == "firing" and alert.get("labels") == dict(labels)
                for alert in payload.get("alerts", [])
            ):
                name = str(payload.get("receiver"))
                arrivals.setdefault(name, []).append(notification.received_monotonic - since)
                groups.setdefault(name, dict(payload.get("groupLabels") or {}))
        times = {key: tuple(value) for key, value in arrivals.items()}
        found.append(Delivery(labels, times, groups))
    return found


@dataclass(frozen=True)
class Route:
    """One rule's alert end to end: the receivers expected, those reached, and how soon."""

    rule: str
    expected: frozenset[str]
    reached: frozenset[str]
    seconds: Mapping[str, float]  # receiver -> first notification
    bounds: Mapping[str, float]  # receiver -> its bound
    groups: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # receiver -> group

    @property
    def wrong(self) -> int:
        return len(self.expected ^ self.reached)

    def problem(self) -> str | None:
        missing, extra = sorted(self.expected - self.reached), sorted(self.reached - self.expected)
        if not (missing or extra):
            return None
        return (
            f"{self.rule}: reached {sorted(self.reached) or 'no receiver'}, expected "
            f"{sorted(self.expected)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; not expected {extra}" if extra else "")
        )

    def slowest(self) -> tuple[float | None, float]:
        """The slowest expected receiver's time to notify and its bound."""
        times = [(self.seconds.get(name), self.bounds.get(name, 0.0)) for name in self.expected]
        if any(seconds is None for seconds, _ in times) or not times:
            return None, max((bound for _, bound in times), default=0.0)
        return max(times, key=lambda pair: (pair[0] or 0.0) - pair[1])


def inhibition_alerts(
    case: Inhibition, routed: Mapping[str, RoutedAlert]
) -> tuple[Mapping[str, str], Mapping[str, str], Mapping[str, str]]:
    """The source's alert, the target's alert of the same service, and the target's alert
    of another service (its labels changed by `elsewhere`)."""
    for rule in (case.source, case.target):
        if rule not in routed:
            raise RoutingConfigError(
                f"[alerts.routing.inhibit] names {rule}, which no rule file defines; "
                f"rules: {', '.join(sorted(routed))}"
            )
    target = routed[case.target].labels
    return routed[case.source].labels, target, {**target, **case.elsewhere}


@dataclass(frozen=True)
class InhibitionResult:
    """One inhibition end to end: receivers the inhibited alert still reached (should be
    none), and those another service's same alert missed (should be none)."""

    case: Inhibition
    source_reached: frozenset[str]
    target_reached: frozenset[str]
    elsewhere_missed: frozenset[str]

    @property
    def wrong(self) -> int:
        return len(self.target_reached) + len(self.elsewhere_missed)

    def problem(self) -> str | None:
        problems = []
        if self.target_reached:
            problems.append(
                f"{self.case.target} was notified to {sorted(self.target_reached)} while "
                f"{self.case.source} of the same service fired (not inhibited)"
            )
        if self.elsewhere_missed:
            problems.append(
                f"{self.case.target} of another service ({self.case.elsewhere}) never reached "
                f"{sorted(self.elsewhere_missed)}: the inhibit rule silences other services "
                "too (does its `equal` name labels the alerts carry?)"
            )
        return "; ".join(problems) or None


@dataclass(frozen=True)
class RoutingReport:
    routes: list[Route]
    inhibitions: list[InhibitionResult]
    repeats: Mapping[str, int]  # "rule -> receiver" -> notifications beyond the first
    dedup_seconds: float
    undeclared: list[RoutedAlert]  # rules whose `by` label names no receivers


def prove_routing(
    start: Any,
    config: Mapping[str, Any],
    routed: Sequence[RoutedAlert],
    inhibit: Sequence[Inhibition],
) -> RoutingReport:
    """Three Alertmanagers on the team's configuration, each delivering to its own webhook:
    every rule's alert alone (no inhibit rules: where does each go, how soon), each
    declared inhibition (source, target, target elsewhere), and every alert resent each
    second at a one-second group_interval (repeats). They run side by side, so the whole
    proof takes the longest group_wait of the tree plus the margin.

    `start(config_text) -> base URL` starts an Alertmanager (torn down by the caller)."""
    declared = [alert for alert in routed if alert.expected is not None]
    by_rule = {alert.rule: alert for alert in routed}
    bounds = notify_bounds(config)
    triples = [inhibition_alerts(case, by_rule) for case in inhibit]
    with (
        WebhookReceiver() as to_route,
        WebhookReceiver() as to_inhibit,
        WebhookReceiver() as to_dedup,
    ):
        plans: list[tuple[str, list[Mapping[str, str]]]] = [
            (start(with_webhook(config, to_route.url, inhibit=False)), [a.labels for a in routed]),
            (
                start(
                    with_webhook(
                        config,
                        to_dedup.url,
                        inhibit=False,
                        flush=(DEDUP_GROUP_WAIT, DEDUP_GROUP_INTERVAL),
                    )
                ),
                [a.labels for a in routed],
            ),
        ]
        if triples:
            plans.append(
                (
                    start(with_webhook(config, to_inhibit.url)),
                    [labels for triple in triples for labels in triple],
                )
            )
        window = max([*bounds.values(), DEDUP_SECONDS]) + MARGIN_SECONDS
        since = _resend_for(plans, window)
        routes = [
            _route(alert, delivery, bounds)
            for alert, delivery in zip(
                declared, deliveries(to_route, [a.labels for a in declared], since), strict=True
            )
        ]
        inhibitions = [
            _inhibition(case, deliveries(to_inhibit, list(triple), since), by_rule)
            for case, triple in zip(inhibit, triples, strict=True)
        ]
        repeats = {
            f"{alert.rule} -> {name}": len(times) - 1
            for alert, delivery in zip(
                routed, deliveries(to_dedup, [a.labels for a in routed], since), strict=True
            )
            for name, times in delivery.arrivals.items()
        }
    return RoutingReport(
        routes,
        inhibitions,
        repeats,
        window,
        [alert for alert in routed if alert.expected is None],
    )


def _resend_for(plans: Sequence[tuple[str, Sequence[Mapping[str, str]]]], seconds: float) -> float:
    """Post every plan's alerts now and again each `RESEND_SECONDS` for `seconds`; the
    monotonic time of the first post."""
    deadline = Deadline(seconds)
    while True:
        for url, alerts in plans:
            post_alerts(url, alerts)
        if deadline.expired:
            return deadline.started
        time.sleep(min(RESEND_SECONDS, deadline.remaining()))


def _route(alert: RoutedAlert, delivery: Delivery, bounds: Mapping[str, float]) -> Route:
    expected = alert.expected or frozenset()
    return Route(
        alert.rule,
        expected,
        delivery.receivers,
        {name: times[0] for name, times in delivery.arrivals.items()},
        {name: bounds.get(name, MARGIN_SECONDS) for name in expected | delivery.receivers},
        delivery.groups,
    )


def _inhibition(
    case: Inhibition, found: Sequence[Delivery], by_rule: Mapping[str, RoutedAlert]
) -> InhibitionResult:
    source, target, elsewhere = found
    expected = by_rule[case.target].expected or frozenset()
    return InhibitionResult(
        case, source.receivers, target.receivers, frozenset(expected - elsewhere.receivers)
    )

"""The routing proof catches a broken Alertmanager configuration and passes the shipped
one: a typo'd matcher (critical alerts miss the pager), an inhibit rule whose `equal`
names a label the alerts lack (it silences every job's warnings), and a repeat_interval
shorter than the time an alert fires (repeats) each fail, naming the problem. Real
Alertmanagers and amtool; the reference system's rules and configuration with one thing
broken, and its flush times shortened (these tests judge where alerts go, not how soon).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alerting.errors import RoutingConfigError
from alerting.routing import (
    RoutingReport,
    prove_routing,
    read_config,
    routed_alerts,
    slo_routed_alerts,
    static_receivers,
)
from alerting.rules import load_rules, rule_files
from system.description import Alerts
from system.loader import load_system

# quiet: only small servers of its own (make test runs it with the unit tests)
pytestmark = [pytest.mark.integration, pytest.mark.quiet]

REFERENCE = load_system("intelgraph").description
assert REFERENCE.alerts is not None
assert REFERENCE.alerts.routing is not None
ALERTS: Alerts = REFERENCE.alerts
SHIPPED = Path(ALERTS.routing.config).read_text()  # type: ignore[union-attr]
RULES = load_rules(rule_files(ALERTS.rules))
FAST = {"group_wait: 30s": "group_wait: 1s", "group_wait: 10s": "group_wait: 1s"}


def _alerts_with(tmp_path: Path, replacements: dict[str, str]) -> Alerts:
    text = SHIPPED
    for right, wrong in {**FAST, **replacements}.items():
        assert right in text, f"{right!r} not in the shipped configuration: update this test"
        text = text.replace(right, wrong, 1)  # the first: the pager route before inhibit_rules
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    routing = ALERTS.routing
    assert routing is not None
    return ALERTS.model_copy(update={"routing": routing.model_copy(update={"config": str(path)})})


def _prove(alerts: Alerts, starter: Any) -> RoutingReport:
    routing = alerts.routing
    assert routing is not None

    def start(text: str) -> str:
        url: str = starter("alertmanager", config=text).endpoint.url
        return url

    routed = routed_alerts(RULES, alerts) + slo_routed_alerts(alerts)
    return prove_routing(start, read_config(routing.config), routed, routing.inhibit)


def test_the_shipped_configuration_routes_inhibits_and_deduplicates(
    tmp_path: Path, starter: Any
) -> None:
    report = _prove(_alerts_with(tmp_path, {}), starter)
    assert [route.problem() for route in report.routes if route.problem()] == []
    assert {route.rule for route in report.routes} >= set(RULES)
    critical = next(route for route in report.routes if route.rule == "ServiceDown")
    assert critical.reached == {"pager", "chat", "email"}
    group = {"alertname": "ServiceDown", "job": "intelgraph-api"}  # group_by [alertname, job]
    assert critical.groups == {"pager": group, "chat": group, "email": group}
    assert [result.problem() for result in report.inhibitions] == [None, None]
    for result in report.inhibitions:
        assert result.source_reached == {"pager", "chat", "email"}
    assert report.repeats
    assert set(report.repeats.values()) == {0}


def test_a_typod_matcher_is_caught_statically_and_end_to_end(tmp_path: Path, starter: Any) -> None:
    alerts = _alerts_with(tmp_path, {'severity="critical"\']': 'severity="critcal"\']'})
    assert alerts.routing is not None
    service_down = next(a for a in routed_alerts(RULES, alerts) if a.rule == "ServiceDown")
    assert static_receivers(alerts.routing.config, service_down.labels) == {"email", "chat"}
    problems = [route.problem() for route in _prove(alerts, starter).routes if route.problem()]
    assert any(
        str(problem).startswith("ServiceDown:") and "missing ['pager']" in str(problem)
        for problem in problems
    ), problems


def test_an_inhibit_rule_equal_on_a_missing_label_is_caught(tmp_path: Path, starter: Any) -> None:
    report = _prove(_alerts_with(tmp_path, {"equal: [job]": "equal: [jbo]"}), starter)
    for result in report.inhibitions:
        assert result.elsewhere_missed == {"chat", "email"}
        assert "does its `equal` name labels the alerts carry?" in str(result.problem())


def test_a_repeat_interval_shorter_than_the_alert_fires_is_caught(
    tmp_path: Path, starter: Any
) -> None:
    report = _prove(_alerts_with(tmp_path, {"repeat_interval: 4h": "repeat_interval: 2s"}), starter)
    assert max(report.repeats.values()) >= 2, report.repeats


def test_a_configuration_alertmanager_refuses_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(SHIPPED.replace("receiver: chat\n  group_by", "receiver: chatt\n  group_by"))
    with pytest.raises(RoutingConfigError) as caught:
        read_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert "chatt" in message

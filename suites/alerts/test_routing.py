"""Alerts reach the right people: every rule's alert (and the SLO's burn-rate alerts,
`[alerts.slo]`) reaches exactly the receivers the system description expects for it
(`[alerts.routing] receivers`, by severity), within the
group_wait of its routes; a declared inhibition silences the same service's alert and not
another's; an alert resent at every evaluation is notified once.

Statically with `amtool config routes test`, end to end with the real Alertmanager running
the team's file as written, its receivers replaced by the harness's webhook
(`alerting/routing.py`). Against a profile, the amtool test runs on the configuration the
profile's Alertmanager loaded (`/api/v2/status`); the end-to-end test is skipped, saying why.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from alerting.induced import deployed_config
from alerting.routing import (
    DEDUP_GROUP_INTERVAL,
    RESEND_SECONDS,
    RoutingReport,
    prove_routing,
    read_config,
    repeat_interval_seconds,
    routed_alerts,
    slo_routed_alerts,
    static_receivers,
)
from alerting.rules import RuleSet
from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from plugins.criteria import Criteria
from plugins.evidence import attach_json, attach_text
from system.description import Alerts, Routing

NO_ROUTING = "the system description has no [alerts.routing]: nothing says who must be paged"


def _routing(system_alerts: Alerts) -> Routing:
    if system_alerts.routing is None:
        pytest.skip(NO_ROUTING)
    return system_alerts.routing


@pytest.mark.pr_gate
@pytest.mark.criteria("alert_routing")
def test_amtool_routes_every_rule_to_exactly_its_receivers(
    system_alerts: Alerts,
    test_profile: RuleSet,
    service_launcher: ServiceLauncher,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    criteria: Criteria,
) -> None:
    routing = _routing(system_alerts)
    path = Path(routing.config)
    if service_launcher.backend is Backend.EXTERNAL:
        # the configuration the profile's Alertmanager runs, not the file as committed
        alertmanager = request.getfixturevalue("alertmanager")
        path = tmp_path / "alertmanager.yml"
        path.write_text(deployed_config(alertmanager.url))
    read_config(path)
    problems = []
    for alert in routed_alerts(test_profile.rules, system_alerts) + slo_routed_alerts(
        system_alerts
    ):
        reached = static_receivers(path, alert.labels)
        expected = alert.expected
        wrong = None if expected is None else len(expected ^ reached)
        criteria.within(
            criterion="alert_routing",
            scope=f"{alert.rule} (amtool)",
            bound=0,
            unit="receivers",
            measured=wrong,
            labels=dict(alert.labels),
            reached=sorted(reached),
            expected=sorted(expected) if expected is not None else None,
        )
        if expected is None:
            problems.append(f"{alert.rule}: no receivers declared for {routing.by}")
        elif wrong:
            problems.append(
                f"{alert.rule}: amtool routes it to {sorted(reached)}, expected {sorted(expected)}"
            )
    assert not problems, f"{path}: " + "; ".join(problems)


@pytest.mark.pr_gate
@pytest.mark.quiet  # Alertmanagers and a webhook, waiting out group_wait: little CPU
@pytest.mark.criteria("alert_routing", "alert_time_to_notify", "alert_inhibition", "alert_dedup")
def test_every_rule_reaches_its_receivers_in_time_inhibited_and_once(
    system_alerts: Alerts,
    test_profile: RuleSet,
    service_launcher: ServiceLauncher,
    starter: Any,
    criteria: Criteria,
) -> None:
    routing = _routing(system_alerts)
    if service_launcher.backend is Backend.EXTERNAL:
        pytest.skip(
            "end to end locally only: it replaces the receivers, which a profile's "
            "Alertmanager must keep; the amtool test checks the profile's routes"
        )
    config = read_config(routing.config)
    routed = routed_alerts(test_profile.rules, system_alerts) + slo_routed_alerts(system_alerts)

    def start(text: str) -> str:
        url: str = starter("alertmanager", config=text).endpoint.url
        return url

    report = prove_routing(start, config, routed, routing.inhibit)
    attach_json("routing", _evidence(report))
    problems = _record(report, config, criteria)
    attach_text("routing problems", "\n".join(problems) or "none")
    assert not problems, f"{routing.config}: " + "; ".join(problems)


def _record(report: RoutingReport, config: dict[str, Any], criteria: Criteria) -> list[str]:
    problems: list[str] = []
    for alert in report.undeclared:
        criteria.within(
            criterion="alert_routing", scope=alert.rule, bound=0, unit="receivers", measured=None
        )
        problems.append(f"{alert.rule}: no receivers declared for its labels {alert.labels}")
    for route in report.routes:
        criteria.within(
            criterion="alert_routing",
            scope=route.rule,
            bound=0,
            unit="receivers",
            measured=route.wrong,
            reached=sorted(route.reached),
            expected=sorted(route.expected),
            groups={name: dict(group) for name, group in route.groups.items()},
        )
        seconds, bound = route.slowest()
        criteria.within(
            criterion="alert_time_to_notify",
            scope=route.rule,
            bound=bound,
            unit="s",
            measured=seconds,
            per_receiver=dict(route.seconds),
            bounds=dict(route.bounds),
        )
        if route.problem():
            problems.append(str(route.problem()))
        elif seconds is not None and seconds > bound:
            problems.append(f"{route.rule}: notified after {seconds:.1f} s, bound {bound:g} s")
    for result in report.inhibitions:
        criteria.within(
            criterion="alert_inhibition",
            scope=f"{result.case.source} silences {result.case.target}",
            bound=0,
            unit="notifications",
            measured=result.wrong,
            source_reached=sorted(result.source_reached),
            target_reached=sorted(result.target_reached),
            elsewhere_missed=sorted(result.elsewhere_missed),
        )
        if result.problem():
            problems.append(str(result.problem()))
    allowed = math.floor(report.dedup_seconds / repeat_interval_seconds(config))
    extra = sum(max(0, count - allowed) for count in report.repeats.values())
    criteria.within(
        criterion="alert_dedup",
        scope=f"{len(report.repeats)} alert-receiver pairs resent every {RESEND_SECONDS:g} s "
        f"for {report.dedup_seconds:g} s, group_interval {DEDUP_GROUP_INTERVAL}",
        bound=0,
        unit="notifications",
        measured=extra if report.repeats else None,
        repeats=dict(report.repeats),
    )
    if extra:
        repeated = sorted(key for key, count in report.repeats.items() if count > allowed)
        problems.append(f"notified more than once per repeat_interval: {', '.join(repeated)}")
    return problems


def _evidence(report: RoutingReport) -> dict[str, Any]:
    return {
        "routes": [
            {
                "rule": route.rule,
                "expected": sorted(route.expected),
                "reached": sorted(route.reached),
                "seconds": dict(route.seconds),
                "bounds": dict(route.bounds),
            }
            for route in report.routes
        ],
        "inhibitions": [
            {
                "source": result.case.source,
                "target": result.case.target,
                "source_reached": sorted(result.source_reached),
                "target_reached": sorted(result.target_reached),
                "elsewhere_missed": sorted(result.elsewhere_missed),
            }
            for result in report.inhibitions
        ],
        "repeats": dict(report.repeats),
    }

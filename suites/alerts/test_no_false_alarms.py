"""No rule of the system fires on a healthy system: a healthy target under its normal load
(the description's `[alerts] normal_traffic`) and a good drill's results in the
Pushgateway (`[alerts] healthy`), for several evaluation cycles.

The series that window leaves in the stack's Prometheus are then what every selector of the
production rules is checked against (`alerting/series.py`): a rule whose metric or label
the real target does not export passes promtool's unit tests and never fires. The SLO's
rules (Sloth's recordings and alerts) are in the stack as written, and checked the same
way. One row of `alert_live_series`, at no extra wait."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alerting.conditions import push_healthy
from alerting.deployed import rule_directories, rule_texts, written_rules
from alerting.e2e import expect_silence, prepare
from alerting.errors import FalseAlarmError
from alerting.rules import RuleSet
from alerting.series import Report, check_live_series
from alerting.stack import AlertStack
from alerting.traffic import Traffic
from alerting.webhook import WebhookReceiver
from plugins.criteria import Criteria
from plugins.evidence import attach_json, attach_text
from plugins.settings import HarnessContext
from system.description import Alerts
from system.sampling import Sampler

# Three times the longest path to firing in the test profile (scrape + eval + for: 7 s).
HEALTHY_SECONDS = 21.0
RECORDS = 40  # created through the description's write path first, for the load to read
# Normal load: two clients, each pausing 30 ms between answers (up to ~60 requests/s), a
# rate with headroom, not as fast as the target can answer: flat out, the target and its
# databases took a core and a half, beside the other worker's tests.
CLIENTS = 2
PAUSE_SECONDS = 0.03


def _alarms(stack: AlertStack) -> set[str]:
    """The alerts firing in Prometheus or notified to the webhook now."""
    firing = {
        str(alert["labels"].get("alertname"))
        for alert in stack.alerts()
        if alert.get("state") == "firing"
    }
    notified = {
        str(alert.get("labels", {}).get("alertname"))
        for payload in stack.receiver.payloads()
        for alert in payload.get("alerts", [])
    }
    return firing | notified


def _slo_rules(alerts: Alerts) -> dict[str, str]:
    """The SLO's rules as written (Sloth's recordings and alerts, the budget's): in the
    stack for their recorded series, which the live-series check reads. Their production
    windows and `for:` cannot fire within the window; their own proof is
    test_slo_burn_rate.py's."""
    return rule_texts([Path(alerts.slo.rules)]) if alerts.slo is not None else {}


def _live_series(prometheus_url: str, alerts: Alerts, criteria: Criteria) -> Report:
    """The production rules' selectors against the Prometheus's series (the test profile's
    rules differ only in `for:` and windows), the SLO's included: one row, the findings as
    evidence."""
    directories = rule_directories(alerts)
    rules = written_rules(directories)
    report = check_live_series(prometheus_url, rules)
    names = ", ".join(f"{directory.parent.name}/{directory.name}" for directory in directories)
    criteria.within(
        criterion="alert_live_series",
        scope=f"{len(rules)} rules of {names}",
        bound=0,
        unit="selectors",
        measured=report.failing_selectors,
        problems=[str(problem) for problem in report.problems],
        notes=[str(note) for note in report.notes],
    )
    attach_text("rules against live series", report.evidence())
    return report


@pytest.mark.pr_gate
# The target's latency and errors under load decide it: measured alone, as the load suites
# measure (beside the other worker's restores a healthy target can be slowed into firing).
@pytest.mark.exclusive
@pytest.mark.criteria("no_false_alarms", "alert_live_series")
def test_no_alert_fires_on_a_healthy_target_under_normal_load(
    harness_context: HarnessContext,
    system_alerts: Alerts,
    test_profile: RuleSet,
    starter: Any,
    receiver: WebhookReceiver,
    criteria: Criteria,
) -> None:
    description = harness_context.system.description
    stack, situation = prepare(
        starter,
        receiver,
        {**test_profile.texts, **_slo_rules(system_alerts)},
        set(test_profile.rules),
        job=system_alerts.job,
        target=True,
        write_path=description.write_path,
        records=RECORDS,
    )
    push_healthy(situation.pushgateway_url, system_alerts)
    lines = system_alerts.normal_traffic
    scope = f"healthy target, {HEALTHY_SECONDS:g} s of normal load"

    def record(alarms: set[str]) -> None:
        criteria.within(
            criterion="no_false_alarms",
            scope=scope,
            bound=0,
            unit="alerts",
            measured=len(alarms),
            rules=len(test_profile.rules),
            fired=sorted(alarms),
        )

    try:
        try:
            if not lines:
                attach_text("normal load", "the description's [alerts] normal_traffic is empty")
                near_misses = expect_silence(stack, HEALTHY_SECONDS, description.metrics)
            else:
                with Traffic(
                    situation.target_url,
                    lines,
                    Sampler(description),
                    concurrency=CLIENTS,
                    deadline_seconds=HEALTHY_SECONDS + 5,
                    pause_seconds=PAUSE_SECONDS,
                ) as traffic:
                    near_misses = expect_silence(stack, HEALTHY_SECONDS, description.metrics)
                assert traffic.sent > HEALTHY_SECONDS, "the normal load did not run"
        except FalseAlarmError:
            record(_alarms(stack) or {"(an alert, gone before it was counted)"})
            raise
        finally:  # whatever the window showed, its series are there to check the rules by
            live = _live_series(stack.prometheus_url, system_alerts, criteria)
        record(set())
        if near_misses:  # pending, never firing: what `for:` absorbs; kept as evidence
            attach_text("pending, never firing", ", ".join(near_misses))
        if live.problems:
            pytest.fail(live.summary())
    finally:
        situation.close()
        attach_json("webhook payloads", receiver.payloads())

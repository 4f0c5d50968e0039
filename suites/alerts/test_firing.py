"""Every shipped rule fires end to end, within its bound, with its labels and annotations.

The real condition is induced (design section 7): the target slowed for P95LatencyHigh,
made to fail for HighErrorRate, killed for ServiceDown, drill results pushed for the DR
and drill rules. Prometheus scrapes and evaluates the test profile's rules (short `for:`)
and Alertmanager (`group_wait: 0s`) notifies the harness's webhook. The bound is
`scrape + evaluation + for + group_wait + detection + margin` (`alerting/bounds.py`).
For the pushed results, the alert must also resolve once a healthy result is pushed.
"""

from __future__ import annotations

from typing import Any

import pytest

from alerting.conditions import CONDITIONS
from alerting.e2e import Measured, expect_fires, expect_resolves, prepare, table
from alerting.rules import RuleSet
from alerting.webhook import WebhookReceiver
from plugins.criteria import Criteria
from plugins.evidence import attach_json, attach_text


@pytest.mark.pr_gate
def test_rule_fires_end_to_end_within_its_bound(
    alert_rule_name: str,
    test_profile: RuleSet,
    starter: Any,
    receiver: WebhookReceiver,
    alert_timings: list[Measured],
    criteria: Criteria,
) -> None:
    rule = test_profile.rules[alert_rule_name]
    condition = CONDITIONS.get(rule.name)
    assert condition is not None, f"{rule.name} has no way to induce it in alerting/conditions.py"
    stack, situation = prepare(
        starter, receiver, condition.faults, test_profile.texts, {rule.name}, warm=condition.warm
    )
    try:
        fired = expect_fires(stack, rule, condition, situation)
        measured = [fired]
        if condition.remove is not None:
            measured.append(expect_resolves(stack, rule, condition, situation))
    finally:
        situation.close()
        attach_json("webhook payloads", receiver.payloads())
    alert_timings.extend(measured)
    attach_text("time to fire and resolve", table(measured))
    for item in measured:
        criteria.record(
            criterion=f"alert_time_to_{item.event}",
            scope=item.rule,
            bound=item.bound,
            unit="s",
            measured=item.seconds,
            verdict="pass" if item.seconds <= item.bound else "fail",
        )
    for item in measured:
        assert item.seconds <= item.bound, item.row()

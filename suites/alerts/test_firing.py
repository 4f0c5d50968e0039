"""Every rule of the system fires end to end, within its bound, with its labels and
annotations.

The real condition is induced as the system description's `[alerts.induce.<rule>]` says
(design section 7): the target started with a named fault and sent traffic, killed, or
results pushed to the Pushgateway. Prometheus scrapes and evaluates the test profile's
rules (short `for:`) and Alertmanager (`group_wait: 0s`) notifies the harness's webhook.
The bound is `scrape + evaluation + for + group_wait + detection + margin`
(`alerting/bounds.py`). When the inducement says what ends the condition (`resolve`),
the alert must also resolve once that is pushed. A rule without an inducement is
skipped, naming it (`plugins/alert_selection.py`).
"""

from __future__ import annotations

from typing import Any

import pytest

from alerting.conditions import condition_for, describe, no_inducement
from alerting.e2e import Measured, expect_fires, expect_resolves, prepare_condition, table
from alerting.rules import RuleSet
from alerting.webhook import WebhookReceiver
from plugins.criteria import Criteria
from plugins.evidence import attach_json, attach_text
from plugins.settings import HarnessContext
from system.description import Alerts


@pytest.mark.pr_gate
def test_rule_fires_end_to_end_within_its_bound(
    alert_rule_name: str,
    harness_context: HarnessContext,
    system_alerts: Alerts,
    test_profile: RuleSet,
    starter: Any,
    receiver: WebhookReceiver,
    alert_timings: list[Measured],
    criteria: Criteria,
) -> None:
    rule = test_profile.rules[alert_rule_name]
    system = harness_context.system
    condition = condition_for(system.description, rule.name)
    if condition is None:
        pytest.skip(no_inducement(rule.name, system.source))
    attach_json("inducement", describe(condition))
    stack, situation = prepare_condition(
        starter,
        receiver,
        test_profile.texts,
        {rule.name},
        condition=condition,
        job=system_alerts.job,
    )
    try:
        fired = expect_fires(stack, rule, condition, situation)
        measured = [fired]
        if condition.removable:
            measured.append(expect_resolves(stack, rule, condition, situation))
    finally:
        situation.close()
        attach_json("webhook payloads", receiver.payloads())
    alert_timings.extend(measured)
    attach_text("time to fire and resolve", table(measured))
    for item in measured:
        criteria.within(
            criterion=f"alert_time_to_{item.event}",
            scope=item.rule,
            bound=item.bound,
            unit="s",
            measured=item.seconds,
        )
        if item.detect_bound is not None:
            criteria.within(
                criterion="alert_time_to_detect",
                scope=item.rule,
                bound=item.detect_bound,
                unit="s",
                measured=item.detect_seconds,
            )
    for item in measured:
        assert item.seconds <= item.bound, item.row()

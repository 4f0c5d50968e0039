"""No shipped rule fires on a healthy system: a healthy target under normal load and a
good drill's results in the Pushgateway, for several evaluation cycles."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.conditions import push_healthy_drill
from alerting.e2e import expect_silence, prepare
from alerting.traffic import Traffic
from alerting.webhook import WebhookReceiver
from plugins.evidence import attach_json
from suites.alerts.conftest import RuleSet

# Three times the longest path to firing in the test profile (scrape + eval + for: 7 s).
HEALTHY_SECONDS = 21.0
NORMAL_LOAD_PATHS = [f"/entities/{n}" for n in range(1, 40)] + [
    f"/graph/{n}/neighbors?depth={1 + n % 3}" for n in range(1, 20)
]


@pytest.mark.pr_gate
def test_no_alert_fires_on_a_healthy_target_under_normal_load(
    test_profile: RuleSet,
    starter: Any,
    receiver: WebhookReceiver,
) -> None:
    stack, situation = prepare(starter, receiver, {}, test_profile.texts, set(test_profile.rules))
    push_healthy_drill(situation.pushgateway_url)
    try:
        with Traffic(situation.target_url, NORMAL_LOAD_PATHS, 2, HEALTHY_SECONDS + 5) as traffic:
            expect_silence(stack, HEALTHY_SECONDS)
        assert traffic.sent > HEALTHY_SECONDS, "the normal load did not run"
    finally:
        situation.close()
        attach_json("webhook payloads", receiver.payloads())

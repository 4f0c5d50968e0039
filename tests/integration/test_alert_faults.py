"""The alert checks catch broken rules: a typo in a metric name or a wrong label matcher
makes the end-to-end check fail with "did not fire within N s", and a rule that fires on
a healthy target makes the false-alarm check fail. Real Prometheus, Alertmanager and
Pushgateway; the rules are the reference system's with one thing broken, each induced
as its description says."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.conditions import condition_for, push_healthy
from alerting.e2e import expect_fires, expect_silence, prepare, prepare_condition
from alerting.errors import AlertDidNotFireError, FalseAlarmError
from alerting.rules import rules_from_texts, shortened_rule_files
from alerting.webhook import WebhookReceiver
from system.loader import load_system

REFERENCE = load_system("intelgraph").description
assert REFERENCE.alerts is not None
ALERTS = REFERENCE.alerts

# quiet: only small servers of its own (make test runs it with the unit tests)
pytestmark = [pytest.mark.integration, pytest.mark.quiet]

ALWAYS_FIRING = """\
groups:
  - name: broken
    rules:
      - alert: FiresOnHealthyTarget
        expr: up == 1
        for: 2s
        annotations:
          summary: "{{ $labels.job }} is up, which this rule wrongly calls a problem"
"""


def broken(file_name: str, wrong: str, right: str) -> dict[str, str]:
    texts = shortened_rule_files(ALERTS.rules)
    assert right in texts[file_name], f"{right!r} not in {file_name}: update this test"
    texts[file_name] = texts[file_name].replace(right, wrong)
    return texts


@pytest.mark.parametrize(
    "breakage",
    [
        (
            "RPOViolated",
            "dr.rules.yml",
            "intelgraph_dr_rpo_actual_second ",
            "intelgraph_dr_rpo_actual_seconds ",
        ),
        (
            "ChaosDrillFailed",
            "chaos.rules.yml",
            'chaos_experiment_passed{experiment="nightly"}',
            "chaos_experiment_passed",
        ),
    ],
    ids=["metric-name-typo", "wrong-label-matcher"],
)
def test_a_broken_rule_fails_the_firing_check(
    breakage: tuple[str, str, str, str], starter: Any, receiver: WebhookReceiver
) -> None:
    rule_name, file_name, wrong, right = breakage
    texts = broken(file_name, wrong, right)
    rule = rules_from_texts(texts)[rule_name]
    condition = condition_for(REFERENCE, rule_name)
    assert condition is not None
    stack, situation = prepare_condition(
        starter, receiver, texts, {rule_name}, condition=condition, job=ALERTS.job
    )
    with pytest.raises(AlertDidNotFireError, match=rf"^{rule_name} did not fire within \d+\.\d s"):
        expect_fires(stack, rule, condition, situation)


def test_a_rule_firing_on_a_healthy_target_fails_the_false_alarm_check(
    starter: Any, receiver: WebhookReceiver
) -> None:
    texts = {**shortened_rule_files(ALERTS.rules), "broken.rules.yml": ALWAYS_FIRING}
    stack, situation = prepare(
        starter, receiver, texts, {"FiresOnHealthyTarget"}, job=ALERTS.job, target=False
    )
    push_healthy(situation.pushgateway_url, ALERTS)
    with pytest.raises(FalseAlarmError, match="false alarm on a healthy target: FiresOnHealthy"):
        expect_silence(stack, 15.0)

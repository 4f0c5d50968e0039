"""Rule files, the test profile and the timing bounds (pure logic, plus promtool)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from alerting.bounds import Timing, fire_bound, resolve_bound
from alerting.errors import AlertRuleError, WebhookPortError
from alerting.rules import (
    check_rules,
    load_rules,
    parse_duration,
    rule_files,
    rules_from_texts,
    select_rules,
    shorten_for_tests,
    shortened_rule_files,
)
from alerting.webhook import WebhookReceiver

DESIGN_RULES = {
    "P95LatencyHigh",
    "HighErrorRate",
    "ServiceDown",
    "RPOViolated",
    "RTOViolated",
    "ChaosDrillFailed",
    "ChaosDrillNotRun",
}


def test_every_rule_of_the_design_is_shipped_with_production_durations() -> None:
    rules = load_rules(rule_files())
    assert set(rules) == DESIGN_RULES
    assert rules["P95LatencyHigh"].for_seconds == 120
    assert rules["ChaosDrillNotRun"].for_seconds == 3600
    assert "[5m]" in rules["HighErrorRate"].expr
    assert all(rule.annotations.get("summary") for rule in rules.values())


def test_the_test_profile_shortens_for_and_windows_and_keeps_the_rest() -> None:
    production = load_rules(rule_files())
    shortened = rules_from_texts(shortened_rule_files())
    assert set(shortened) == set(production)
    assert shortened["P95LatencyHigh"].for_seconds == 5
    assert shortened["RPOViolated"].for_seconds == 0  # no `for:` stays none
    assert "[10s]" in shortened["HighErrorRate"].expr
    assert "[5m]" not in shortened["HighErrorRate"].expr
    assert (
        shortened["HighErrorRate"].expr.replace("[10s]", "[5m]")
        == production["HighErrorRate"].expr.replace("\n", " ").replace("  ", " ")
        or "> 0.01" in shortened["HighErrorRate"].expr
    )
    for name, rule in production.items():
        assert shortened[name].labels == rule.labels
        assert shortened[name].annotations == rule.annotations


def test_shorten_keeps_templates_intact() -> None:
    text = (
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m]) > 1\n"
        "        for: 10m\n        annotations:\n"
        "          summary: '{{ $labels.job }} {{ $value }}'\n"
    )
    rule = rules_from_texts({"a.rules.yml": shorten_for_tests(text, "3s", "7s")})["A"]
    assert rule.expr == "rate(x[7s]) > 1"
    assert rule.for_seconds == 3
    assert rule.annotations["summary"] == "{{ $labels.job }} {{ $value }}"


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("2m", 120), ("1h30m", 5400), ("35d", 3024000), ("0", 0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2 minutes", "5", "1h 30m", "m"])
def test_malformed_durations_are_named(text: str) -> None:
    with pytest.raises(AlertRuleError, match="is not a Prometheus duration"):
        parse_duration(text)


def test_a_rule_file_that_does_not_parse_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.rules.yml"
    path.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: [up\n")
    with pytest.raises(AlertRuleError) as raised:
        load_rules([path])
    message = str(raised.value)
    assert "\n" not in message
    assert str(path) in message
    assert "not valid YAML at line" in message


def test_a_rule_promtool_rejects_is_one_line_with_promtools_reason(tmp_path: Path) -> None:
    path = tmp_path / "typo.rules.yml"
    path.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n")
    with pytest.raises(AlertRuleError) as raised:
        check_rules(path)
    message = str(raised.value)
    assert "\n" not in message
    assert "do not pass promtool check" in message
    assert "parse error" in message


def test_an_unknown_rule_name_names_the_known_ones() -> None:
    with pytest.raises(AlertRuleError, match="unknown alert rule NoSuchRule; known: ChaosDrill"):
        select_rules(load_rules(rule_files()), ["ServiceDown", "NoSuchRule"])


def test_selection_keeps_the_order_asked_for() -> None:
    rules = load_rules(rule_files())
    assert [rule.name for rule in select_rules(rules, ["ServiceDown", "RPOViolated"])] == [
        "ServiceDown",
        "RPOViolated",
    ]
    assert len(select_rules(rules, [])) == len(rules)


def test_bounds_add_up_each_stage() -> None:
    timing = Timing(scrape_interval=1, evaluation_interval=2, group_wait=3, group_interval=4)
    assert fire_bound(timing, for_seconds=5, detection_seconds=6) == 1 + 2 + 5 + 3 + 6 + 2
    assert resolve_bound(timing, window_seconds=10) == 1 + 2 + 10 + 4 + 2


def test_webhook_port_taken_is_one_clear_line() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(WebhookPortError, match=rf"port {port} on 127.0.0.1 is taken"):
            WebhookReceiver(port)


def test_webhook_records_and_finds_notifications() -> None:
    import requests  # noqa: PLC0415

    with WebhookReceiver() as receiver:
        payload = {
            "status": "firing",
            "alerts": [{"status": "firing", "labels": {"alertname": "A", "job": "x"}}],
        }
        assert requests.post(receiver.url, json=payload, timeout=5).status_code == 200
        notification, alert = receiver.wait_for("A", 2.0, labels={"job": "x"})
        assert alert["labels"]["job"] == "x"
        assert notification.payload == payload
        with pytest.raises(AssertionError, match=r"^A did not resolve within 0\.2 s"):
            receiver.wait_for("A", 0.2, status="resolved")

"""Rule files, the test profile, the inducements of the system description and the
timing bounds (pure logic, plus promtool)."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alerting.bounds import Timing, fire_bound, resolve_bound
from alerting.conditions import (
    check_inducements,
    condition_for,
    no_inducement,
)
from alerting.errors import AlertRuleError, WebhookPortError
from alerting.induced import (
    check_inducible,
    fault_bounds,
    fault_rules,
    inducible,
    inducible_rules,
    profile_fault,
)
from alerting.rules import (
    check_rules,
    load_rules,
    longest_window,
    parse_duration,
    rule_files,
    rule_tests_file,
    rules_from_texts,
    select_rules,
    shorten_for_tests,
    shortened_rule_files,
)
from alerting.traffic import Traffic, create_records
from alerting.webhook import WebhookReceiver
from drill import publish as drill_publish
from system.description import ProfileFault, Publish
from system.loader import load_system
from system.sampling import Sampler

REFERENCE = load_system("intelgraph")
assert REFERENCE.description.alerts is not None
ALERTS = REFERENCE.description.alerts
RULES_DIR = ALERTS.rules

DESIGN_RULES = {
    "P95LatencyHigh",
    "HighErrorRate",
    "ServiceDown",
    "RPOViolated",
    "RTOViolated",
    "ChaosDrillFailed",
    "ChaosDrillNotRun",
    "ReplicationLagHigh",  # issue 24: the standby's lag (the design's metric name)
}


def test_every_rule_of_the_design_is_shipped_with_production_durations() -> None:
    rules = load_rules(rule_files(RULES_DIR))
    assert set(rules) == DESIGN_RULES
    assert rules["P95LatencyHigh"].for_seconds == 120
    assert rules["ChaosDrillNotRun"].for_seconds == 3600
    assert rules["ReplicationLagHigh"].for_seconds == 120
    assert "[5m]" in rules["HighErrorRate"].expr
    assert all(rule.annotations.get("summary") for rule in rules.values())


def test_the_test_profile_shortens_for_and_windows_and_keeps_the_rest() -> None:
    production = load_rules(rule_files(RULES_DIR))
    shortened = rules_from_texts(shortened_rule_files(RULES_DIR))
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
        select_rules(load_rules(rule_files(RULES_DIR)), ["ServiceDown", "NoSuchRule"])


def test_selection_keeps_the_order_asked_for() -> None:
    rules = load_rules(rule_files(RULES_DIR))
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


def test_the_rules_are_the_descriptions_and_each_has_its_promtool_tests() -> None:
    files = rule_files(RULES_DIR)
    assert files, f"no rule file in {RULES_DIR}"
    assert all(Path(RULES_DIR) in path.parents for path in files)
    for path in files:
        assert rule_tests_file(path) == path.parent / "tests" / path.name.replace(
            ".rules.yml", ".test.yml"
        )
        assert rule_tests_file(path).is_file()


def test_every_rule_of_the_reference_is_induced_and_every_inducement_names_a_rule() -> None:
    rules = load_rules(rule_files(RULES_DIR))
    assert set(ALERTS.induce) == set(rules)
    check_inducements(ALERTS, list(rules), REFERENCE.source)  # no error


def test_a_fault_inducement_starts_the_target_with_that_fault_and_sends_traffic() -> None:
    condition = condition_for(REFERENCE.description, "P95LatencyHigh")
    assert condition is not None
    assert condition.needs_target
    assert condition.fault == "graph_slow"
    assert condition.warm  # the fault's own warm-up: once
    assert condition.detection_seconds == 3.0
    assert condition.labels == {
        "job": "intelgraph-api",
        "database": "neo4j",
        "severity": "critical",
    }
    assert not condition.removable
    assert condition.inducement.clients == 8
    sampler = Sampler(REFERENCE.description)
    paths = [sampler.fill(line.path) for line in condition.inducement.traffic for _ in range(51)]
    assert paths[0] == "/graph/1/neighbors?depth=1"
    assert paths[49] == "/graph/50/neighbors?depth=1"
    assert paths[50] == paths[0], "the traffic cycles through the description's values"


def test_a_kill_needs_an_unwarmed_target_and_a_push_none() -> None:
    down = condition_for(REFERENCE.description, "ServiceDown")
    assert down is not None
    assert down.needs_target
    assert down.inducement.kill
    assert not down.warm
    assert down.fault is None
    pushed = condition_for(REFERENCE.description, "ChaosDrillNotRun")
    assert pushed is not None
    assert not pushed.needs_target
    assert pushed.removable
    (bad,) = pushed.inducement.push
    assert bad.resolve(1_000_000_000.0) == 1_000_000_000.0 - 36 * 86_400


def test_a_rule_without_an_inducement_is_named_with_the_description() -> None:
    assert condition_for(REFERENCE.description, "NoSuchRule") is None
    reason = no_inducement("NoSuchRule", REFERENCE.source)
    assert reason.startswith("NoSuchRule ")
    assert f"no [alerts.induce.NoSuchRule] in {REFERENCE.source}" in reason


def test_an_inducement_of_an_unknown_rule_is_one_line_naming_it() -> None:
    rules = [name for name in load_rules(rule_files(RULES_DIR)) if name != "ServiceDown"]
    with pytest.raises(AlertRuleError) as raised:
        check_inducements(ALERTS, rules, REFERENCE.source)
    message = str(raised.value)
    assert "\n" not in message
    assert "[alerts.induce.ServiceDown] names no rule of the rule files" in message


def test_a_profile_may_induce_only_the_rules_pushed_in_the_description() -> None:
    pushed = [
        "RPOViolated",
        "RTOViolated",
        "ReplicationLagHigh",
        "ChaosDrillFailed",
        "ChaosDrillNotRun",
    ]
    assert inducible_rules(REFERENCE.description) == pushed
    check_inducible(("RPOViolated", "ChaosDrillFailed"), REFERENCE.description)
    with pytest.raises(AlertRuleError) as raised:
        check_inducible(("ServiceGone", "RPOViolated"), REFERENCE.description)
    message = str(raised.value)
    assert "\n" not in message
    assert "[alerts] induce names ServiceGone, which the harness cannot induce" in message
    faulted = ["P95LatencyHigh", "HighErrorRate", "ServiceDown"]
    assert message.endswith("it can: " + ", ".join([*pushed, *faulted]))
    rpo = inducible(REFERENCE.description, "RPOViolated")
    assert [push.resolve(0) for push in rpo.bad] == [400.0]
    assert [push.resolve(0) for push in rpo.good] == [42.0]
    assert rpo.labels == {
        "job": "reliability-drill",
        "database": "postgres",
        "severity": "critical",
    }


def test_traffic_goes_to_loopback_only_and_no_write_path_creates_nothing() -> None:
    sampler = Sampler(REFERENCE.description)
    with pytest.raises(ValueError, match="loopback only"):
        Traffic(
            "http://192.0.2.1:8000",
            ALERTS.normal_traffic,
            sampler,
            concurrency=1,
            deadline_seconds=1,
        )
    assert create_records("http://192.0.2.1:8000", None, 40) == []


VERDICT = {
    "criteria": [
        {"criterion": "chaos_hypothesis", "scope": "redis-kill", "verdict": "pass"},
        {"criterion": "rpo", "scope": "postgres", "verdict": "pass", "measured": 2.5,
         "details": {"database": "postgres"}},
        {"criterion": "rto", "scope": "postgres", "verdict": "pass", "measured": 13.2,
         "details": {"database": "postgres"}},
    ]
}  # fmt: skip


def test_the_drill_publishes_dr_results_under_the_descriptions_names() -> None:
    names = Publish(rpo="system_rpo_seconds", rto="system_rto_seconds")
    pushed = drill_publish.results(VERDICT, 7.0, names)
    assert ("system_rpo_seconds", 2.5, {"database": "postgres"}) in pushed
    assert ("system_rto_seconds", 13.2, {"database": "postgres"}) in pushed
    assert drill_publish.unpublished(VERDICT, names) == []


def test_a_dr_result_without_a_name_is_not_published_and_said_so() -> None:
    names = Publish(rpo="system_rpo_seconds")
    pushed = drill_publish.results(VERDICT, 7.0, names)
    assert [name for name, _, _ in pushed if "rto" in name] == []
    (line,) = drill_publish.unpublished(VERDICT, names)
    assert "RTO is not pushed" in line
    assert "[publish] names no rto gauge" in line
    assert len(drill_publish.unpublished(VERDICT, Publish())) == 2


PLUGINS = 'pytest_plugins = ["plugins.target", "plugins.alert_selection", "plugins.services"]'
RULE_TEST = "def test_x(alert_rule_name):\n    assert alert_rule_name\n"
PUSHED_RPO = (
    '[alerts.induce.RPOViolated]\npush = [{ metric = "system_rpo_seconds", value = 400 }]\n'
)


def _description(pytester: pytest.Pytester, body: str) -> str:
    text = f'version = 1\nname = "mini"\n{body}'
    return str(pytester.makefile(".toml", system=text))


def _alerts(induce: str) -> str:
    return f'[alerts]\nrules = "{RULES_DIR}"\njob = "mini-api"\n{induce}'


def test_a_rule_without_inducement_is_a_skipped_test_naming_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(PLUGINS)
    pytester.makepyfile(test_x=RULE_TEST)
    path = _description(pytester, _alerts(PUSHED_RPO))
    result = pytester.runpytest_subprocess("--system", path, "-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=7)
    text = "\n".join(result.outlines)
    assert f"ServiceDown is not induced end to end: no [alerts.induce.ServiceDown] in {path}" in (
        text
    )


def test_an_inducement_of_a_rule_not_in_the_rule_files_stops_the_run(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(PLUGINS)
    pytester.makepyfile(test_x=RULE_TEST)
    wrong = PUSHED_RPO.replace("RPOViolated", "RPOViolatd")
    path = _description(pytester, _alerts(wrong))
    result = pytester.runpytest_subprocess("--system", path, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert len(errors) == 1, result.errlines
    assert "[alerts.induce.RPOViolatd] names no rule of the rule files" in errors[0]
    assert "Traceback" not in "\n".join(result.errlines)


def test_a_description_without_alerts_skips_the_alert_tests_saying_so(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(PLUGINS)
    pytester.makepyfile(
        test_x=RULE_TEST + "\n\ndef test_y(alert_rule_file):\n    assert alert_rule_file\n"
    )
    path = _description(pytester, "")
    result = pytester.runpytest_subprocess("--system", path, "-rs", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=2)
    text = "\n".join(result.outlines)
    assert "test_x[none]" in text
    assert "test_y[none]" in text
    assert "declares no [alerts]" in text


def test_a_profile_may_induce_only_pushed_rules_checked_before_any_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(PLUGINS)
    pytester.makepyfile(test_x=RULE_TEST)
    profile = pytester.makefile(
        ".toml", profile='[target]\nname = "staging"\n[alerts]\ninduce = ["ServiceGone"]\n'
    )
    result = pytester.runpytest_subprocess("--target", str(profile), "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert len(errors) == 1, result.errlines
    assert "[alerts] induce names ServiceGone, which the harness cannot induce" in errors[0]
    assert "it can: RPOViolated, RTOViolated, ReplicationLagHigh, ChaosDrillFailed" in errors[0]


def test_a_rule_induced_through_a_fault_needs_its_kind_in_chaos_allow() -> None:
    assert fault_rules(REFERENCE.description) == ["P95LatencyHigh", "HighErrorRate", "ServiceDown"]
    check_inducible(("HighErrorRate",), REFERENCE.description, ("latency", "partition"))
    check_inducible(("HighErrorRate",), REFERENCE.description, None)  # local: anything
    with pytest.raises(AlertRuleError) as raised:
        check_inducible(("RPOViolated", "HighErrorRate"), REFERENCE.description, ("latency",))
    assert str(raised.value) == (
        "[alerts] induce names HighErrorRate, induced through a partition of neo4j: add "
        "'partition' to [chaos] allow, or take HighErrorRate out of [alerts] induce"
    )
    fault = profile_fault(REFERENCE.description, "HighErrorRate")
    assert (fault.dependency, fault.kind, fault.detection) == ("neo4j", "partition", 3.0)
    with pytest.raises(AlertRuleError, match="pushes nothing"):
        inducible(REFERENCE.description, "HighErrorRate")


def test_a_rule_induced_by_stopping_the_target_needs_kill_allowed_and_the_hooks() -> None:
    """ServiceDown against a profile: the environment's own stop and start commands."""
    both = ("stop_api", "start_api")
    check_inducible(("ServiceDown",), REFERENCE.description, ("kill",), both)
    with pytest.raises(AlertRuleError) as unallowed:
        check_inducible(("ServiceDown",), REFERENCE.description, ("latency",), both)
    assert str(unallowed.value) == (
        "[alerts] induce names ServiceDown, induced through the target stopped by the "
        "profile's [hooks] stop_api: add 'kill' to [chaos] allow, or take ServiceDown out "
        "of [alerts] induce"
    )
    with pytest.raises(AlertRuleError) as hookless:
        check_inducible(("ServiceDown",), REFERENCE.description, ("kill",), ())
    assert str(hookless.value) == (
        "[alerts] induce names ServiceDown, induced by stopping the target: the profile "
        "needs [hooks] stop_api and start_api (the environment's own commands), or take "
        "ServiceDown out of [alerts] induce"
    )
    fault = profile_fault(REFERENCE.description, "ServiceDown")
    assert (fault.kind, fault.dependency, fault.traffic) == ("kill", None, ())


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ({"kind": "kill", "dependency": "neo4j"}, 'kind = "kill" stops the target itself'),
        ({"kind": "partition", "dependency": "neo4j"}, "needs `dependency` and `traffic`"),
        ({"kind": "latency", "latency": "1s", "traffic": ["GET /x"]}, "needs `dependency`"),
    ],
    ids=["kill-with-dependency", "partition-without-traffic", "latency-without-dependency"],
)
def test_a_profile_fault_of_the_wrong_shape_is_refused(fault: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(problem)):
        ProfileFault.model_validate(fault)


def test_fault_bounds_wait_for_the_rules_window_to_resolve() -> None:
    fault = profile_fault(REFERENCE.description, "HighErrorRate")
    fire, resolve = fault_bounds(Timing(15, 15, 30, 300), 120, 300, fault)
    assert fire == 15 + 15 + 120 + 30 + 3 + 2
    assert resolve == 15 + 15 + 300 + 300 + 3 + 2
    assert longest_window("sum(rate(x[5m])) / sum(rate(x[1h30m]))") == 5400
    assert longest_window("up == 0") == 0

"""Pure logic of the routing proof: the team's configuration with the harness's webhook in
place of every receiver (nothing else changed), the bounds its group_wait sets per
receiver, each rule's alert labels and expected receivers, and how problems read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerting.routing import (
    InhibitionResult,
    Route,
    notify_bounds,
    repeat_interval_seconds,
    routed_alerts,
    with_webhook,
)
from alerting.rules import load_rules, rule_files
from system.description import Inhibition
from system.loader import DescriptionError, load_system

REFERENCE = load_system("intelgraph").description
assert REFERENCE.alerts is not None
ALERTS = REFERENCE.alerts
assert ALERTS.routing is not None
CONFIG_PATH = ALERTS.routing.config
CONFIG = yaml.safe_load(Path(CONFIG_PATH).read_text())
RULES = load_rules(rule_files(ALERTS.rules))
URL = "http://127.0.0.1:1/alerts"


def test_every_receiver_delivers_to_the_webhook_and_nothing_else_changes() -> None:
    harness = yaml.safe_load(with_webhook(CONFIG, URL))
    assert harness["route"] == CONFIG["route"]
    assert harness["inhibit_rules"] == CONFIG["inhibit_rules"]
    assert harness["global"] == {"resolve_timeout": "5m"}
    assert {receiver["name"] for receiver in harness["receivers"]} == {
        "pager",
        "chat",
        "email",
        "harness-test",
    }
    for receiver in harness["receivers"]:
        assert receiver["webhook_configs"] == [{"url": URL, "send_resolved": True}]
        assert set(receiver) == {"name", "webhook_configs"}
    assert "secrets" not in with_webhook(CONFIG, URL)


def test_without_inhibit_rules_and_with_a_short_flush() -> None:
    harness = yaml.safe_load(with_webhook(CONFIG, URL, inhibit=False, flush=("1s", "2s")))
    assert "inhibit_rules" not in harness
    nodes = [harness["route"], *harness["route"]["routes"]]
    assert {(node["group_wait"], node["group_interval"]) for node in nodes} == {("1s", "2s")}
    assert harness["route"]["repeat_interval"] == CONFIG["route"]["repeat_interval"]


def test_each_receiver_is_bounded_by_the_longest_group_wait_that_reaches_it() -> None:
    assert notify_bounds(CONFIG) == {
        "chat": 32.0,
        "harness-test": 32.0,
        "pager": 12.0,
        "email": 32.0,
    }
    assert repeat_interval_seconds(CONFIG) == 4 * 3600


def test_a_route_without_group_wait_inherits_it_or_alertmanagers_default() -> None:
    config = {"route": {"receiver": "a", "routes": [{"receiver": "b", "group_wait": "5s"}]}}
    assert notify_bounds(config) == {"a": 32.0, "b": 7.0}


def test_each_rule_carries_its_own_and_its_inducements_labels() -> None:
    routed = {alert.rule: alert for alert in routed_alerts(RULES, ALERTS)}
    assert set(routed) == set(RULES)
    latency = routed["P95LatencyHigh"]
    assert latency.labels == {
        "alertname": "P95LatencyHigh",
        "severity": "critical",
        "job": "intelgraph-api",
        "database": "neo4j",
    }
    assert latency.expected == frozenset({"pager", "chat", "email"})
    assert routed["ChaosDrillNotRun"].expected == frozenset({"chat", "email"})


def test_a_severity_without_declared_receivers_has_no_expectation() -> None:
    assert ALERTS.routing is not None
    routing = ALERTS.routing.model_copy(update={"receivers": {"critical": ("pager",)}})
    alerts = ALERTS.model_copy(update={"routing": routing})
    undeclared = [alert.rule for alert in routed_alerts(RULES, alerts) if alert.expected is None]
    assert undeclared == ["ChaosDrillFailed", "ChaosDrillNotRun", "ReplicationLagHigh"]


def test_problems_name_the_rule_the_receivers_and_the_equal_label() -> None:
    route = Route("ServiceDown", frozenset({"pager", "chat"}), frozenset({"chat", "ops"}), {}, {})
    assert route.wrong == 2
    assert route.problem() == (
        "ServiceDown: reached ['chat', 'ops'], expected ['chat', 'pager']; missing ['pager']; "
        "not expected ['ops']"
    )
    case = Inhibition(source="A", target="B", elsewhere={"job": "other"})
    result = InhibitionResult(case, frozenset({"pager"}), frozenset({"chat"}), frozenset({"email"}))
    assert result.wrong == 2
    assert "B was notified to ['chat'] while A of the same service fired" in str(result.problem())
    assert "does its `equal` name labels the alerts carry?" in str(result.problem())
    assert InhibitionResult(case, frozenset(), frozenset(), frozenset()).problem() is None


def test_the_slowest_receiver_is_judged_against_its_own_bound() -> None:
    route = Route(
        "R",
        frozenset({"pager", "chat"}),
        frozenset({"pager", "chat"}),
        {"pager": 11.0, "chat": 20.0},
        {"pager": 12.0, "chat": 32.0},
    )
    assert route.slowest() == (11.0, 12.0)
    missing = Route("R", frozenset({"pager"}), frozenset(), {}, {"pager": 12.0})
    assert missing.slowest() == (None, 12.0)


def _mini(tmp_path: Path, routing: str) -> str:
    path = tmp_path / "system.toml"
    path.write_text(
        f'version = 1\nname = "mini"\n[alerts]\nrules = "{ALERTS.rules}"\n'
        f"[alerts.routing]\n{routing}"
    )
    return str(path)


@pytest.mark.parametrize(
    ("routing", "key"),
    [
        (
            f'config = "{CONFIG_PATH}"\nreceivers = {{ critical = ["pager"] }}\n'
            '[[alerts.routing.inhibit]]\nsource = "A"\ntarget = "B"\nelsewhere = {}\n',
            "alerts.routing.inhibit[0].elsewhere",
        ),
        ('config = "nowhere.yml"\nreceivers = { critical = ["pager"] }\n', "alerts.routing.config"),
        (f'config = "{CONFIG_PATH}"\nreceivers = {{}}\n', "alerts.routing.receivers"),
    ],
)
def test_a_routing_section_that_cannot_be_proven_is_refused_naming_the_key(
    tmp_path: Path, routing: str, key: str
) -> None:
    with pytest.raises(DescriptionError) as caught:
        load_system(_mini(tmp_path, routing))
    message = str(caught.value)
    assert "\n" not in message
    assert f"key '{key}'" in message, message

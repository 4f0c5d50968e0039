"""The harness's one Pushgateway publisher, against a real Pushgateway."""

from __future__ import annotations

import pytest
import requests

from drill import publish as drill_publish
from fixtures.providers.base import HttpEndpoint
from fixtures.pushgateway_client import DRILL_JOB, delete, publish
from system.description import Publish
from system.loader import load_system

# quiet: only small servers of its own (make test runs it with the unit tests)
pytestmark = [pytest.mark.integration, pytest.mark.quiet]

NAMES = load_system("intelgraph").description.publish  # the reference target's [publish]


def metrics(gateway: HttpEndpoint) -> str:
    return requests.get(f"{gateway.url}/metrics", timeout=5).text


def test_a_result_is_pushed_under_its_own_grouping_and_deleted_again(
    pushgateway: HttpEndpoint,
) -> None:
    publish(pushgateway.url, "chaos_experiment_passed", 1.0, {"experiment": "redis-latency"})
    publish(pushgateway.url, "chaos_experiment_passed", 0.0, {"experiment": "api-kill"})
    text = metrics(pushgateway)
    ours = [line for line in text.splitlines() if line.startswith("chaos_experiment_passed{")]
    assert len(ours) == 2, "each experiment's result replaces only its own"
    assert all(f'job="{DRILL_JOB}"' in line for line in ours)
    assert any('experiment="redis-latency"' in line and line.endswith(" 1") for line in ours)
    delete(pushgateway.url, "chaos_experiment_passed", {"experiment": "api-kill"})
    delete(pushgateway.url, "chaos_experiment_passed", {"experiment": "redis-latency"})
    assert "chaos_experiment_passed{" not in metrics(pushgateway)


def test_the_drill_s_verdict_is_pushed_for_the_platform_s_alerts(
    pushgateway: HttpEndpoint,
) -> None:
    document = {
        "criteria": [
            {"criterion": "chaos_hypothesis", "scope": "neo4j-unavailable[blackhole]",
             "verdict": "pass", "measured": 1.0},
            {"criterion": "chaos_hypothesis", "scope": "api-kill", "verdict": "fail",
             "measured": 0.5},
            {"criterion": "chaos_hypothesis", "scope": "redis-kill", "verdict": "skipped",
             "measured": None},
            {"criterion": "rto", "scope": "postgres (primary lost)", "verdict": "pass",
             "measured": 13.2, "details": {"database": "postgres"}},
        ]
    }  # fmt: skip
    assert drill_publish.push(pushgateway.url, document, 1_700_000_000.0, NAMES) == 4
    lines = metrics(pushgateway).splitlines()
    pushed = [line for line in lines if 'job="reliability-drill"' in line]
    try:
        assert any(
            'experiment="neo4j-unavailable"' in line and line.endswith(" 1") for line in pushed
        )
        assert any('experiment="api-kill"' in line and line.endswith(" 0") for line in pushed)
        assert not any("redis-kill" in line for line in pushed), "a skipped experiment is pushed"
        assert any(line.startswith("chaos_drill_last_run_timestamp_seconds{") for line in pushed)
        assert not any("last_success" in line for line in pushed), "a failed drill is no success"
        assert NAMES.rto is not None
        assert any(line.startswith(f"{NAMES.rto}{{") for line in pushed)
        help_line = f"# HELP {NAMES.rto} Measured RTO of the last DR drill"
        assert help_line in lines
    finally:
        for name, _, labels in drill_publish.results(document, 0.0, NAMES):
            delete(pushgateway.url, name, labels)


def test_a_dr_result_the_description_names_no_gauge_for_is_not_pushed_and_said(
    pushgateway: HttpEndpoint,
) -> None:
    document = {
        "criteria": [
            {"criterion": "rto", "scope": "postgres (primary lost)", "verdict": "pass",
             "measured": 13.2, "details": {"database": "postgres"}},
        ]
    }  # fmt: skip
    said: list[str] = []
    assert drill_publish.push(pushgateway.url, document, 0.0, Publish(), say=said.append) == 0
    assert said == [
        "the measured RTO is not pushed: the system description's [publish] names no rto gauge"
    ]


def test_a_pushgateway_that_refuses_names_its_host_and_not_the_url() -> None:
    url = "http://127.0.0.1:1/secret-path"
    document = {"criteria": [{"criterion": "chaos_hypothesis", "scope": "x", "verdict": "pass"}]}
    with pytest.raises(drill_publish.PublishError, match=r"at 127\.0\.0\.1 refused") as caught:
        drill_publish.push(url, document, 0.0, NAMES)
    assert "secret-path" not in str(caught.value)

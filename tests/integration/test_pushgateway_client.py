"""The harness's one Pushgateway publisher, against a real Pushgateway."""

from __future__ import annotations

import pytest
import requests

from fixtures.providers.base import HttpEndpoint
from fixtures.pushgateway_client import DRILL_JOB, delete, publish

pytestmark = pytest.mark.integration


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

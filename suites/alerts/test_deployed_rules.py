"""The Prometheus of the target runs the rules as shipped: every rule of scenarios/alerts
is loaded with the same expression and `for:` duration.

Locally, a Prometheus is started with the production rule files, so the check proves they
load in a real server as written. Against a profile (staging), its own Prometheus is
asked: a rule missing, edited by hand or left at an old version fails the test, naming it.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from alerting.rules import load_rules, rule_files
from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.providers.base import HttpEndpoint

RULES_CONFIG = "global:\n  evaluation_interval: 1m\nrule_files:\n{files}"


def _prometheus_with_shipped_rules(
    service_launcher: ServiceLauncher, request: pytest.FixtureRequest
) -> HttpEndpoint:
    if service_launcher.backend is Backend.EXTERNAL:
        endpoint: HttpEndpoint = request.getfixturevalue("prometheus")
        return endpoint
    files = {path.name: path.read_text() for path in rule_files()}
    config = RULES_CONFIG.format(files="".join(f"  - {name}\n" for name in files))
    factory: Any = request.getfixturevalue("prometheus_factory")
    started: HttpEndpoint = factory(config=config, rule_files=files).endpoint
    return started


def _squeeze(promql: str) -> str:
    return "".join(promql.split())


@pytest.mark.pr_gate
@pytest.mark.quiet  # one Prometheus loading rules: beside a measurement under xdist
def test_prometheus_runs_every_shipped_rule_as_written(
    service_launcher: ServiceLauncher, request: pytest.FixtureRequest
) -> None:
    prometheus = _prometheus_with_shipped_rules(service_launcher, request)
    answer = requests.get(f"{prometheus.url}/api/v1/rules", params={"type": "alert"}, timeout=10)
    answer.raise_for_status()
    loaded = {
        rule["name"]: rule for group in answer.json()["data"]["groups"] for rule in group["rules"]
    }
    problems = []
    for name, rule in sorted(load_rules(rule_files()).items()):
        deployed = loaded.get(name)
        if deployed is None:
            problems.append(f"{name}: not loaded")
        elif _squeeze(deployed["query"]) != _squeeze(rule.expr):
            problems.append(f"{name}: expression {deployed['query']!r} differs from {rule.expr!r}")
        elif float(deployed.get("duration", 0)) != rule.for_seconds:
            problems.append(
                f"{name}: for {deployed.get('duration')} s, shipped {rule.for_seconds} s"
            )
    assert not problems, f"{prometheus.url} does not run the shipped rules:\n" + "\n".join(problems)

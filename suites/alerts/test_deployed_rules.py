"""The Prometheus of the target runs the system's rules as written: every rule of the
description's rule files (`[alerts] rules`) is loaded with the same expression and `for:`
duration.

Locally, a Prometheus is started with those rule files (production durations), so the
check proves they load in a real server as written. Against a profile (staging), its own
Prometheus is asked: a rule missing, edited by hand or left at an old version fails the
test, naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from alerting.rules import load_rules, rule_files
from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.providers.base import HttpEndpoint
from plugins.criteria import Criteria
from system.description import Alerts

RULES_CONFIG = "global:\n  evaluation_interval: 1m\nrule_files:\n{files}"


def _prometheus_with_the_rules(
    service_launcher: ServiceLauncher, request: pytest.FixtureRequest, directory: str
) -> HttpEndpoint:
    if service_launcher.backend is Backend.EXTERNAL:
        endpoint: HttpEndpoint = request.getfixturevalue("prometheus")
        return endpoint
    files = {path.name: path.read_text() for path in rule_files(directory)}
    config = RULES_CONFIG.format(files="".join(f"  - {name}\n" for name in files))
    factory: Any = request.getfixturevalue("prometheus_factory")
    started: HttpEndpoint = factory(config=config, rule_files=files).endpoint
    return started


def _squeeze(promql: str) -> str:
    """An expression without whitespace, each selector's matchers sorted: Prometheus
    renders a loaded rule in its own form (`{b="1", a="2"}` as `{a="2",b="1"}`)."""
    out: list[str] = []
    matchers: list[str] | None = None
    current = ""
    quote = ""
    for char in promql:
        if quote:
            current += char
            if char == quote and not current.endswith("\\" + quote):
                quote = ""
            continue
        if char.isspace():
            continue
        if char in "\"'`":
            quote = char
            current += char
        elif char == "{" and matchers is None:
            out.append(current + "{")
            matchers, current = [], ""
        elif char == "," and matchers is not None:
            matchers.append(current)
            current = ""
        elif char == "}" and matchers is not None:
            matchers.append(current)
            out.append(",".join(sorted(item for item in matchers if item)) + "}")
            matchers, current = None, ""
        else:
            current += char
    return "".join(out) + current


@pytest.mark.pr_gate
@pytest.mark.quiet  # one Prometheus loading rules: beside a measurement under xdist
@pytest.mark.criteria("deployed_rules")
def test_prometheus_runs_every_rule_of_the_system_as_written(
    service_launcher: ServiceLauncher,
    system_alerts: Alerts,
    request: pytest.FixtureRequest,
    criteria: Criteria,
) -> None:
    prometheus = _prometheus_with_the_rules(service_launcher, request, system_alerts.rules)
    answer = requests.get(f"{prometheus.url}/api/v1/rules", params={"type": "alert"}, timeout=10)
    answer.raise_for_status()
    loaded = {
        rule["name"]: rule for group in answer.json()["data"]["groups"] for rule in group["rules"]
    }
    problems = []
    written = load_rules(rule_files(system_alerts.rules))
    for name, rule in sorted(written.items()):
        deployed = loaded.get(name)
        if deployed is None:
            problems.append(f"{name}: not loaded")
        elif _squeeze(deployed["query"]) != _squeeze(rule.expr):
            problems.append(f"{name}: expression {deployed['query']!r} differs from {rule.expr!r}")
        elif float(deployed.get("duration", 0)) != rule.for_seconds:
            problems.append(
                f"{name}: for {deployed.get('duration')} s, written {rule.for_seconds} s"
            )
    criteria.within(
        criterion="deployed_rules",
        scope=f"{len(written)} rules of {Path(system_alerts.rules).name}",
        bound=0,
        unit="rules",
        measured=len(problems),
        problems=problems,
    )
    assert not problems, (
        f"{prometheus.url} does not run the rules of {system_alerts.rules} as written:\n"
        + "\n".join(problems)
    )

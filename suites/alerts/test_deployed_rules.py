"""The Prometheus of the target runs the system's rules as written: every rule of the
description's rule files (`[alerts] rules`, and the SLO's `[alerts.slo] rules`: Sloth's
recordings and alerts) is loaded with the same expression and, for an alert, the same
`for:` duration (`alerting/deployed.py`).

Locally, a Prometheus is started with those rule files (production durations), so the
check proves they load in a real server as written. Against a profile (staging), its own
Prometheus is asked: a rule missing, edited by hand or left at an old version fails the
test, naming it (`tests/integration/test_deployed_rule_faults.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alerting.deployed import (
    compare,
    loaded_rules,
    rule_directories,
    rule_texts,
    written_rules,
)
from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.providers.base import HttpEndpoint
from plugins.criteria import Criteria
from system.description import Alerts

RULES_CONFIG = "global:\n  evaluation_interval: 1m\nrule_files:\n{files}"


def _prometheus_with_the_rules(
    service_launcher: ServiceLauncher, request: pytest.FixtureRequest, directories: list[Path]
) -> HttpEndpoint:
    if service_launcher.backend is Backend.EXTERNAL:
        endpoint: HttpEndpoint = request.getfixturevalue("prometheus")
        return endpoint
    files = rule_texts(directories)
    config = RULES_CONFIG.format(files="".join(f"  - {name}\n" for name in files))
    factory: Any = request.getfixturevalue("prometheus_factory")
    started: HttpEndpoint = factory(config=config, rule_files=files).endpoint
    return started


@pytest.mark.pr_gate
@pytest.mark.quiet  # one Prometheus loading rules: beside a measurement under xdist
@pytest.mark.criteria("deployed_rules")
def test_prometheus_runs_every_rule_of_the_system_as_written(
    service_launcher: ServiceLauncher,
    system_alerts: Alerts,
    request: pytest.FixtureRequest,
    criteria: Criteria,
) -> None:
    directories = rule_directories(system_alerts)
    prometheus = _prometheus_with_the_rules(service_launcher, request, directories)
    written = written_rules(directories)
    problems = compare(written, loaded_rules(prometheus.url))
    criteria.within(
        criterion="deployed_rules",
        scope=f"{len(written)} rules of {', '.join(directory.name for directory in directories)}",
        bound=0,
        unit="rules",
        measured=len(problems),
        problems=problems,
    )
    assert not problems, (
        f"{prometheus.url} does not run the rules of {', '.join(map(str, directories))} as "
        "written:\n" + "\n".join(problems)
    )

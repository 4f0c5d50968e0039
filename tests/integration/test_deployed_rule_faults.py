"""The deployed-rules check (`alerting/deployed.py`) against a real Prometheus: the
reference's rule files as written pass, alert rules and the SLO's Sloth rules alike,
although Prometheus renders every expression its own way; the same files with a rule left
out, a threshold edited by hand, a `for:` changed and the SLO page's burn factor changed
(an older generation of the Sloth rules) fail, each named — the page by the labels that
tell it from its namesake, the ticket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alerting.deployed import (
    compare,
    loaded_rules,
    rule_directories,
    rule_texts,
    written_rules,
)
from fixtures.launcher import ServiceLauncher
from plugins.services import start_service
from tests.reference import DESCRIPTION

# quiet: only small servers of its own (make test runs it with the unit tests)
pytestmark = [pytest.mark.integration, pytest.mark.quiet]

assert DESCRIPTION.alerts is not None
DIRECTORIES = rule_directories(DESCRIPTION.alerts)
RULES_CONFIG = "global:\n  evaluation_interval: 1m\nrule_files:\n{files}"
PAGE_FACTOR = "> (14.4 * 0.0009999999999999432)"


Deploy = Callable[[dict[str, str]], str]


@pytest.fixture
def deploy(service_launcher: ServiceLauncher) -> Iterator[Deploy]:
    """`deploy(files)`: the URL of a Prometheus loaded with these rule files."""
    started = []

    def running(files: dict[str, str]) -> str:
        config = RULES_CONFIG.format(files="".join(f"  - {name}\n" for name in files))
        server = start_service(service_launcher, "prometheus", config=config, rule_files=files)
        started.append(server)
        return str(server.endpoint.url)

    yield running
    for server in started:
        server.stop()


def test_the_rules_as_written_pass_and_each_drift_is_named(deploy: Deploy) -> None:
    written = written_rules(DIRECTORIES)
    assert {rule.kind for rule in written} == {"alerting", "recording"}
    assert compare(written, loaded_rules(deploy(rule_texts(DIRECTORIES)))) == []

    drifted = rule_texts(DIRECTORIES)
    availability = drifted.pop("alerts-availability.rules.yml")
    assert "alert: ServiceDown" in availability
    errors = drifted["alerts-errors.rules.yml"]
    drifted["alerts-errors.rules.yml"] = _once(errors, "> 0.01\n", "> 0.05\n")
    latency = drifted["alerts-latency.rules.yml"]
    drifted["alerts-latency.rules.yml"] = _once(latency, "for: 2m", "for: 5m")
    sloth = drifted["slo-slo.rules.yml"]
    assert sloth.count(PAGE_FACTOR) == 4, "update this test: the page's factor moved"
    drifted["slo-slo.rules.yml"] = sloth.replace(PAGE_FACTOR, "> (12 * 0.0009999999999999432)")
    problems = compare(written, loaded_rules(deploy(drifted)))
    assert [problem.split(":")[0] for problem in problems] == [
        "ServiceDown",
        "HighErrorRate",
        "P95LatencyHigh",
        "IntelgraphAvailabilityBudgetBurn (severity=critical, sloth_severity=page)",
    ], problems
    assert problems[0] == "ServiceDown: not loaded"
    assert "> 0.05" in problems[1]
    assert "differs from" in problems[1]
    assert problems[2] == "P95LatencyHigh: for 300 s, written 120 s"
    assert "12 * 0.0009999999999999432" in problems[3]


def _once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"update this test: {old!r} is not in the file once"
    return text.replace(old, new)


def test_rules_are_read_from_each_directory_in_file_order() -> None:
    titles = [rule.title for rule in written_rules(DIRECTORIES)]
    assert titles[0] == "ServiceDown"  # alerts/availability.rules.yml comes first
    assert titles[-2:] == [
        "IntelgraphAvailabilityBudgetBurn (severity=critical, sloth_severity=page)",
        "IntelgraphAvailabilityBudgetBurn (severity=warning, sloth_severity=ticket)",
    ]
    assert len(titles) == len(set(titles)), "each rule is named apart"
    assert all(Path(directory).is_dir() for directory in DIRECTORIES)

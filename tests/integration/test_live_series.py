"""Rules against live series (`alerting/series.py`) with real servers: a Prometheus scraping
a Pushgateway into which one counter was pushed. A rule on a metric that is not there and a
rule with a mistyped label fail, naming the selector and what is missing; a correct rule
passes; a value the series never showed (`status=~"5.."`) is a note, not a failure."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from alerting.errors import LiveSeriesError
from alerting.rules import AlertRule
from alerting.series import Report, check_live_series
from fixtures.launcher import ServiceLauncher
from fixtures.pushgateway_client import publish
from plugins.services import start_service
from system.deadline import wait_until

# quiet: only small servers of its own (make test runs it with the unit tests)
pytestmark = [pytest.mark.integration, pytest.mark.quiet]

METRIC = "probe_requests_total"
LABELS = {"route": "/items", "status": "200"}
SCRAPE = """\
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ["GATEWAY"]
"""


def _scraped(prometheus: str) -> bool:
    answer = requests.get(
        f"{prometheus}/api/v1/series", params={"match[]": METRIC}, timeout=5
    ).json()
    return bool(answer["data"])


@pytest.fixture(scope="module")
def prometheus(service_launcher: ServiceLauncher) -> Iterator[str]:
    """A Prometheus that has scraped `METRIC{LABELS}` from a Pushgateway once."""
    gateway = start_service(service_launcher, "pushgateway")
    try:
        publish(gateway.endpoint.url, METRIC, 7.0, LABELS)
        address = f"{gateway.endpoint.host}:{gateway.endpoint.port}"
        server = start_service(
            service_launcher, "prometheus", config=SCRAPE.replace("GATEWAY", address)
        )
        try:
            url = server.endpoint.url
            wait_until(lambda: _scraped(url), seconds=15, what=f"{METRIC} scraped", interval=0.2)
            yield url
        finally:
            server.stop()
    finally:
        gateway.stop()


def check(prometheus: str, **rules: str) -> Report:
    return check_live_series(
        prometheus,
        [AlertRule(name, expr, 0.0, Path("probe.rules.yml")) for name, expr in rules.items()],
    )


def test_a_rule_on_a_metric_that_is_not_there_fails_naming_the_selector(prometheus: str) -> None:
    report = check(prometheus, Missing='sum(rate(probe_request_total{route="/items"}[1m])) > 0')
    assert [str(problem) for problem in report.problems] == [
        'Missing: probe_request_total{route="/items"}: no series named probe_request_total '
        f"(did you mean {METRIC}?)"
    ]
    assert report.failing_selectors == 1


def test_a_rule_with_a_mistyped_label_fails_naming_the_label(prometheus: str) -> None:
    report = check(
        prometheus,
        Matcher=f'{METRIC}{{rute="/items"}} > 100',
        Grouping=f"sum by (job, rute) ({METRIC}) > 100",
    )
    matcher, grouping = (str(problem) for problem in report.problems)
    assert matcher.startswith(
        f'Matcher: {METRIC}{{rute="/items"}}: no series of {METRIC} has label rute (its labels: '
    )
    assert grouping.startswith(
        f"Grouping: {METRIC}: sum by (job, rute): no series of {METRIC} has label rute (its "
    )
    assert "job, metric, route, status)" in matcher
    assert report.failing_selectors == 2


def test_a_correct_rule_passes(prometheus: str) -> None:
    report = check(
        prometheus,
        Correct=f'sum by (job, route) (rate({METRIC}{{route="/items", status!~"5.."}}[1m])) > 9',
        Down="up == 0",
        Absent="absent(never_pushed_seconds)",
    )
    assert report.problems == ()
    assert report.notes == ()
    assert report.summary() == "every selector of 3 rules selects live series (2)"


def test_a_value_a_healthy_target_did_not_show_is_a_note_not_a_failure(prometheus: str) -> None:
    report = check(prometheus, Errors=f'sum(rate({METRIC}{{status=~"5.."}}[1m])) > 0')
    assert report.problems == ()
    assert [str(note) for note in report.notes] == [
        f'Errors: {METRIC}{{status=~"5.."}}: no series of {METRIC} has status=~"5.." '
        "(not seen on a healthy target)"
    ]


def test_a_prometheus_that_does_not_answer_is_one_line() -> None:
    with socket.socket() as closed:  # a loopback port nothing listens on once closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(LiveSeriesError, match=rf"^Prometheus at http://127.0.0.1:{port} did"):
        check(f"http://127.0.0.1:{port}", Down="up == 0")


def test_a_metric_a_drill_publishes_may_be_absent_a_typo_of_it_may_not(prometheus: str) -> None:
    rules = [
        AlertRule("Published", "drill_rpo_seconds > 300", 0.0, Path("probe.rules.yml")),
        AlertRule("Typo", "drill_rpo_second > 300", 0.0, Path("probe.rules.yml")),
    ]
    report = check_live_series(prometheus, rules, published={"drill_rpo_seconds"})
    assert [str(note) for note in report.notes] == [
        "Published: drill_rpo_seconds: no series yet: drill_rpo_seconds is published by a "
        "drill (none pushed here yet)"
    ]
    assert [finding.rule for finding in report.problems] == ["Typo"]

"""A second system, judged from its description alone (scenarios/quotes, examples/quotes_api).

The quotes API is started apart, as a team's service would be, and the drill is pointed
at it through a target profile naming its description: other routes, a plain-text health
check, its own metrics and rules, one database. Healthy, `python -m drill --quick` exits
0; with its seeded regression (quote generation 1.2 s slow) it exits non-zero naming the
criterion; a criterion its description requires that the profile does not allow is a
failure naming the missing opt-in; and the reference's description pointed at it (routes
it does not have: every unknown path is a 302 to its login page) fails before any load:
its health check is not there (a 302), so no test measures it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.providers.api import ApiEndpoint, ApiProvider
from fixtures.providers.postgres import PostgresEndpoint, PostgresProvider
from tests.reference import QUOTES

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

REPO = Path(__file__).resolve().parents[2]
DRILL_TIMEOUT_SECONDS = 600


@pytest.fixture(scope="module")
def quotes_database(service_launcher: ServiceLauncher) -> Iterator[PostgresEndpoint]:
    running = service_launcher.start(PostgresProvider())
    try:
        yield running.endpoint
    finally:
        running.stop()


def start_quotes(
    launcher: ServiceLauncher, database: PostgresEndpoint, **arguments: Any
) -> RunningService[ApiEndpoint]:
    """The quotes API on `database`, started from its description's [local] (the way a
    team's deployment would run it: the drill below knows only its URL)."""
    return launcher.start(ApiProvider(database, system=QUOTES, **arguments))


@pytest.fixture(scope="module")
def healthy(
    service_launcher: ServiceLauncher, quotes_database: PostgresEndpoint
) -> Iterator[ApiEndpoint]:
    running = start_quotes(service_launcher, quotes_database)
    try:
        yield running.endpoint
    finally:
        running.stop()


def profile(tmp: Path, api: ApiEndpoint) -> Path:
    path = tmp / "quotes-staging.toml"
    path.write_text(
        f"""[target]
name = "quotes-staging"
system = "{QUOTES.folder}"

[services.api]
url = "{api.url}"
entity_ids = "1-{api.entities}"
"""
    )
    return path


def drill(tmp: Path, *arguments: str) -> tuple[int, str, dict[str, Any]]:
    """`python -m drill` as a user runs it; its exit status, output and summary."""
    reports = tmp / "reports"
    finished = subprocess.run(
        [sys.executable, "-m", "drill", "--no-report", *arguments],
        cwd=REPO,
        env={**os.environ, "RELIABILITY_REPORTS_DIR": str(reports), "CI": "true"},
        capture_output=True,
        text=True,
        timeout=DRILL_TIMEOUT_SECONDS,
        check=False,
    )
    output = finished.stdout + finished.stderr
    summary_file = reports / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    return finished.returncode, output, summary


def rows(summary: dict[str, Any], criterion: str) -> dict[str, dict[str, Any]]:
    return {row["scope"]: row for row in summary["criteria"] if row["criterion"] == criterion}


def test_the_second_system_passes_its_pr_gate_through_a_profile(
    healthy: ApiEndpoint, tmp_path: Path
) -> None:
    status, output, summary = drill(
        tmp_path, "--quick", "--target", str(profile(tmp_path, healthy))
    )
    assert status == 0, output[-3000:]
    assert "system quotes" in output
    assert summary["verdict"] == "pass"
    smoke = rows(summary, "smoke")
    assert {row["verdict"] for row in smoke.values()} == {"pass"}
    assert "a quote is generated" in smoke
    assert rows(summary, "p95_latency")["quotes_generate_gate"]["bound"] == 0.9
    assert rows(summary, "p99_latency")["quotes_read"]["verdict"] == "pass"
    assert rows(summary, "availability")["quotes_read"]["bound"] == 0.995
    counts = summary["counts"]
    assert counts["failed"] == 0
    assert counts["passed"] >= 8
    assert f"{counts['passed']} passed, 0 failed, {counts['skipped']} skipped" in output
    assert any((tmp_path / "reports" / "allure-results").glob("*-result.json"))
    assert not (tmp_path / "reports" / "allure-report").exists(), "--no-report rendered one"


def test_its_seeded_regression_fails_the_named_criterion(
    service_launcher: ServiceLauncher,
    quotes_database: PostgresEndpoint,
    healthy: ApiEndpoint,
    tmp_path: Path,
) -> None:
    slow = start_quotes(
        service_launcher, quotes_database, fault="generate_slow", seed=False, entities=500
    )
    try:
        where = profile(tmp_path, slow.endpoint)
        status, output, summary = drill(
            tmp_path, "--quick", "--suite", "load", "--target", str(where)
        )
    finally:
        slow.stop()
    assert status == 1, output[-3000:]
    generate = rows(summary, "p95_latency")["quotes_generate_gate"]
    assert generate["verdict"] == "fail"
    assert generate["measured"] > 0.9
    assert rows(summary, "p99_latency")["quotes_read"]["verdict"] == "pass"
    assert "p95_latency" in output
    assert "quotes_generate_gate" in output


def test_a_required_criterion_skipped_fails_the_drill_naming_the_opt_in(
    healthy: ApiEndpoint, tmp_path: Path
) -> None:
    where = str(profile(tmp_path, healthy))
    required = 'requires.staging=["chaos_hypothesis"]'
    status, output, summary = drill(
        tmp_path, "--suite", "chaos", "--target", where, "--set", required
    )
    assert status == 1, output[-3000:]
    (row,) = rows(summary, "chaos_hypothesis").values()
    assert row["verdict"] == "fail"
    assert row["reason"].startswith("required in staging but skipped")
    assert "[chaos] allow" in row["reason"]
    assert "chaos_hypothesis" in output


def test_the_reference_description_against_another_service_fails_before_any_load(
    healthy: ApiEndpoint, tmp_path: Path
) -> None:
    """The issue's new user: a load gate must never pass an endpoint it never reached."""
    where = str(profile(tmp_path, healthy))
    status, output, _ = drill(tmp_path, "--quick", "--target", where, "--system", "intelgraph")
    assert status == 1, output[-3000:]
    assert "/healthz answered 302, not 200" in output, "its health check is not the reference's"
    suites = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/load", "-m", "pr_gate", "-p", "no:cacheprovider",
         "--target", where, "--system", "intelgraph", "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=DRILL_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    assert suites.returncode == 1, suites.stdout[-3000:]
    assert "/healthz answered 302, not 200" in suites.stdout
    assert " passed" not in suites.stdout.splitlines()[-1]


def test_requirement_style_criteria_run_as_written_shortened_by_an_override(
    healthy: ApiEndpoint, tmp_path: Path
) -> None:
    """The requirements' own words, as data: "POST /api/v1/quotes/generate, 60 req/min
    sustained for 20 min, p95 < 900 ms, throughput >= baseline" and "bulk import 40 req/min
    for 15 min, p95 < 1 s, errors < 0.5 %" (a plain Locust file), shortened by overrides
    to 15 s and 20 s with the same 1,200 requests each: 20 requests (60/min for 20 s) cannot
    show a P95 or an error rate below 0.5 %, and the gates say "undecided", never pass."""
    criteria = tmp_path / "criteria.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/load", "-m", "drill", "-p", "no:cacheprovider",
         "--target", str(profile(tmp_path, healthy)), "-q",
         "--workload", "quotes_generate", "--workload", "bulk_import",
         "--set", "workloads.quotes_generate.duration=15s",
         "--set", "workloads.quotes_generate.rate=80/s",
         "--set", "workloads.bulk_import.duration=20s",
         "--set", "workloads.bulk_import.rate=60/s",
         f"--criteria-file={criteria}", f"--history-dir={tmp_path / 'history'}"],
        cwd=REPO, capture_output=True, text=True, timeout=DRILL_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    found = {
        (row["criterion"], row["scope"]): row
        for row in map(json.loads, criteria.read_text().splitlines())
    }
    generate = found[("p95_latency", "quotes_generate")]
    assert (generate["bound"], generate["verdict"]) == (0.9, "pass")
    assert generate["details"]["requests"] == 1200
    throughput = found[("throughput", "quotes_generate")]
    assert throughput["details"]["baseline"] == 80.0, "no history yet: the planned rate"
    assert throughput["bound"] == pytest.approx(72.0)
    assert throughput["verdict"] == "pass"
    assert throughput["measured"] == pytest.approx(80.0, rel=0.05)
    bulk = found[("p95_latency", "bulk_import")]
    assert (bulk["bound"], bulk["verdict"]) == (1.0, "pass")
    assert bulk["details"]["requests"] == 1200, "each a plain Locust task"
    errors = found[("error_rate", "bulk_import")]
    assert (errors["bound"], errors["verdict"]) == (0.005, "pass")

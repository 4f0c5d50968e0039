"""One load run from a suite: run, keep the evidence, gate on the SLO, cross-check.

The order matters: the evidence is written and attached before any verdict, so a failed
gate still leaves its histogram, timeline, percentile table and raw HDR log in the
report; the gates (`load.gates`) are judged before the server-side cross-check, so a
slow target fails on the SLO, naming the measured value and the bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.profile import Slo
from fixtures.providers.api import ApiEndpoint
from load.crosscheck import CrossCheck, crosscheck
from load.errors import CrossCheckError, GateError
from load.evidence import Evidence, write_evidence
from load.gates import Gate, GateFailedError, GateOutcome, require
from load.plan import LoadPlan
from load.result import LoadResult
from load.runner import run_load
from plugins.evidence import attach_file, attach_text

SCRAPE_INTERVAL_SECONDS = 1.0
# After the run, wait for two scrapes so Prometheus has seen the run's last requests.
SETTLE_SECONDS = 2 * SCRAPE_INTERVAL_SECONDS + 0.5


def scrape_config(target: ApiEndpoint) -> str:
    """prometheus.yml for a Prometheus that scrapes the target's /metrics every second."""
    return f"""\
global:
  scrape_interval: {SCRAPE_INTERVAL_SECONDS:g}s
  evaluation_interval: {SCRAPE_INTERVAL_SECONDS:g}s
scrape_configs:
  - job_name: target
    static_configs:
      - targets: ["{target.host}:{target.port}"]
"""


def slo_gates(scenario: str, slo: Slo) -> list[Gate]:
    """The requirements' gates: P95 below the profile's bound, error rate below its bound."""
    return [
        Gate("latency", slo.p95_seconds, scenario, percentile=95),
        Gate("error_rate", slo.error_rate, scenario),
    ]


@dataclass(frozen=True)
class GatedRun:
    result: LoadResult
    outcomes: list[GateOutcome]
    crosscheck: CrossCheck | None
    evidence: Evidence


def run_gated(plan: LoadPlan, slo: Slo, workdir: Path, prometheus_url: str | None) -> GatedRun:
    """Run `plan`, attach evidence, then fail the test (one line per gate) on any gate."""
    result = run_load(plan, workdir / "load")
    evidence = write_evidence(result, workdir / "evidence", bound=slo.p95_seconds)
    attach_evidence(result, evidence)
    outcomes, failure = _judge(result, slo)
    if failure is not None:
        attach_text("gates", failure)
        pytest.fail(failure, pytrace=False)
    attach_text("gates", "\n".join(outcome.message for outcome in outcomes))
    checked = None
    if prometheus_url is not None:
        checked = _crosscheck(result, prometheus_url)
    return GatedRun(result, outcomes, checked, evidence)


def _judge(result: LoadResult, slo: Slo) -> tuple[list[GateOutcome], str | None]:
    """The gates' outcomes, or the failure message (summary, error kinds, each gate)."""
    try:
        return require(result, slo_gates(result.scenario, slo)), None
    except GateFailedError as failed:
        kinds = ", ".join(f"{kind}: {count}" for kind, count in result.error_kinds.items())
        errors = f"\nerrors by kind: {kinds}" if kinds else ""
        return [], f"{result.summary()}{errors}\n{failed}"
    except GateError as error:
        return [], f"gate error: {error}"


def _crosscheck(result: LoadResult, prometheus_url: str) -> CrossCheck:
    """Client P95 against the server's, side by side; fail loudly if they disagree."""
    time.sleep(max(0.0, result.ended_at + SETTLE_SECONDS - time.time()))
    checked: CrossCheck | None = None
    try:
        checked = crosscheck(result, prometheus_url)
    except CrossCheckError as error:
        problem = f"cross-check against Prometheus failed: {error}"
    if checked is None:
        pytest.fail(problem, pytrace=False)
    attach_text("client vs server P95", checked.message)
    if not checked.ok:
        pytest.fail(checked.message, pytrace=False)
    return checked


def attach_evidence(result: LoadResult, evidence: Evidence) -> None:
    attach_text("summary", result.summary())
    attach_file("latency histogram", evidence.histogram_png)
    attach_file("latency over time", evidence.timeline_png)
    attach_file("percentiles", evidence.percentile_table)
    attach_file("HDR interval log", evidence.interval_log)

"""One load run from a suite: run it until the gates decide, keep the evidence, cross-check.

The order matters: the evidence is written and attached before any verdict, so a failed
gate still leaves its histogram, timeline, percentile table and raw HDR log in the
report; the server-side cross-check runs whatever the gates said, and a failing gate's
message shows the server's view next to the client's.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.phases import phase
from fixtures.profile import Slo
from fixtures.providers.base import HttpEndpoint
from load.crosscheck import CrossCheck, crosscheck
from load.errors import CrossCheckError
from load.evidence import Evidence, write_evidence
from load.gates import Gate
from load.plan import LoadPlan
from load.result import LoadResult
from load.runner import start_load
from load.sequential import Decision, Looks, judge_sequentially
from plugins.criteria import Criteria
from plugins.evidence import attach_file, attach_text

SCRAPE_INTERVAL_SECONDS = 1.0
# After the run, wait for two scrapes so Prometheus has seen the run's last requests.
SETTLE_SECONDS = 2 * SCRAPE_INTERVAL_SECONDS + 0.5


def scrape_config(target: HttpEndpoint) -> str:
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


def slo_gates(scenario: str, slo: Slo, routes: Sequence[str] = ()) -> list[Gate]:
    """The requirements' gates: P95 below the profile's bound, error rate below its bound;
    and the P95 of each of `routes` (a mixed workload's request types) below the same bound.
    The error-rate bound is the service's, over all its requests: it is not applied per
    route, where a bound the requirements do not set would be judged on a smaller sample."""
    gates = [
        Gate("latency", slo.p95_seconds, scenario, percentile=95),
        Gate("error_rate", slo.error_rate, scenario),
    ]
    gates += [Gate("latency", slo.p95_seconds, scenario, percentile=95, route=r) for r in routes]
    return gates


class CrossCheckSkippedWarning(UserWarning):
    """The target's own metrics could not be compared: no Prometheus for it."""


@dataclass(frozen=True)
class GatedRun:
    decision: Decision
    crosscheck: CrossCheck | None
    evidence: Evidence

    @property
    def result(self) -> LoadResult:
        return self.decision.result


def run_gated(
    plan: LoadPlan,
    looks: Looks,
    slo: Slo,
    workdir: Path,
    prometheus_url: str | None,
    criteria: Criteria | None = None,
    routes: Sequence[str] = (),
) -> GatedRun:
    """Run `plan` until its gates decide (`routes`: also each one's P95); attach evidence;
    fail (one line per gate) unless every gate passed and the client agrees with the server."""
    with (
        phase(f"load: {plan.scenario}, judged after {looks.first_seconds:g} s and on"),
        start_load(plan, workdir / "load") as run,
    ):
        decision = judge_sequentially(run, slo_gates(plan.scenario, slo, routes), looks)
    result = decision.result
    evidence = write_evidence(result, workdir / "evidence", bound=slo.p95_seconds)
    attach_evidence(result, evidence)
    checked, server_view = _server_view(result, prometheus_url)
    report = _report(decision, server_view)
    attach_text("gates", report)
    if criteria is not None:
        _record(criteria, decision, checked)
    if not decision.passed:
        pytest.fail(report, pytrace=False)
    if checked is not None and not checked.ok:
        pytest.fail(f"{report}\nthe client and the server disagree:\n{checked.message}", False)
    return GatedRun(decision, checked, evidence)


def _report(decision: Decision, server_view: str) -> str:
    result = decision.result
    lines = [result.summary(), decision.describe()]
    lines += [outcome.message for outcome in decision.outcomes]
    if result.error_kinds:
        kinds = ", ".join(f"{kind}: {count}" for kind, count in result.error_kinds.items())
        lines.append(f"errors by kind: {kinds}")
    lines.append(server_view)
    return "\n".join(lines)


def _server_view(result: LoadResult, prometheus_url: str | None) -> tuple[CrossCheck | None, str]:
    """The cross-check (client P95 against the server's), or why there is none."""
    if prometheus_url is None:
        reason = (
            "cross-check skipped: no Prometheus scrapes this target (the profile has no "
            "[services.prometheus]); the gates above are the client's view only"
        )
        warnings.warn(reason, CrossCheckSkippedWarning, stacklevel=2)
        return None, reason
    time.sleep(max(0.0, result.ended_at + SETTLE_SECONDS - time.time()))
    try:
        checked = crosscheck(result, prometheus_url)
    except CrossCheckError as error:
        return None, f"cross-check against Prometheus failed: {error}"
    attach_text("client vs server P95", checked.message)
    return checked, f"server's view (Prometheus):\n{checked.message}"


def _record(criteria: Criteria, decision: Decision, checked: CrossCheck | None) -> None:
    result = decision.result
    server = None if checked is None or not checked.comparisons else checked.comparisons[0]
    for outcome in decision.outcomes:
        gate = outcome.gate
        interval = outcome.interval
        criteria.record(
            criterion="p95_latency" if gate.metric == "latency" else gate.metric,
            scope=result.scenario if gate.route is None else f"{result.scenario} {gate.route}",
            bound=gate.bound,
            unit="s" if gate.metric == "latency" else "ratio",
            measured=outcome.measured,
            interval=None if interval is None else (interval.low, interval.high),
            verdict=outcome.verdict.value,
            decided_after_s=decision.elapsed_seconds,
            requests=result.requests if gate.route is None else result.route(gate.route).requests,
            max_s=result.max if gate.route is None else None,
            server_p95_s=None if server is None or gate.route else server.server_p95,
        )


def attach_evidence(result: LoadResult, evidence: Evidence) -> None:
    attach_text("summary", result.summary())
    attach_file("latency histogram", evidence.histogram_png)
    attach_file("latency over time", evidence.timeline_png)
    attach_file("percentiles", evidence.percentile_table)
    attach_file("HDR interval log", evidence.interval_log)

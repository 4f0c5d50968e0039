"""One load run from a suite: run it until the gates decide, keep the evidence, cross-check.

The order matters: the evidence is written and attached before any verdict, so a failed
gate still leaves its histogram, timeline, percentile table and raw HDR log in the
report; the server-side cross-check runs whatever the gates said, and a failing gate's
message shows the server's view next to the client's.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.phases import phase
from fixtures.profile import LoadSettings
from fixtures.providers.base import HttpEndpoint
from load.bounds import Bounded, row_values, scope_of
from load.crosscheck import CrossCheck, ServerMetrics, crosscheck
from load.errors import CrossCheckError
from load.evidence import Evidence, write_evidence
from load.generators import ON_THIS_MACHINE, start_judged
from load.plan import LoadPlan
from load.result import LoadResult
from load.sequential import Decision, Looks, judge_sequentially
from plugins.criteria import Criteria
from plugins.evidence import attach_file, attach_text
from system.criteria import Verdict

SCRAPE_INTERVAL_SECONDS = 1.0
# Runs the host may spoil before the last one's invalid verdict stands (named in its rows).
RUNS_SPOILED_MAX = 1
# After the run, wait for two scrapes so Prometheus has seen the run's last requests.
SETTLE_SECONDS = 2 * SCRAPE_INTERVAL_SECONDS + 0.5


def scrape_config(target: HttpEndpoint, job: str = "target") -> str:
    """prometheus.yml for a Prometheus that scrapes the target's /metrics every second,
    under the job name the system's rules and selectors use."""
    return f"""\
global:
  scrape_interval: {SCRAPE_INTERVAL_SECONDS:g}s
  evaluation_interval: {SCRAPE_INTERVAL_SECONDS:g}s
scrape_configs:
  - job_name: {job}
    static_configs:
      - targets: ["{target.host}:{target.port}"]
"""


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
    gates: Sequence[Bounded],
    workdir: Path,
    prometheus_url: str | None,
    criteria: Criteria | None = None,
    metrics: ServerMetrics | None = None,
    generators: LoadSettings = ON_THIS_MACHINE,
) -> GatedRun:
    """Run `plan` until its `gates` decide; attach evidence; fail (one line per gate)
    unless every gate passed and the client agrees with the server (`metrics`).

    A run the host spoiled (the generator could not hold the plan, and no gate failed
    the target) is run again, up to `RUNS_SPOILED_MAX` times: the rows are the last
    run's, and name the spoiled ones and what spoiled them (`spoiled_runs`)."""
    spoiled: list[str] = []
    for attempt in range(1, RUNS_SPOILED_MAX + 2):
        where = workdir if attempt == 1 else workdir / f"again-{attempt}"
        with (
            phase(f"load: {plan.scenario}, judged after {looks.first_seconds:g} s and on"),
            contextlib.closing(start_judged(plan, where / "load", generators)) as run,
        ):
            decision = judge_sequentially(run, [bounded.gate for bounded in gates], looks)
        problem = _spoiled(decision)
        if problem is None or attempt > RUNS_SPOILED_MAX:
            break
        spoiled.append(problem)
        attach_text(f"run {attempt} spoiled by the host, run again", problem)
    result = decision.result
    evidence = write_evidence(result, where / "evidence", bound=plan.latency_bound_seconds)
    attach_evidence(result, evidence)
    checked, server_view = _server_view(result, prometheus_url, metrics)
    report = _report(decision, server_view)
    if spoiled:
        report += "\nruns spoiled by the host before this one: " + " | ".join(spoiled)
    attach_text("gates", report)
    if criteria is not None:
        _record(criteria, decision, gates, checked, spoiled)
    if not decision.passed:
        pytest.fail(report, pytrace=False)
    if checked is not None and not checked.ok:
        pytest.fail(f"{report}\nthe client and the server disagree:\n{checked.message}", False)
    return GatedRun(decision, checked, evidence)


def _spoiled(decision: Decision) -> str | None:
    """What spoiled the run, when it is invalid and no gate failed the target."""
    verdicts = {outcome.verdict for outcome in decision.outcomes}
    if Verdict.INVALID not in verdicts or Verdict.FAIL in verdicts:
        return None
    return decision.result.generator.problem() or "the generator did not hold the plan"


def _report(decision: Decision, server_view: str) -> str:
    result = decision.result
    lines = [result.summary(), decision.describe()]
    lines += [outcome.message for outcome in decision.outcomes]
    if result.error_kinds:
        kinds = ", ".join(f"{kind}: {count}" for kind, count in result.error_kinds.items())
        lines.append(f"errors by kind: {kinds}")
    lines.append(server_view)
    return "\n".join(lines)


def _server_view(
    result: LoadResult, prometheus_url: str | None, metrics: ServerMetrics | None
) -> tuple[CrossCheck | None, str]:
    """The cross-check (client P95 against the server's), or why there is none."""
    if metrics is None:
        reason = (
            "cross-check skipped: the system description names no server metrics "
            "([metrics]); the gates above are the client's view only"
        )
        warnings.warn(reason, CrossCheckSkippedWarning, stacklevel=2)
        return None, reason
    if prometheus_url is None:
        reason = (
            "cross-check skipped: no Prometheus scrapes this target (the profile has no "
            "[services.prometheus]); the gates above are the client's view only"
        )
        warnings.warn(reason, CrossCheckSkippedWarning, stacklevel=2)
        return None, reason
    time.sleep(max(0.0, result.ended_at + SETTLE_SECONDS - time.time()))
    try:
        checked = crosscheck(result, prometheus_url, metrics=metrics)
    except CrossCheckError as error:
        return None, f"cross-check against Prometheus failed: {error}"
    attach_text("client vs server P95", checked.message)
    return checked, f"server's view (Prometheus):\n{checked.message}"


def _record(
    criteria: Criteria,
    decision: Decision,
    gates: Sequence[Bounded],
    checked: CrossCheck | None,
    spoiled: Sequence[str] = (),
) -> None:
    result = decision.result
    server = None if checked is None or not checked.comparisons else checked.comparisons[0]
    criterion_of = {bounded.gate: bounded for bounded in gates}
    for outcome in decision.outcomes:
        bounded = criterion_of[outcome.gate]
        gate = outcome.gate
        whole = gate.route is None
        extra: dict[str, object] = (
            {} if bounded.baseline is None else {"baseline": bounded.baseline}
        )
        if spoiled:
            extra["spoiled_runs"] = list(spoiled)
        if outcome.verdict is Verdict.INVALID:  # what spoiled it: the host, named
            extra["spoiled_by"] = result.generator.problem()
        bound, measured, interval = row_values(bounded, outcome)
        criteria.record(
            criterion=bounded.criterion,
            scope=scope_of(bounded),
            bound=bound,
            unit=bounded.unit,
            measured=measured,
            interval=interval,
            verdict=outcome.verdict.value,
            decided_after_s=decision.elapsed_seconds,
            requests=result.requests if whole else result.route(gate.route or "").requests,
            max_s=result.max if whole else None,
            server_p95_s=None if server is None or not whole else server.server_p95,
            load_generator=result.generated_by,
            **extra,
        )


def attach_evidence(result: LoadResult, evidence: Evidence) -> None:
    attach_text("summary", result.summary())
    attach_file("latency histogram", evidence.histogram_png)
    attach_file("latency over time", evidence.timeline_png)
    attach_file("percentiles", evidence.percentile_table)
    attach_file("HDR interval log", evidence.interval_log)

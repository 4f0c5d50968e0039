"""The load suites' workloads and their shapes (rate, looks), run the same way everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fixtures.providers.base import HttpEndpoint
from load.plan import LoadPlan
from load.sequential import Looks
from plugins.criteria import Criteria
from plugins.settings import HarnessContext
from suites.load.gated_run import GatedRun, run_gated
from suites.load.target import LoadTarget

WORKLOADS = ("entity_query", "graph_query", "mixed")


@dataclass(frozen=True)
class Shape:
    rate: float
    looks: Looks
    processes: int = 1


PR_GATE = Shape(rate=100.0, looks=Looks(first_seconds=10, step_seconds=15, max_seconds=120))
DRILL = Shape(rate=50.0, looks=Looks(first_seconds=300, step_seconds=300, max_seconds=300))


def run_workload(
    scenario: str,
    shape: Shape,
    target: LoadTarget,
    prometheus: HttpEndpoint | None,
    context: HarnessContext,
    criteria: Criteria | None,
    workdir: Path,
) -> GatedRun:
    """Run one workload in the open model until its SLO gates decide."""
    slo = context.profile.slo
    plan = LoadPlan(
        scenario=scenario,
        base_url=target.url,
        duration_seconds=shape.looks.max_seconds,
        rate_per_second=shape.rate,
        processes=shape.processes,
        entity_ids=target.entity_ids,
        allow_remote=context.profile.allow_remote_load,
        latency_bound_seconds=slo.p95_seconds,
        seed=WORKLOADS.index(scenario) + 1,
    )
    url = None if prometheus is None else prometheus.url
    return run_gated(plan, shape.looks, slo, workdir, url, criteria)

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
# The request types of the mixed workload (scenarios/load/mixed.py), as its runs name them.
ROUTES = {"mixed": ("GET /entities/{id}", "GET /graph/{id}/neighbors", "POST /entities")}


@dataclass(frozen=True)
class Shape:
    rate: float
    looks: Looks
    processes: int = 1
    by_route: bool = False  # also gate each request type's P95 (the workload's `ROUTES`)


PR_GATE = Shape(rate=100.0, looks=Looks(first_seconds=10, step_seconds=15, max_seconds=120))
# The requirements' sustained run: 5 minutes at 50 requests/s of the mixed workload (the
# production mix of reads, traversals and writes), judged once at the end, overall and per
# request type. Each workload alone is gated at twice the rate by the PR-gate runs.
DRILL = Shape(
    rate=50.0,
    looks=Looks(first_seconds=300, step_seconds=300, max_seconds=300),
    by_route=True,
)


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
    routes = ROUTES.get(scenario, ()) if shape.by_route else ()
    return run_gated(plan, shape.looks, slo, workdir, url, criteria, routes)

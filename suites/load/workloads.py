"""A workload of the system description, run the same way everywhere: its plan (rate,
length, processes, traffic), its looks, its gates (its bounds) and its rows."""

from __future__ import annotations

from pathlib import Path

from fixtures.providers.base import HttpEndpoint
from load.bounds import gates_for
from load.crosscheck import ServerMetrics
from load.plan import LoadPlan
from load.sequential import Looks
from plugins.criteria import Criteria
from plugins.settings import HarnessContext
from suites.load.gated_run import GatedRun, run_gated
from suites.load.target import LoadTarget
from system.description import Description, Workload


def looks_of(workload: Workload) -> Looks:
    """Sequential looks when the workload has a `first_look`; else one look at its end."""
    duration = workload.duration
    first = workload.first_look or duration
    return Looks(
        first_seconds=first, step_seconds=workload.look_every or duration, max_seconds=duration
    )


def server_metrics(description: Description) -> ServerMetrics | None:
    metrics = description.metrics
    if metrics is None:
        return None
    return ServerMetrics(
        http_histogram=metrics.http_histogram,
        route_label=metrics.route_label,
        selector=metrics.selector,
        exclude_routes=metrics.exclude_routes,
        parts=tuple((part.name, part.selector) for part in metrics.parts),
    )


def run_workload(
    name: str,
    target: LoadTarget,
    prometheus: HttpEndpoint | None,
    context: HarnessContext,
    criteria: Criteria | None,
    workdir: Path,
    history: list[float] | None = None,
) -> GatedRun:
    """Run workload `name` in the open model until its gates decide."""
    description = context.system.description
    workload = description.workloads[name]
    gates = gates_for(name, workload, context.slo, history or [])
    latency_bounds = [bounded.gate.bound for bounded in gates if bounded.gate.metric == "latency"]
    plan = LoadPlan(
        scenario=name,
        base_url=target.url,
        duration_seconds=workload.duration,
        rate_per_second=workload.rate,
        processes=workload.processes,
        max_in_flight=workload.max_in_flight,
        traffic=target.traffic(name),
        allow_remote=context.profile.allow_remote_load,
        latency_bound_seconds=max(latency_bounds, default=context.slo.p95_seconds),
        seed=workload.seed or list(description.workloads).index(name) + 1,
    )
    url = None if prometheus is None else prometheus.url
    return run_gated(
        plan,
        looks_of(workload),
        gates,
        workdir,
        url,
        criteria,
        server_metrics(description),
        generators=context.profile.load,
    )

"""Capacity (drill): the highest arrival rate at which the SLO still holds.

The system description's `[capacity]` names the workload and the search: the rate rises
by `factor` each step (25/s, 37.5/s, 56/s, ... by default), `step` long, each step judged
by the SLO gates; the first step that fails (or that the load generator cannot hold)
ends the search (`load/capacity.py`). The number is reported, not gated: the test fails
only if not even the first step meets the SLO. Latency against rate goes to the report.
A description without `[capacity]` skips it, saying so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from load.capacity import CapacitySearch, Step, find_capacity
from load.evidence import plot_capacity
from plugins.criteria import Criteria
from plugins.evidence import attach_file, attach_text
from plugins.settings import HarnessContext
from suites.load.target import LoadTarget

pytestmark = pytest.mark.exclusive  # throughput measured on this machine: alone under xdist


@pytest.mark.drill
@pytest.mark.criteria("capacity")
def test_capacity_highest_rate_within_slo(
    load_target: LoadTarget, harness_context: HarnessContext, criteria: Criteria, tmp_path: Path
) -> None:
    spec = harness_context.system.description.capacity
    if spec is None:
        pytest.skip(f"{harness_context.system.describe()} has no [capacity]: nothing to search")
    slo = harness_context.slo
    search = CapacitySearch(
        scenario=spec.workload,
        base_url=load_target.url,
        p95_seconds=slo.p95_seconds,
        error_rate=slo.error_rate,
        start_rate=spec.start,
        factor=spec.factor,
        max_rate=spec.max,
        step_seconds=spec.step,
        traffic=load_target.traffic(spec.workload),
        allow_remote=harness_context.profile.allow_remote_load,
    )
    capacity = find_capacity(search, tmp_path / "steps", generators=harness_context.profile.load)
    table = "\n".join(step.row() for step in capacity.steps)
    attach_text("capacity steps", f"{table}\n{capacity.conclusion()}")
    plot = tmp_path / "capacity.png"
    plot_capacity(
        [_point(step) for step in capacity.steps], plot, slo.p95_seconds, capacity.conclusion()
    )
    attach_file("latency against rate", plot)
    rate = capacity.highest_passing_rate
    # A lower bound: the rate the description requires, else the search's first step.
    required = spec.required if spec.required is not None else spec.start
    held = rate is not None and rate >= required
    criteria.record(
        criterion="capacity",
        scope=spec.workload,
        bound=required,
        unit="req/s",
        measured=rate,
        verdict="pass" if held else "fail",
        bound_from="[capacity] required" if spec.required is not None else "[capacity] start",
        steps=[step.row() for step in capacity.steps],
        conclusion=capacity.conclusion(),
    )
    print(f"{table}\n{capacity.conclusion()}")
    if not held:
        pytest.fail(
            f"capacity {rate or 0:g} req/s is under the {required:g} req/s required: "
            f"{capacity.conclusion()}",
            pytrace=False,
        )


def _point(step: Step) -> tuple[float, float, float, float, str]:
    result = step.result
    return step.rate, result.p50, result.p95, result.p99, step.verdict.value

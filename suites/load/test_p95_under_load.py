"""Latency and errors under load (design section 1): every workload of the system
description meets its bounds — P50/P95/P99, error rate, availability, throughput against
its baseline, per route — in the open model.

Each workload runs at its rate (`load/pacing.py`: a constant arrival rate, each request
sent at its intended time by a free VU of a pool sized by Little's law, latency from the
intended time), every latency recorded exactly, for its duration; with a `first_look` the
gates look first then, and every `look_every` up to the duration (`load/sequential.py`:
alpha spending keeps the error rate of the repeated looks at 5 %), else once at its end.
The gates (`load/gates.py`) pass only when a confidence interval clears the bound; a run
in which the load generator could not hold the rate is invalid, never a pass or a fail
of the target. An answer counts as a success only with a status the workload declares
(2xx unless it says otherwise: a redirect to a login page is an error). The client's P95
is compared with the server's own (`load/crosscheck.py`) when a Prometheus scrapes it and
the description names its histograms.

Which workloads run where is the description's `gates`: `pr_gate` (every PR) and/or
`drill` (the monthly drill). A test shortens a long workload with an override, e.g.
`--set workloads.quotes.duration=30s`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.providers.api import ApiEndpoint
from fixtures.providers.base import HttpEndpoint
from load.smoke import run_smoke
from plugins.criteria import Criteria, EarlierRuns
from plugins.evidence import attach_text
from plugins.settings import HarnessContext
from suites.load.target import LoadTarget
from suites.load.workloads import run_workload

pytestmark = pytest.mark.exclusive  # latency measured on this machine: alone under xdist


@pytest.mark.pr_gate
@pytest.mark.drill
@pytest.mark.criteria("smoke")
def test_smoke_checks_pass(
    api: ApiEndpoint, harness_context: HarnessContext, criteria: Criteria
) -> None:
    """The description's smoke checks, before any load: one row and one line per check."""
    checks = harness_context.system.description.smoke
    if not checks:
        pytest.skip(f"{harness_context.system.describe()} declares no [[smoke]] check")
    results = run_smoke(api.url, checks)
    for result in results:
        criteria.record(
            criterion="smoke",
            scope=result.check.label,
            bound=0,
            unit="failures",
            measured=0 if result.passed else 1,
            verdict="pass" if result.passed else "fail",
            request=str(result.check.request),
            status=result.status,
            problem=result.problem,
        )
    attach_text("smoke checks", "\n".join(result.line() for result in results))
    failed = [result.line() for result in results if not result.passed]
    assert not failed, "smoke checks failed:\n" + "\n".join(failed)


def test_workload_meets_its_bounds(
    workload: str,
    load_target: LoadTarget,
    target_prometheus: HttpEndpoint | None,
    harness_context: HarnessContext,
    criteria: Criteria,
    earlier_runs: EarlierRuns,
    tmp_path: Path,
) -> None:
    history = earlier_runs("throughput", workload)
    run_workload(
        workload, load_target, target_prometheus, harness_context, criteria, tmp_path, history
    )

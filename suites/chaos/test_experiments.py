"""Chaos hypotheses (design section 1): each experiment of the system description's
`[chaos] experiments` folder, against a
target that really suffers the fault, holds during it and after it, and rolls back.

Each case is marked `pr_gate` (the PR gate's: Redis 300 ms slower, Neo4j black-holed, the
API killed with writes in flight) or `drill` (every other experiment and variant), and
`destructive` when it kills, stops, stresses or fills. `--chaos-experiment NAME` picks
experiments. Locally they run against the suite's own supervised stack (`chaos/stack.py`);
against a profile, only the fault kinds its `[chaos] allow` names, through its own
Toxiproxy, and nothing destructive unless it sets `destructive = true`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.experiments import Experiment, Outcome
from chaos.stack import ChaosStack
from fixtures.launcher import ServiceLauncher
from plugins.chaos_selection import carry_outcome
from plugins.criteria import Criteria
from plugins.settings import HarnessContext
from suites.chaos.cases import run_case

pytestmark = pytest.mark.exclusive  # steady states measured on this machine: alone under xdist

Case = tuple[Experiment, str]


@pytest.mark.criteria("chaos_hypothesis")
def test_hypothesis_holds_under_the_fault(
    chaos_case: Case,
    chaos_target: ChaosStack | None,
    chaos_results: list[Outcome],
    service_launcher: ServiceLauncher,
    harness_context: HarnessContext,
    criteria: Criteria,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    experiment, variant = chaos_case

    def keep(outcome: Outcome) -> None:
        chaos_results.append(outcome)  # pushed at the end of the session
        carry_outcome(request.node, outcome)  # the terminal's summary line

    if "archive" in experiment.needs:
        request.getfixturevalue("chaos_archive")
    run_case(
        experiment,
        variant,
        stack=chaos_target,
        profile=harness_context.profile,
        system=harness_context.system,
        launcher=service_launcher,
        workdir=tmp_path,
        criteria=criteria,
        keep=keep,
    )

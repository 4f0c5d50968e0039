"""The chaos suite's hypotheses fail on a target that lacks the resilience it claims.

Each test runs a real experiment of scenarios/chaos (the same file the suite runs) against
a reference target with a test-only knob that removes one resilience (`sut/config.py`),
on the chaos stack's databases, and requires the hypothesis to fail naming what broke:

- no Redis timeout: a black-holed cache hangs entity reads (no graceful degradation);
- a /healthz that checks nothing: it does not name the lost Neo4j;
- a write path that acknowledges before committing: the ledger names the lost entities;
- a Postgres client that never reconnects: the target never gets back to steady state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos import experiments
from chaos.experiments import Outcome, discover
from chaos.stack import ChaosStack, chaos_stack, with_target
from fixtures.launcher import ServiceLauncher
from fixtures.profile import Slo
from tests.reference import EXPERIMENTS_DIR

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]


@pytest.fixture(scope="module")
def stack(service_launcher: ServiceLauncher) -> Iterator[ChaosStack]:
    with chaos_stack(service_launcher) as started:
        yield started


# Shorter than the suite's (the hypothesis is the same): these only have to fail.
QUICK = {"steady_seconds": 4.0, "recovery_seconds": 10.0}


def run_against(
    stack: ChaosStack,
    launcher: ServiceLauncher,
    name: str,
    variant: str,
    faults: dict[str, str],
    workdir: Path,
) -> Outcome:
    experiment = discover(EXPERIMENTS_DIR)[name]
    with with_target(stack, launcher, faults) as faulted:
        configuration = {**faulted.configuration(workdir / "run", Slo()), **QUICK}
        if experiment.fault != "kill":
            configuration["fault_seconds"] = 6.0
        return experiments.run(experiment, configuration, faulted.context(launcher), variant)


def failures_of(outcome: Outcome) -> str:
    assert not outcome.passed, f"{outcome.label} held on a target without the resilience"
    text = "\n".join(outcome.failures)
    print(text)
    return text


def test_a_redis_client_without_a_timeout_fails_graceful_degradation(
    stack: ChaosStack, service_launcher: ServiceLauncher, tmp_path: Path
) -> None:
    outcome = run_against(
        stack, service_launcher, "redis-unavailable", "blackhole",
        {"TARGET_FAULT_REDIS_NO_TIMEOUT": "1"}, tmp_path,
    )  # fmt: skip
    text = failures_of(outcome)
    assert "entity-reads-degrade-gracefully: only" in text
    assert "of requests succeeded, claimed >= 95%" in text


def test_a_healthz_that_checks_nothing_fails_to_name_the_lost_dependency(
    stack: ChaosStack, service_launcher: ServiceLauncher, tmp_path: Path
) -> None:
    outcome = run_against(
        stack, service_launcher, "neo4j-unavailable", "blackhole",
        {"TARGET_FAULT_HEALTHZ_UNCHECKED": "1"}, tmp_path,
    )  # fmt: skip
    text = failures_of(outcome)
    assert "healthz-names-neo4j-within-2-s: /healthz did not answer unhealthy naming neo4j" in text


def test_acknowledging_before_committing_loses_writes_the_ledger_names(
    stack: ChaosStack, service_launcher: ServiceLauncher, tmp_path: Path
) -> None:
    outcome = run_against(
        stack, service_launcher, "api-kill", "", {"TARGET_FAULT_ACK_BEFORE_COMMIT": "1"}, tmp_path
    )
    text = failures_of(outcome)
    assert "no-acknowledged-write-lost: acknowledged writes not kept" in text
    assert " lost: ledger-" in text, "the lost entities are named"


def test_a_target_that_never_reconnects_to_postgres_does_not_recover(
    stack: ChaosStack, service_launcher: ServiceLauncher, tmp_path: Path
) -> None:
    outcome = run_against(
        stack, service_launcher, "postgres-unavailable", "refused",
        {"TARGET_FAULT_PG_NO_RECONNECT": "1"}, tmp_path,
    )  # fmt: skip
    text = failures_of(outcome)
    assert "back-to-steady-state-in-time: not back to steady state within 10 s" in text

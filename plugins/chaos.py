"""Fixtures of the chaos suite: a stack of its own (locally), or the profile's target.

A plugin, not the suite's conftest: the first test of the measurements unit sets the
stack up (plugins/placement.py), and that test is a load test, outside suites/chaos."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from chaos.archive import ArchiveUnderFaults, archive_under_faults
from chaos.experiments import Outcome
from chaos.stack import ChaosStack, chaos_stack
from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.providers.base import HttpEndpoint
from fixtures.pushgateway_client import publish
from plugins.evidence import attach_text
from plugins.settings import HarnessContext


@pytest.fixture(scope="session")
def chaos_target(service_launcher: ServiceLauncher) -> Iterator[ChaosStack | None]:
    """The chaos suite's own supervised stack locally; None against a file profile (the
    experiments then use the profile's target, and only the faults it allows)."""
    if service_launcher.backend is Backend.EXTERNAL:
        yield None
        return
    started = time.monotonic()
    with chaos_stack(service_launcher) as stack:
        where = stack.namespace.name if stack.namespace else f"loopback ({stack.namespace_problem})"
        attach_text(
            "chaos stack", f"ready in {time.monotonic() - started:.1f} s; target in {where}"
        )
        yield stack


@pytest.fixture(scope="session")
def chaos_archive(
    service_launcher: ServiceLauncher, chaos_target: ChaosStack | None
) -> Iterator[ArchiveUnderFaults]:
    """The backup pipeline under faults (S3, its fault proxy, an archiving primary), for
    the S3 experiments; only locally."""
    if chaos_target is None:
        pytest.skip("the S3 experiments need the archive the harness starts itself (local)")
    with archive_under_faults(service_launcher, chaos_target.toxiproxy) as archive:
        chaos_target.extras["archive"] = archive
        try:
            yield archive
        finally:
            chaos_target.extras.pop("archive", None)


@pytest.fixture(scope="session")
def chaos_results(
    request: pytest.FixtureRequest, harness_context: HarnessContext
) -> Iterator[list[Outcome]]:
    """Every experiment's outcome; at the end, the drill's chaos results are pushed
    (design section 6) to the session's Pushgateway (the profile's, against staging)."""
    outcomes: list[Outcome] = []
    gateway = _pushgateway(request)
    yield outcomes
    if gateway is None or not outcomes:
        return
    for outcome in outcomes:
        labels = {"experiment": outcome.label}
        publish(gateway.url, "chaos_experiment_passed", 1.0 if outcome.passed else 0.0, labels)
    now = time.time()
    publish(gateway.url, "chaos_drill_last_run_timestamp_seconds", now)
    if all(outcome.passed for outcome in outcomes):
        publish(gateway.url, "chaos_drill_last_success_timestamp_seconds", now)


def _pushgateway(request: pytest.FixtureRequest) -> HttpEndpoint | None:
    try:
        endpoint: HttpEndpoint = request.getfixturevalue("pushgateway")
    except pytest.skip.Exception:
        return None  # a profile without [services.pushgateway]: nothing to push to
    return endpoint

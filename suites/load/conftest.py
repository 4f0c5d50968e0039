"""Fixtures of the load suites: the target and its ids, a Prometheus that scrapes it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.providers.api import ApiEndpoint
from fixtures.providers.base import HttpEndpoint
from load.errors import LoadPlanError
from load.plan import is_local
from load.preflight import check_values
from plugins.services import start_service
from plugins.settings import HarnessContext
from suites.load.gated_run import scrape_config
from suites.load.target import LoadTarget, target_of


@pytest.fixture(scope="module")
def load_target(api: ApiEndpoint, harness_context: HarnessContext) -> LoadTarget:
    """The target, if load may be sent to it (loopback, or a profile that allows it), and
    its ids, checked once: ids that mostly do not answer stop the load tests with one line."""
    profile = harness_context.profile
    if not is_local(api.host) and not profile.allow_remote_load:
        pytest.skip(
            f"load suites send traffic to this machine only: {api.url} is not loopback; "
            f"set [target] allow_remote_load = true in {profile.describe()} to load it"
        )
    description = harness_context.system.description
    target = target_of(api, description)
    failure = None
    first = next(iter(description.workloads), None)  # values are the description's, shared
    try:
        if first is not None:
            check_values(api.url, target.traffic(first), description.values)
    except LoadPlanError as error:
        failure = str(error)
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    return target


@pytest.fixture(scope="module")
def target_prometheus(
    load_target: LoadTarget, service_launcher: ServiceLauncher, harness_context: HarnessContext
) -> Iterator[HttpEndpoint | None]:
    """A Prometheus scraping the target every second; the profile's own one externally, or
    None (the cross-check is then skipped, saying so, and the gates still run)."""
    if service_launcher.backend is Backend.EXTERNAL:
        if "prometheus" not in service_launcher.profile.services:
            yield None
            return
        yield start_service(service_launcher, "prometheus").endpoint
        return
    description = harness_context.system.description
    job = description.alerts.job if description.alerts is not None else description.name
    running = start_service(
        service_launcher, "prometheus", config=scrape_config(load_target.endpoint, job)
    )
    try:
        yield running.endpoint
    finally:
        running.stop()

"""Fixtures of the load suites: the target, a Prometheus that scrapes it, the run helper."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.providers.api import ApiEndpoint
from fixtures.providers.base import HttpEndpoint
from fixtures.services import start_service
from load.plan import is_loopback
from plugins.settings import HarnessContext
from suites.load.gated_run import scrape_config


@pytest.fixture(scope="module")
def load_target(api: ApiEndpoint, harness_context: HarnessContext) -> ApiEndpoint:
    """The target, if load may be sent to it: loopback, or a profile that allows it."""
    profile = harness_context.profile
    if not is_loopback(api.host) and not profile.allow_remote_load:
        pytest.skip(
            f"load suites send traffic to this machine only: {api.url} is not loopback; "
            f"set [target] allow_remote_load = true in {profile.describe()} to load it"
        )
    return api


@pytest.fixture(scope="module")
def target_prometheus(
    load_target: ApiEndpoint, service_launcher: ServiceLauncher, request: pytest.FixtureRequest
) -> Iterator[HttpEndpoint]:
    """A Prometheus scraping the target every second; the profile's own one externally."""
    if service_launcher.backend is Backend.EXTERNAL:
        yield request.getfixturevalue("prometheus")
        return
    running = start_service(service_launcher, "prometheus", config=scrape_config(load_target))
    try:
        yield running.endpoint
    finally:
        running.stop()

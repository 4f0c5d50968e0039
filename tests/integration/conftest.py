"""Fixtures shared by the provider tests that drive the launcher directly, and the
private Docker engine of the containers backend's tests (`fixtures/engine.py`).

Its preparation (engine install, image build: minutes on a fresh machine, heavy on the
disk) starts in the background as soon as those tests are collected. Only tests that do
not measure time run beside it (`BUILD_TOLERANT`, moved to the front); the first test
that does waits for the preparation to end, so that no latency, steady state or alert
bound is measured on a machine busy building images. The containers tests run last."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.backend import Backend
from fixtures.engine import EngineReady, PrivateEngine
from fixtures.launcher import ServiceLauncher
from fixtures.profile import local_profile
from plugins.target import HARNESS_CONTEXT

CONTAINERS_TESTS = "test_containers_backend.py"
# Tests that check behaviour, not time: they may share the machine with an image build.
BUILD_TOLERANT = (
    "tests/unit/",
    "tests/integration/test_bad_inputs.py",
    "tests/integration/test_secrets.py",
    "tests/integration/test_allure_evidence.py",
    "tests/integration/test_alert_routing.py",
    "tests/integration/test_live_series.py",
    "tests/integration/test_slo_faults.py",
    "tests/integration/test_container_commands.py",
    "tests/integration/test_services.py",
    "tests/integration/test_toxiproxy_provider.py",
    "tests/integration/test_neo4j_provider.py",
    "tests/integration/test_teardown.py",
)
PRIVATE_ENGINE = pytest.StashKey[PrivateEngine | None]()


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only when they will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    containers = [item for item in items if item.path.name == CONTAINERS_TESTS]
    if not containers or PRIVATE_ENGINE in config.stash or config.option.collectonly:
        return
    others = [item for item in items if item.path.name != CONTAINERS_TESTS]
    tolerant = [item for item in others if _build_tolerant(item)]
    items[:] = tolerant + [item for item in others if not _build_tolerant(item)] + containers
    if os.geteuid() != 0:
        config.stash[PRIVATE_ENGINE] = None
        return
    log = Path(tempfile.mkdtemp(prefix="reliability-engine-")) / "prepare.log"
    config.stash[PRIVATE_ENGINE] = PrivateEngine(config.stash[HARNESS_CONTEXT].images, log)


def _build_tolerant(item: pytest.Item) -> bool:
    return item.nodeid.startswith(BUILD_TOLERANT)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test that measures time waits until the image build is over (see above)."""
    engine = item.config.stash.get(PRIVATE_ENGINE, None)
    if engine is not None and not _build_tolerant(item):
        engine.wait()


def pytest_unconfigure(config: pytest.Config) -> None:
    engine = config.stash.get(PRIVATE_ENGINE, None)
    if engine is not None:
        engine.close()
        log = engine.log
        log.unlink(missing_ok=True)
        log.parent.rmdir()


@pytest.fixture(scope="session")
def private_engine(pytestconfig: pytest.Config) -> EngineReady:
    """The prepared engine (its DOCKER_HOST), or a skip saying why none can run here."""
    engine = pytestconfig.stash.get(PRIVATE_ENGINE, None)
    if engine is None:
        pytest.skip("the containers backend tests start a private dockerd, which needs root")
    ready = engine.wait()
    if ready.docker_host is None and not ready.engine_up:
        pytest.skip(f"no Docker engine can run here: {ready.problem}")
    if ready.docker_host is None:
        pytest.fail(f"preparing the containers tests failed: {ready.problem}\n{ready.build_log}")
    return ready


@pytest.fixture
def launcher() -> Iterator[ServiceLauncher]:
    """A native launcher of the test's own, closed (everything stopped) after the test."""
    launcher = ServiceLauncher(Backend.NATIVE, local_profile())
    try:
        yield launcher
    finally:
        launcher.close()

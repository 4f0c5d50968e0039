"""Fixtures shared by the provider tests that drive the launcher directly, and the
private Docker engine of the containers backend's tests (`fixtures/engine.py`): its
preparation starts in the background as soon as those tests are collected, and they run
last, so that a fresh machine's engine install and image build overlap the other tests."""

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
PRIVATE_ENGINE = pytest.StashKey[PrivateEngine | None]()


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: only when they will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    containers = [item for item in items if item.path.name == CONTAINERS_TESTS]
    if not containers or PRIVATE_ENGINE in config.stash:
        return
    items[:] = [item for item in items if item.path.name != CONTAINERS_TESTS] + containers
    if os.geteuid() != 0:
        config.stash[PRIVATE_ENGINE] = None
        return
    log = Path(tempfile.mkdtemp(prefix="reliability-engine-")) / "prepare.log"
    config.stash[PRIVATE_ENGINE] = PrivateEngine(config.stash[HARNESS_CONTEXT].images, log)


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

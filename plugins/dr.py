"""Fixtures of the DR checks (a pytest plugin): a launcher that can restore, the history's
seed, an archiving primary with a recorded commit history (`dr.history`), and fresh
stores for a system that loses its primary (`recovery_stores`).

Restores start a Postgres on a restored data directory, on the native backend (a process)
or the containers backend (`DR_IMAGE` on the harness's files); against a file profile the
harness must not restore into the source, so the tests that need it are skipped, saying why
(`suites/dr/test_profile_restore.py` restores a profile's archive on this machine instead).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from dr.history import (
    PR_GATE_ARCHIVE_TIMEOUT_SECONDS,
    SEED_VARIABLE,
    History,
    ledger_summary,
    record_history,
)
from dr.primary import archiving_primary
from fixtures.backend import Backend
from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.providers.s3 import S3Endpoint
from plugins.evidence import attach_json
from plugins.settings import HarnessContext


@pytest.fixture(scope="session")
def dr_launcher(service_launcher: ServiceLauncher) -> ServiceLauncher:
    """The launcher, if it starts servers of its own (it restores, and kills primaries)."""
    if service_launcher.backend is Backend.EXTERNAL:
        pytest.skip(
            f"DR restores and failovers start and kill Postgres servers of the harness's own: "
            f"against {service_launcher.profile.describe()} they run on this machine "
            "(test_profile_restore.py restores the profile's archive here)"
        )
    return service_launcher


@pytest.fixture(scope="module")
def dr_seed(harness_context: HarnessContext) -> int:
    """The seed of the randomized commit history (--dr-seed / RELIABILITY_DR_SEED replay one)."""
    configured = harness_context.dr_seed
    seed = configured if configured is not None else random.SystemRandom().randrange(2**32)
    print(f"DR commit history seed: {seed} (replay with {SEED_VARIABLE}={seed})")
    return seed


@pytest.fixture(scope="module")
def pitr_history(dr_launcher: ServiceLauncher, s3: S3Endpoint, dr_seed: int) -> Iterator[History]:
    """An archiving primary (autovacuum off) with the recorded history on it."""
    with archiving_primary(
        dr_launcher,
        s3,
        PR_GATE_ARCHIVE_TIMEOUT_SECONDS,
        extra_settings={"autovacuum": "off"},
    ) as primary:
        history = record_history(primary, dr_seed)
        attach_json("ledger", ledger_summary(history.ledger, dr_seed))
        yield history


RESTORED_SERVICE = "postgres"  # what the DR suites lose and restore
FreshStores = Callable[[], AbstractContextManager[dict[str, Any]]]


@pytest.fixture
def recovery_stores(harness_context: HarnessContext, request: pytest.FixtureRequest) -> FreshStores:
    """`with recovery_stores() as stores:` fresh instances of the system's other `[local]`
    services (all but Postgres), by name, for one loss of the primary: the system runs on
    the primary with them, then on the restored database with the same ones (only the
    primary is lost). Fresh, because a fresh database hands out its first ids again: in
    the session's stores those would be other records' (a unique key refuses the write, a
    cache answers for the restore). Stopped when the block ends.

    Skipped for a system the harness cannot start on a restored Postgres."""
    system = harness_context.system
    local = system.description.local
    if local is None:
        pytest.skip(
            f"{system.describe()} has no [local]: the harness cannot start it on a restored "
            "database to measure its recovery"
        )
    if RESTORED_SERVICE not in local.services:
        pytest.skip(
            f"{system.describe()} names no {RESTORED_SERVICE} among its [local] services: "
            f"losing the primary means losing its {RESTORED_SERVICE}"
        )
    factories = {
        name: request.getfixturevalue(f"{name}_factory")
        for name in local.services
        if name != RESTORED_SERVICE
    }

    @contextmanager
    def fresh() -> Iterator[dict[str, Any]]:
        started: dict[str, RunningService[Any]] = {}
        try:
            for name, factory in factories.items():
                started[name] = factory()
            yield {name: service.endpoint for name, service in started.items()}
        finally:
            for service in reversed(started.values()):
                service.stop()

    return fresh

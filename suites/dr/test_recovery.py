"""Recovery point and recovery time, measured after losing the primary.

A reference target runs on an archiving primary while a writer commits a row every 50 ms
and logs each acknowledgement. At a random moment the primary is destroyed (SIGKILL, data
directory removed). The harness detects it (the target's /healthz turns 503), restores
the archive into a fresh Postgres to its latest point, starts a target on it and waits
until it answers healthy and serves an entity written before the failure.

RPO = last acknowledged write - newest write restored (<= the profile's `rpo_seconds`;
shown against `archive_timeout`). RTO = failure -> healthy target, by phase
(<= `rto_seconds`). Both are pushed to the Pushgateway (design section 6) and attached.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from dr.loss import (
    AckStream,
    RecoveryPoint,
    RecoveryTime,
    destroy_primary,
    publish_recovery,
    recovery_point,
    require_rpo,
    require_rto,
)
from dr.primary import archiving_primary
from dr.report import plot_rto, rto_table
from dr.restore import restore
from dr.targets import RecoveryTarget
from fixtures.launcher import ServiceLauncher
from fixtures.providers.base import HttpEndpoint
from fixtures.providers.s3 import S3Endpoint
from plugins.criteria import Criteria
from plugins.evidence import attach_file, attach_json, attach_text
from plugins.settings import HarnessContext
from suites.dr.conftest import PR_GATE_ARCHIVE_TIMEOUT_SECONDS

pytestmark = pytest.mark.destructive

PROBE_ENTITY = 900_001  # far above any seeded id: never in the shared cache
DETECT_DEADLINE_SECONDS = 30.0
HEALTHY_DEADLINE_SECONDS = 120.0


def _padding(dsn: str, megabytes: int) -> None:
    """About `megabytes` of table data (1 KB rows), so restores move a known size."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("CREATE TABLE dr_padding (id int PRIMARY KEY, payload text)")
        connection.execute(
            "INSERT INTO dr_padding SELECT g, repeat(md5(g::text), 32) "
            "FROM generate_series(1, %s) g",
            (megabytes * 1000,),
        )


def _probe_entity(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO entities (id, name, kind) VALUES (%s, 'dr-probe', 'probe')",
            (PROBE_ENTITY,),
        )


def _wait(condition: Callable[[], bool], deadline_seconds: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > deadline_seconds:
            pytest.fail(f"{what} not within {deadline_seconds:g} s", pytrace=False)
        time.sleep(0.1)
    return time.monotonic() - started


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=2).status_code
    except requests.RequestException:
        return 0


def measure_recovery(
    native_launcher: ServiceLauncher,
    s3: S3Endpoint,
    api_factory: Callable[..., Any],
    *,
    megabytes: int,
    write_seconds: float,
    archive_timeout_seconds: float = PR_GATE_ARCHIVE_TIMEOUT_SECONDS,
) -> tuple[RecoveryPoint, RecoveryTime]:
    with archiving_primary(native_launcher, s3, archive_timeout_seconds) as primary:
        target = api_factory(postgres=primary.endpoint, seed=False, warm=False)  # it only notices
        _probe_entity(primary.endpoint.dsn)
        _padding(primary.endpoint.dsn, megabytes)
        stream = AckStream(primary.endpoint.dsn)  # writing through the base backup, too
        primary.tool.backup(primary.endpoint, "before-failure")
        time.sleep(write_seconds)
        failed_at = time.monotonic()
        destroy_primary(primary)
        acks = list(stream.acks)
        stream.stop()
        recovery = RecoveryTime()
        health = f"{target.endpoint.url}/healthz"
        recovery.phases["detect"] = _wait(
            lambda: _status(health) == 503, DETECT_DEADLINE_SECONDS, "the target reporting 503"
        )
        target.stop()
        restored = restore(
            native_launcher, primary.tool, RecoveryTarget("latest"), primary.work_root
        )
        try:
            recovery.phases["fetch_backup"] = restored.phases.get("fetch_backup", 0.0)
            recovery.phases["start_replay_promote"] = (
                time.monotonic() - failed_at - sum(recovery.phases.values())
            )
            point = recovery_point(acks, restored.endpoint.dsn, archive_timeout_seconds)
            started = time.monotonic()
            again = api_factory(postgres=restored.endpoint, seed=False)
            entity = f"{again.endpoint.url}/entities/{PROBE_ENTITY}"
            _wait(lambda: _status(entity) == 200, HEALTHY_DEADLINE_SECONDS, "the restored target")
            recovery.phases["target_start_and_warm"] = time.monotonic() - started
            again.stop()  # before its database: Postgres waits for connected clients
        finally:
            restored.service.stop()
        attach_json(
            "recovery",
            {
                "database_megabytes": megabytes,
                "rpo": point.describe(),
                "rto": recovery.describe(),
                "postgres_phases_seconds": restored.phases,
                "wal_segments_restored": restored.wal_segments_restored,
            },
        )
        return point, recovery


@pytest.mark.pr_gate
def test_rpo_and_rto_after_losing_the_primary(
    native_launcher: ServiceLauncher,
    s3: S3Endpoint,
    api_factory: Callable[..., Any],
    pushgateway: HttpEndpoint,
    harness_context: HarnessContext,
    criteria: Criteria,
) -> None:
    slo = harness_context.profile.slo
    write_seconds = random.uniform(6.0, 12.0)  # noqa: S311 - a random moment, not security
    point, recovery = measure_recovery(
        native_launcher, s3, api_factory, megabytes=5, write_seconds=write_seconds
    )
    attach_text("RPO", point.describe())
    attach_text("RTO", recovery.describe())
    publish_recovery(pushgateway.url, "postgres", point.seconds, recovery.seconds)
    for criterion, seconds, bound in (
        ("rpo", point.seconds, slo.rpo_seconds),
        ("rto", recovery.seconds, slo.rto_seconds),
    ):
        criteria.record(
            criterion=criterion,
            scope="postgres (primary lost)",
            bound=bound,
            unit="s",
            measured=seconds,
            verdict="pass" if seconds <= bound else "fail",
            database="postgres",
        )
    require_rpo(point, slo.rpo_seconds)
    require_rto(recovery, slo.rto_seconds)
    # The bound that archiving itself implies: a segment is shipped every archive_timeout.
    assert point.seconds <= PR_GATE_ARCHIVE_TIMEOUT_SECONDS + 5.0, point.describe()


DRILL_SIZES_MB = (10, 100, 1000)


@pytest.mark.drill
def test_rto_by_database_size(
    native_launcher: ServiceLauncher,
    s3: S3Endpoint,
    api_factory: Callable[..., Any],
    pushgateway: HttpEndpoint,
    harness_context: HarnessContext,
    tmp_path: Path,
) -> None:
    """The drill: RTO at 10 MB, 100 MB and 1 GB, with production's 60 s archive_timeout."""
    slo = harness_context.profile.slo
    rows: list[tuple[int, RecoveryTime]] = []
    for megabytes in DRILL_SIZES_MB:
        point, recovery = measure_recovery(
            native_launcher,
            s3,
            api_factory,
            megabytes=megabytes,
            write_seconds=random.uniform(60.0, 120.0),  # noqa: S311 - a random moment
            archive_timeout_seconds=60.0,
        )
        rows.append((megabytes, recovery))
        require_rpo(point, slo.rpo_seconds)
    attach_text("RTO by database size", rto_table(rows, slo.rto_seconds))
    attach_file("RTO by database size", plot_rto(rows, tmp_path / "rto-by-size.png"))
    publish_recovery(pushgateway.url, "postgres", point.seconds, rows[-1][1].seconds)
    for _, recovery in rows:
        require_rto(recovery, slo.rto_seconds)

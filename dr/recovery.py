"""Losing the primary, measured: RPO and RTO by phase (the engine of suites/dr/test_recovery).

A reference target runs on an archiving primary while a writer commits a row every 50 ms
and logs each acknowledgement. After `write_seconds` the primary is destroyed (SIGKILL,
data directory removed). The harness detects it (the target's /healthz turns 503),
restores the archive into a fresh Postgres to its latest point, starts a target on it and
waits until it answers healthy and serves an entity written before the failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import requests

from dr.errors import RecoveryTimedOutError
from dr.history import PR_GATE_ARCHIVE_TIMEOUT_SECONDS
from dr.loss import AckStream, RecoveryPoint, RecoveryTime, destroy_primary, recovery_point
from dr.primary import archiving_primary
from dr.restore import restore
from dr.targets import RecoveryTarget
from fixtures.launcher import ServiceLauncher
from fixtures.providers.s3 import S3Endpoint

PROBE_ENTITY = 900_001  # far above any seeded id: never in the shared cache
DETECT_DEADLINE_SECONDS = 30.0
HEALTHY_DEADLINE_SECONDS = 120.0


@dataclass(frozen=True)
class Recovered:
    point: RecoveryPoint
    time: RecoveryTime
    evidence: dict[str, Any]  # sizes, RPO and RTO described, Postgres's phases


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
            raise RecoveryTimedOutError(f"{what} not within {deadline_seconds:g} s")
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
    start_target: Callable[..., Any],
    *,
    megabytes: int,
    write_seconds: float,
    archive_timeout_seconds: float = PR_GATE_ARCHIVE_TIMEOUT_SECONDS,
) -> Recovered:
    """`start_target(postgres=..., seed=False, ...)` starts a reference target (the
    `api_factory` fixture); the rest are the harness's real servers."""
    with archiving_primary(native_launcher, s3, archive_timeout_seconds) as primary:
        target = start_target(postgres=primary.endpoint, seed=False, warm=False)  # it notices
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
            again = start_target(postgres=restored.endpoint, seed=False)
            entity = f"{again.endpoint.url}/entities/{PROBE_ENTITY}"
            _wait(lambda: _status(entity) == 200, HEALTHY_DEADLINE_SECONDS, "the restored target")
            recovery.phases["target_start_and_warm"] = time.monotonic() - started
            again.stop()  # before its database: Postgres waits for connected clients
        finally:
            restored.service.stop()
        evidence = {
            "database_megabytes": megabytes,
            "rpo": point.describe(),
            "rto": recovery.describe(),
            "postgres_phases_seconds": restored.phases,
            "wal_segments_restored": restored.wal_segments_restored,
        }
        return Recovered(point, recovery, evidence)

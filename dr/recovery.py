"""Losing the primary, measured: RPO and RTO by phase (the engine of suites/dr/test_recovery).

The system (started as its description's `[local]` says) runs on an archiving primary.
Before the failure a probe record is created through the description's `[write_path]`
(its `create` request; the id from the answer's `id` key), then a writer commits a row
every 50 ms and logs each acknowledgement. After `write_seconds` the primary is destroyed
(SIGKILL, data directory removed). The harness detects it (the description's health check
stops answering healthy), restores the archive into a fresh Postgres to its latest point,
starts the system on it and waits until the health check answers healthy and the probe
record, written before the failure, reads back as written (`write_path.read`, its
`compare` keys). A description without `[write_path]` is measured to "the health check
healthy" only, and the evidence says that the data check was skipped and why.

The restored database is then checked for what a restore must hold (`dr.holdings`: the
tables, the schema version), outside the RTO.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import requests

from dr.errors import RecoveryTimedOutError
from dr.history import PR_GATE_ARCHIVE_TIMEOUT_SECONDS
from dr.holdings import Expected, Holdings, check_restored
from dr.loss import AckStream, RecoveryPoint, RecoveryTime, destroy_primary, recovery_point
from dr.primary import archiving_primary
from dr.restore import restore
from dr.targets import RecoveryTarget
from fixtures.launcher import ServiceLauncher
from fixtures.providers.s3 import S3Endpoint
from fixtures.target_client import health, read_back, record_id, write_body
from system.deadline import Deadline, NotYet, WaitTimeoutError, wait_until
from system.description import Description, WritePath
from system.description import Health as HealthSpec

DETECT_DEADLINE_SECONDS = 30.0
HEALTHY_DEADLINE_SECONDS = 120.0
PROBE_WRITE_DEADLINE_SECONDS = 30.0  # a target on fresh stores may refuse its first writes
REQUEST_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 0.1
# The primary holds only what the harness wrote there (the probe record, its own tables):
# a described table may rightly be empty, so here the tables must exist, and the probe
# record reading back is the check of data.
LOCAL_ROWS_REQUIRED = False


@dataclass(frozen=True)
class Probe:
    """The record written through the write path before the failure: what must read back."""

    record_id: int | str
    name: str
    expected: dict[str, Any]  # the `compare` keys as written


@dataclass(frozen=True)
class Recovered:
    point: RecoveryPoint
    time: RecoveryTime
    evidence: dict[str, Any]  # sizes, RPO and RTO described, Postgres's phases
    data_check: str  # what "recovered" meant: the probe record read back, or why not
    holdings: Holdings | None = None  # what the restore holds of `expected` (None: not asked)


def data_check_skipped(description: Description) -> str | None:
    """Why the probe record is not written (None: it is)."""
    if description.write_path is None:
        return (
            "skipped: the system description has no [write_path], so no record is written "
            "before the failure; recovery is measured to the health check answering healthy"
        )
    return None


def _padding(dsn: str, megabytes: int) -> None:
    """About `megabytes` of table data (1 KB rows), so restores move a known size."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("CREATE TABLE dr_padding (id int PRIMARY KEY, payload text)")
        connection.execute(
            "INSERT INTO dr_padding SELECT g, repeat(md5(g::text), 32) "
            "FROM generate_series(1, %s) g",
            (megabytes * 1000,),
        )


def write_probe(
    base_url: str, path: WritePath, deadline_seconds: float = PROBE_WRITE_DEADLINE_SECONDS
) -> Probe:
    """Create the probe record (again until one is acknowledged: a target just started on
    fresh stores may refuse its first writes); `RecoveryTimedOutError` past the deadline."""
    name = f"dr-probe-{uuid.uuid4().hex[:12]}"
    body = write_body(path, name, None)  # a fresh database has no record to link to
    expected = {key: body.get(key) for key in path.compare} if isinstance(body, dict) else {}
    url = f"{base_url.rstrip('/')}{path.create.path}"

    def acknowledged() -> Probe | NotYet:
        answer = requests.request(
            path.create.method,
            url,
            json=body,
            timeout=REQUEST_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        created = record_id(answer, path.id) if answer.status_code in path.created else None
        if created is None:
            return NotYet(f"HTTP {answer.status_code}: {answer.text[:120]!r}")
        return Probe(created, name, expected)

    try:
        return wait_until(
            acknowledged,
            seconds=deadline_seconds,
            what=f"the probe record ({path.create}) acknowledged",
            interval=0.5,
            retry_on=(requests.RequestException,),
        )
    except WaitTimeoutError as timeout:
        raise RecoveryTimedOutError(
            f"the probe record ({path.create}) not acknowledged within {deadline_seconds:g} s "
            f"(last: {timeout.seen})"
        ) from None


def read_probe(base_url: str, path: WritePath, probe: Probe) -> str | None:
    """None if the probe record reads back as written; else what was seen."""
    with requests.Session() as session:
        return read_back(session, base_url, path, probe.record_id, probe.expected)


def timed_wait(condition: Callable[[], bool | NotYet], seconds: float, what: str) -> float:
    """Seconds until `condition` held; past `seconds`, `RecoveryTimedOutError` (the DR
    suites' error) naming `what` and what was seen last."""
    deadline = Deadline(seconds)
    try:
        deadline.wait(condition, what=what, interval=POLL_SECONDS)
    except WaitTimeoutError as timeout:
        raise RecoveryTimedOutError(str(timeout)) from None
    return deadline.elapsed()


def answering(url: str, spec: HealthSpec, *, healthy: bool) -> Callable[[], bool | NotYet]:
    """A condition: the health check answers healthy (or, `healthy=False`, unhealthy)."""

    def check() -> bool | NotYet:
        seen = health(url, spec)
        return seen.ok == healthy or NotYet(f"the health check: {seen.describe()}")

    return check


class _Recovery:
    """The restored system: healthy, and the probe record read back as written."""

    def __init__(self, base_url: str, description: Description, probe: Probe | None) -> None:
        self.base_url = base_url
        self.description = description
        self.probe = probe

    def done(self) -> bool | NotYet:
        seen = health(self.base_url, self.description.health)
        if not seen.ok:
            return NotYet(f"the health check: {seen.describe()}")
        if self.probe is None:
            return True
        path = self.description.write_path
        assert path is not None
        problem = read_probe(self.base_url, path, self.probe)
        if problem is not None:
            return NotYet(f"the probe record {self.probe.record_id}: {problem}")
        return True

    def waited_for(self) -> str:
        what = "the health check answering healthy"
        if self.probe is not None:
            what += f" and the probe record {self.probe.record_id} reading back as written"
        return f"the restored target ({what})"


def measure_recovery(
    dr_launcher: ServiceLauncher,
    s3: S3Endpoint,
    start_target: Callable[..., Any],
    *,
    description: Description,
    megabytes: int,
    write_seconds: float,
    archive_timeout_seconds: float = PR_GATE_ARCHIVE_TIMEOUT_SECONDS,
    expected: Expected | None = None,
) -> Recovered:
    """`start_target(postgres=..., seed=False, ...)` starts the system `description`
    describes (the `api_factory` fixture, with its other stores given: fresh ones, so that
    the probe record's id, the first of a fresh database, is nobody else's); the rest are
    the harness's real servers. `expected`: what the restore must hold, checked after it."""
    skipped = data_check_skipped(description)
    with archiving_primary(dr_launcher, s3, archive_timeout_seconds) as primary:
        target = start_target(postgres=primary.endpoint, seed=False, warm=False)  # it notices
        url, spec = target.endpoint.url, description.health
        timed_wait(  # healthy before the failure, or its detection means nothing
            answering(url, spec, healthy=True),
            HEALTHY_DEADLINE_SECONDS,
            "the system on the primary answering healthy",
        )
        probe = None
        if description.write_path is not None:
            probe = write_probe(target.endpoint.url, description.write_path)
        _padding(primary.endpoint.dsn, megabytes)
        stream = AckStream(primary.endpoint.dsn)  # writing through the base backup, too
        primary.tool.backup(primary.endpoint, "before-failure")
        time.sleep(write_seconds)
        failed_at = time.monotonic()
        destroy_primary(primary)
        acks = list(stream.acks)
        stream.stop()
        recovery = RecoveryTime()
        recovery.phases["detect"] = timed_wait(
            answering(url, spec, healthy=False),
            DETECT_DEADLINE_SECONDS,
            "the health check turning unhealthy",
        )
        target.stop()
        restored = restore(dr_launcher, primary.tool, RecoveryTarget("latest"), primary.work_root)
        holdings = None
        try:
            recovery.phases["fetch_backup"] = restored.phases.get("fetch_backup", 0.0)
            recovery.phases["start_replay_promote"] = (
                time.monotonic() - failed_at - sum(recovery.phases.values())
            )
            point = recovery_point(acks, restored.endpoint.dsn, archive_timeout_seconds)
            started = time.monotonic()
            again = start_target(postgres=restored.endpoint, seed=False)
            state = _Recovery(again.endpoint.url, description, probe)
            timed_wait(state.done, HEALTHY_DEADLINE_SECONDS, state.waited_for())
            recovery.phases["target_start_and_warm"] = time.monotonic() - started
            again.stop()  # before its database: Postgres waits for connected clients
            if expected is not None:
                holdings = check_restored(restored.endpoint.dsn, expected)
        finally:
            restored.service.stop()
        data_check = skipped or ""
        if probe is not None:
            compared = ", ".join(probe.expected) or "its status only"
            data_check = (
                f"the probe record {probe.record_id}, created before the failure, read back "
                f"as written ({compared})"
            )
        evidence: dict[str, Any] = {
            "database_megabytes": megabytes,
            "rpo": point.describe(),
            "rto": recovery.describe(),
            "recovered_when": data_check,
            "postgres_phases_seconds": restored.phases,
            "wal_segments_restored": restored.wal_segments_restored,
        }
        if holdings is not None:
            evidence["restore_holds"] = holdings.describe(LOCAL_ROWS_REQUIRED)
        return Recovered(point, recovery, evidence, data_check, holdings)

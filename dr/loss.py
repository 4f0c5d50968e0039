"""Measured recovery point and recovery time (not configured: measured on real servers).

RPO: a writer commits one row a tick into `dr_stream` and logs each acknowledgement (the
server's `clock_timestamp()` of a committed row). The primary is destroyed (SIGKILL and
its data directory removed) and restored from the archive to its latest point;
RPO = last acknowledged write - newest write present after the restore. With WAL shipped
by `archive_timeout`, RPO is at most about `archive_timeout` + the time to ship a segment.

RTO: from the failure to the target answering healthy on the restored database, each
phase timed (detect, fetch backup, start + replay WAL + promote, target start and warm).
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from dr.errors import RpoViolatedError, RtoViolatedError
from dr.primary import ArchivingPrimary
from fixtures.pushgateway_client import publish
from system.description import Publish

TICK_SECONDS = 0.05


class AckStream:
    """A background writer: one committed row per tick, each acknowledgement logged."""

    def __init__(self, dsn: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS dr_stream "
                "(id bigserial PRIMARY KEY, acked_at timestamptz NOT NULL)"
            )
        self._dsn = dsn
        self.acks: list[datetime] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5) as connection:
                while not self._stop.is_set():
                    row = connection.execute(
                        "INSERT INTO dr_stream (acked_at) VALUES (clock_timestamp()) "
                        "RETURNING acked_at"
                    ).fetchone()
                    if row is not None:
                        self.acks.append(row[0])
                    time.sleep(TICK_SECONDS)
        except psycopg.Error:
            return  # the primary died: the acknowledgements so far are the record

    def stop(self) -> datetime:
        """Stop writing; the last acknowledged write."""
        self._stop.set()
        self._thread.join(timeout=10)
        if not self.acks:
            raise RuntimeError("the write stream acknowledged nothing")
        return self.acks[-1]


def destroy_primary(primary: ArchivingPrimary) -> float:
    """SIGKILL the primary's process group and remove its data directory; the wall time."""
    primary.service.kill()
    failed_at = time.time()
    data_dir = primary.endpoint.data_dir
    if data_dir is not None:
        shutil.rmtree(data_dir, ignore_errors=True)
    return failed_at


def newest_write(dsn: str) -> datetime | None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute("SELECT max(acked_at) FROM dr_stream").fetchone()
    return None if row is None else row[0]


@dataclass(frozen=True)
class RecoveryPoint:
    last_acknowledged: datetime
    newest_restored: datetime | None
    acknowledged_writes: int
    lost_writes: int
    archive_timeout_seconds: float

    @property
    def seconds(self) -> float:
        if self.newest_restored is None:
            return float("inf")
        return max(0.0, (self.last_acknowledged - self.newest_restored).total_seconds())

    def describe(self) -> str:
        newest = self.newest_restored.isoformat() if self.newest_restored else "none"
        return (
            f"RPO {self.seconds:.2f} s with archive_timeout {self.archive_timeout_seconds:g} s: "
            f"last acknowledged write {self.last_acknowledged.isoformat()}, newest restored "
            f"{newest}, {self.lost_writes} of {self.acknowledged_writes} acknowledged writes lost"
        )


def recovery_point(
    acks: list[datetime], restored_dsn: str, archive_timeout_seconds: float
) -> RecoveryPoint:
    newest = newest_write(restored_dsn)
    lost = sum(1 for ack in acks if newest is None or ack > newest)
    return RecoveryPoint(acks[-1], newest, len(acks), lost, archive_timeout_seconds)


def require_rpo(point: RecoveryPoint, bound_seconds: float) -> None:
    if point.seconds > bound_seconds:
        raise RpoViolatedError(f"{point.describe()}; bound {bound_seconds:g} s exceeded")


@dataclass
class RecoveryTime:
    """Phases of one recovery, in seconds, in order; RTO is their sum."""

    phases: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())

    def describe(self) -> str:
        parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.phases.items())
        return f"RTO {self.seconds:.2f} s ({parts})"


def require_rto(recovery: RecoveryTime, bound_seconds: float) -> None:
    if recovery.seconds > bound_seconds:
        raise RtoViolatedError(f"{recovery.describe()}; bound {bound_seconds:g} s exceeded")


def publish_recovery(
    pushgateway_url: str,
    database: str,
    rpo_seconds: float,
    rto_seconds: float,
    *,
    names: Publish,
) -> list[str]:
    """The measured RPO and RTO of `database`, pushed as the gauges the system
    description's `[publish]` names (design section 6); one it does not name is not
    pushed. Returns one line per result not pushed, saying why (evidence)."""
    labels = {"database": database}
    skipped: list[str] = []
    for criterion, metric, seconds in (
        ("rpo", names.rpo, rpo_seconds),
        ("rto", names.rto, rto_seconds),
    ):
        if metric is None:
            skipped.append(
                f"the measured {criterion.upper()} of {database} ({seconds:.2f} s) is not "
                f"pushed: the system description's [publish] names no {criterion} gauge"
            )
            continue
        help_text = f"Measured {criterion.upper()} of the last DR drill"
        publish(pushgateway_url, metric, seconds, labels, help_text=help_text)
    return skipped

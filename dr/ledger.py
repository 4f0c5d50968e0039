"""The writer's ledger and the comparison of a restored table with it.

The writer commits rows in batches and records, per batch, what the server reported: the
transaction id, its commit timestamp (`track_commit_timestamp`), and the start of its
commit record in the WAL (`pg_walinspect`). The ledger is the truth a restore is checked
against: `diff` names every row missing, extra, duplicated or changed.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from dr.errors import PitrMismatchError
from dr.targets import CommitPoint, RecoveryTarget, expected_batches, format_lsn, parse_lsn
from fixtures.phases import phase
from system.deadline import wait_until

TABLE = "dr_ledger"
SHOWN_IDS = 20


@dataclass(frozen=True)
class Batch:
    index: int
    xid: int
    started_at: datetime  # the transaction's start (now()): a time *inside* the batch
    committed_at: datetime
    commit_lsn: int
    rows: Mapping[int, str]  # id -> md5 of the payload
    before_backup: bool = False

    def point(self) -> CommitPoint:
        return CommitPoint(
            self.index, self.xid, self.committed_at, self.commit_lsn, self.before_backup
        )


@dataclass
class Ledger:
    batches: list[Batch] = field(default_factory=list)
    restore_points: dict[str, int] = field(default_factory=dict)  # name -> batches before it

    def expected_rows(self, target: RecoveryTarget) -> dict[int, str]:
        keep = expected_batches(
            [batch.point() for batch in self.batches], target, self.restore_points
        )
        return {
            row_id: checksum
            for batch in self.batches
            if batch.index in keep
            for row_id, checksum in batch.rows.items()
        }

    def batch_of(self, row_id: int) -> int:
        return next(batch.index for batch in self.batches if row_id in batch.rows)

    def middle(self) -> int:
        """A batch after the base backup with at least one more after it: where the PITR
        checks aim their targets."""
        after = [batch.index for batch in self.batches if not batch.before_backup]
        return after[len(after) // 2]

    def time_beyond(self) -> RecoveryTarget:
        """A time after the last commit (and, once this returns, already past: a restore
        target is a moment of the wall clock), half a second away at most."""
        moment = self.batches[-1].committed_at + timedelta(milliseconds=500)
        wait_until(
            lambda: datetime.now(UTC) > moment,
            seconds=5.0,
            what=f"the wall clock past {moment.isoformat()}",
        )
        return RecoveryTarget("time", moment.isoformat(sep=" "), True)

    def time_between(self, index: int, inclusive: bool = True) -> RecoveryTarget:
        """A time target halfway between batch `index`'s commit and the next one's."""
        first, second = self.batches[index].committed_at, self.batches[index + 1].committed_at
        return RecoveryTarget("time", (first + (second - first) / 2).isoformat(sep=" "), inclusive)


@dataclass(frozen=True)
class Diff:
    missing: list[int]
    extra: list[int]
    duplicates: list[int]
    changed: list[int]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.duplicates or self.changed)

    def describe(self) -> str:
        parts = [
            f"{name} {len(ids)} rows (ids {_ids(ids)})"
            for name, ids in (
                ("missing", self.missing),
                ("extra", self.extra),
                ("duplicated", self.duplicates),
                ("changed", self.changed),
            )
            if ids
        ]
        return "; ".join(parts) or "identical"


def _ids(ids: Sequence[int]) -> str:
    shown = ", ".join(str(row_id) for row_id in ids[:SHOWN_IDS])
    return shown + (f", … {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")


def diff(expected: Mapping[int, str], restored: Iterable[tuple[int, str]]) -> Diff:
    """Compare the ledger's expected rows (id -> checksum) with the restored rows."""
    rows = list(restored)
    counts = Counter(row_id for row_id, _ in rows)
    seen = dict(rows)
    return Diff(
        missing=sorted(set(expected) - set(seen)),
        extra=sorted(set(seen) - set(expected)),
        duplicates=sorted(row_id for row_id, count in counts.items() if count > 1),
        changed=sorted(
            row_id
            for row_id, checksum in seen.items()
            if expected.get(row_id, checksum) != checksum
        ),
    )


def check_restore(
    ledger: Ledger, target: RecoveryTarget, restored: Iterable[tuple[int, str]]
) -> Diff:
    """Raise `PitrMismatchError` naming the rows (and their batches) that differ."""
    with phase(f"compare with the ledger at {target.describe()}"):
        result = diff(ledger.expected_rows(target), restored)
    if not result.ok:
        batches = sorted({ledger.batch_of(i) for i in result.missing + result.extra})
        raise PitrMismatchError(
            f"restore to {target.describe()} differs from the ledger: {result.describe()}"
            f" (batches {batches})"
        )
    return result


# the writer ---------------------------------------------------------------------------


def checksum(payload: str) -> str:
    return hashlib.md5(payload.encode()).hexdigest()  # noqa: S324 - Postgres's md5(), not security


def create_table(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        # No primary key on purpose: a restore that replays a batch twice must show up
        # as duplicates, not be hidden by a constraint.
        connection.execute(f"CREATE TABLE {TABLE} (id bigint NOT NULL, payload text NOT NULL)")


def read_restored(dsn: str) -> list[tuple[int, str]]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute(f"SELECT id, md5(payload) FROM {TABLE}").fetchall()  # noqa: S608
    return [(int(row_id), str(digest)) for row_id, digest in rows]


class Writer:
    """Commits batches of rows into `dr_ledger` and keeps the ledger of what committed."""

    def __init__(self, dsn: str, rng: random.Random) -> None:
        self.dsn = dsn
        self.rng = rng
        self.ledger = Ledger()
        self._next_id = 1

    def commit_batch(self, size: int, before_backup: bool = False) -> Batch:
        rows = {}
        for row_id in range(self._next_id, self._next_id + size):
            rows[row_id] = f"{row_id}:{self.rng.getrandbits(64):016x}"
        self._next_id += size
        with psycopg.connect(self.dsn) as connection:
            head = connection.execute(
                "SELECT pg_current_xact_id()::text::bigint, now(), pg_current_wal_insert_lsn()"
            ).fetchone()
            assert head is not None
            xid, started_at, _ = head
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {TABLE} (id, payload) VALUES (%s, %s)",  # noqa: S608
                    list(rows.items()),
                )
            before = connection.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
            assert before is not None
            connection.commit()
            committed_at, commit_lsn = self._commit_facts(connection, int(xid), str(before[0]))
        batch = Batch(
            index=len(self.ledger.batches),
            xid=int(xid),
            started_at=started_at,
            committed_at=committed_at,
            commit_lsn=commit_lsn,
            rows={row_id: checksum(payload) for row_id, payload in rows.items()},
            before_backup=before_backup,
        )
        self.ledger.batches.append(batch)
        return batch

    @staticmethod
    def _commit_facts(
        connection: psycopg.Connection[tuple[object, ...]], xid: int, before: str
    ) -> tuple[datetime, int]:
        """The commit's timestamp and the start of its commit record, as the server has them."""
        connection.autocommit = True
        stamp = connection.execute(
            "SELECT pg_xact_commit_timestamp(%s::text::xid)", (str(xid),)
        ).fetchone()
        assert stamp is not None
        committed_at = stamp[0]
        assert isinstance(committed_at, datetime), "track_commit_timestamp is off"
        record = connection.execute(
            "SELECT start_lsn::text FROM pg_get_wal_records_info(%s::pg_lsn, "
            "pg_current_wal_flush_lsn()) WHERE resource_manager = 'Transaction' "
            "AND record_type = 'COMMIT' AND xid = %s::text::xid",
            (before, str(xid)),
        ).fetchone()
        assert record is not None, f"commit record of xid {xid} not found after {before}"
        return committed_at, parse_lsn(str(record[0]))

    def restore_point(self, name: str) -> str:
        """Create a named restore point after the batches committed so far; returns its LSN."""
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            row = connection.execute("SELECT pg_create_restore_point(%s)::text", (name,)).fetchone()
        assert row is not None
        self.ledger.restore_points[name] = len(self.ledger.batches)
        return str(row[0])

    def write_history(
        self, batches: int, max_rows: int = 40, max_pause_seconds: float = 0.2
    ) -> list[Batch]:
        """`batches` batches of random sizes, with random pauses between them."""
        written = []
        for _ in range(batches):
            written.append(self.commit_batch(self.rng.randint(1, max_rows)))
            time.sleep(self.rng.uniform(0.0, max_pause_seconds))
        return written


__all__ = [
    "Batch",
    "Diff",
    "Ledger",
    "Writer",
    "check_restore",
    "diff",
    "format_lsn",
    "read_restored",
]

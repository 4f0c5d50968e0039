"""Backup restoration tested against a shared environment's real archive.

A profile's `[dr]` says how its backups are kept (Barman Cloud: bucket, prefix, server
name; the S3 endpoint and credentials from `[services.s3]`). The harness restores the
newest base backup and every WAL segment after it into a throwaway local Postgres —
never touching the environment's own servers — and checks what a platform team needs:

- recovery reaches consistency and promotes (the server answers, out of recovery);
- the tables a restore must hold are there, with rows (the profile's `[dr] tables`, else
  the system description's), and the schema version is the description's
  (`[dr] schema_version`, when given): `dr.holdings`;
- how long it took, by phase (fetch the base backup, replay, ready): the RTO of a restore
  from these backups;
- a measured RPO of the real archive: 0 when the restore holds every transaction the
  environment's Postgres had begun when the check started (the restored server's next
  transaction id is at least the primary's was), else the age of the newest commit the
  restore reaches (`pg_last_xact_replay_timestamp`), an upper bound of the loss. An idle
  environment, whose newest commit is simply old, is thus not charged for its quiet.

If the profile allows writes (`[target] destructive = true`, or the narrower
`[dr] write_markers = true`) a marker row is written on the environment's Postgres at a
known time, its WAL segment closed and archived, and a restore to that time must hold it.
A pgBackRest repository (`tool = "pgbackrest"`, its `stanza`, the repository path as
`prefix`) is restored the same way, by pgBackRest (`dr/pgbackrest.py`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from dr.archive import ArchiveLocation, BackupTool, BarmanCloud, switch_and_wait_archived
from dr.errors import DrInputError
from dr.holdings import Expected, Holdings, read_holdings
from dr.pgbackrest import PgBackRest
from dr.restore import RestoreResult, restore
from dr.targets import RecoveryTarget
from fixtures.launcher import ServiceLauncher
from fixtures.profile import TargetProfile
from fixtures.providers.postgres import Login, PostgresEndpoint, PostgresProvider
from fixtures.providers.s3 import S3Provider

MARKER_TABLE = "reliability_harness_markers"
ARCHIVE_WAIT_SECONDS = 300.0


def archive_of(profile: TargetProfile, tool_dir: Path) -> BackupTool:
    """The backup tool for the profile's archive (Barman Cloud, or pgBackRest with its
    stanza); `DrInputError` if it names none."""
    dr = profile.dr
    if dr is None:
        raise DrInputError(f"{profile.describe()} has no [dr] table naming its archive")
    s3 = profile.services.get("s3")
    if s3 is None:
        raise DrInputError(f"{profile.describe()}: [dr] needs [services.s3] (the endpoint)")
    endpoint = S3Provider(bucket=dr.bucket).from_profile({**s3, "bucket": dr.bucket})
    if dr.tool == "pgbackrest":
        return PgBackRest(ArchiveLocation(endpoint, dr.prefix, dr.stanza), tool_dir)
    return BarmanCloud(ArchiveLocation(endpoint, dr.prefix, dr.server), tool_dir)


@dataclass
class RestoreCheck:
    """What a restore of the profile's archive showed."""

    result: RestoreResult
    holdings: Holdings | None = None  # the tables and schema version found (dr.holdings)
    newest_commit: datetime | None = None
    caught_up: bool | None = None  # the restore holds every transaction begun on the primary
    # before the check (its next transaction id is at least the primary's then; None: unknown)
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def commit_age_seconds(self) -> float | None:
        """How old the newest restorable commit is (None: nothing was replayed)."""
        if self.newest_commit is None:
            return None
        return (self.checked_at - self.newest_commit).total_seconds()

    @property
    def rpo_seconds(self) -> float | None:
        """What a loss of the primary at the check's start would have lost, in time."""
        return 0.0 if self.caught_up else self.commit_age_seconds

    @property
    def rto_seconds(self) -> float:
        """Fetch + start + replay + promote: from nothing to a server that answers."""
        return sum(self.result.phases.values())

    def describe(self) -> str:
        phases = ", ".join(f"{name} {s:.1f} s" for name, s in self.result.phases.items())
        holds = "-" if self.holdings is None else self.holdings.describe()
        age = self.commit_age_seconds
        archive = {True: "all", False: "not all", None: "unknown"}[self.caught_up]
        return (
            f"restored backup {self.result.backup.backup_id} ({phases}); {holds}; "
            f"newest restorable commit {'none' if age is None else f'{age:.0f} s old'}; "
            f"the primary's transactions begun before the check in the restore: {archive}"
        )


def restore_and_check(
    launcher: ServiceLauncher,
    tool: BackupTool,
    expected: Expected,
    work_root: Path,
    primary: PostgresEndpoint,
) -> RestoreCheck:
    """Restore the newest backup and all WAL after it; read what it holds of `expected`
    (`dr.holdings.expected_holdings`: the tables, with rows, and the schema version).

    `primary` is the environment's Postgres, only read: its role logs into the restored
    copy, and its archiver says whether the archive held all its WAL at the start."""
    checked_at = datetime.now(UTC)
    primary_next = next_xid(primary.dsn)
    result = restore(launcher, tool, RecoveryTarget("latest"), work_root, login=login_of(primary))
    check = RestoreCheck(result, checked_at=checked_at)
    with psycopg.connect(result.endpoint.dsn, autocommit=True, connect_timeout=10) as db:
        row = db.execute("SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp()").fetchone()
        assert row is not None
        if row[0]:
            raise DrInputError("the restored server is still in recovery: it did not promote")
        check.newest_commit = row[1]
        restored_next = db.execute(NEXT_XID).fetchone()
        if primary_next is not None and restored_next is not None:
            check.caught_up = int(restored_next[0]) >= primary_next
        check.holdings = read_holdings(db, expected)
    return check


NEXT_XID = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"


def next_xid(dsn: str) -> int | None:
    """The next transaction id the server would assign (reading it assigns none); None if
    the server cannot be reached."""
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as db:
            row = db.execute(NEXT_XID).fetchone()
    except psycopg.Error:
        return None
    return None if row is None else int(row[0])


def write_marker(postgres: PostgresEndpoint) -> tuple[str, datetime]:
    """A marker row on the environment's Postgres, committed, its WAL segment archived;
    the token and a time just after its commit (a restore to it must hold the row)."""
    token = uuid.uuid4().hex
    with psycopg.connect(postgres.dsn, autocommit=True, connect_timeout=10) as db:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} "
            "(token text PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
        insert = sql.SQL("INSERT INTO {} (token) VALUES (%s)")
        db.execute(insert.format(sql.Identifier(MARKER_TABLE)), (token,))  # autocommit
        after = db.execute("SELECT clock_timestamp()").fetchone()  # after its commit
        # A commit after that time: recovery to a time stops at the first commit past it,
        # and without one in the archive it ends "before the target was reached".
        db.execute(insert.format(sql.Identifier(MARKER_TABLE)), (f"{token}-fence",))
    assert after is not None
    switch_and_wait_archived(postgres.dsn, ARCHIVE_WAIT_SECONDS)
    return token, after[0]


def marker_restored(
    launcher: ServiceLauncher,
    tool: BackupTool,
    marker: tuple[str, datetime],
    work_root: Path,
    login: Login,
) -> bool:
    """Restore to just after the marker's time: is the marker there?"""
    token, moment = marker
    target = RecoveryTarget("time", moment.isoformat(), inclusive=True)
    result = restore(launcher, tool, target, work_root, login=login)
    try:
        with psycopg.connect(result.endpoint.dsn, autocommit=True, connect_timeout=10) as db:
            select = sql.SQL("SELECT count(*) FROM {} WHERE token = %s")
            found = db.execute(select.format(sql.Identifier(MARKER_TABLE)), (token,)).fetchone()
    finally:
        result.service.stop()
    return found is not None and found[0] == 1


def profile_postgres(profile: TargetProfile) -> PostgresEndpoint:
    """The environment's Postgres: its role logs into the restored copy, and markers are
    written through it."""
    section = profile.services.get("postgres")
    if section is None:
        raise DrInputError(
            f"{profile.describe()}: [dr] needs [services.postgres] (a role of the backed-up "
            "cluster to log into the restored copy with)"
        )
    return PostgresProvider().from_profile(section)


def login_of(endpoint: PostgresEndpoint) -> Login:
    """The same role and database, for the restored copy on loopback."""
    return Login(endpoint.user, endpoint.password, endpoint.dbname)

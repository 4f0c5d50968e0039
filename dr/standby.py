"""A streaming standby: a second Postgres following the primary by physical replication.

The requirements' read replica in a second region. The standby is made the way an operator
makes one (`pg_basebackup` of the running primary, `standby.signal`, `primary_conninfo`)
and streams through a Toxiproxy proxy of its own, the *link* between the regions, so that
a test can cut it and let the standby fall behind on purpose. Synchronous replication
(`synchronous_standby_names`) is switched on only once the standby streams: before that a
synchronous primary would hold every commit, the target's schema among them.

The lag is read on the standby the way `postgres_exporter` reads it (time since the last
replayed transaction's commit), without its shortcut of "0 when everything received is
replayed": a standby cut off from its primary has replayed all it received and is still
behind. Under a steady write stream this is the standby's staleness; with no writes at all
it grows, which is why the rehearsal reads it under its own writes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg.conninfo import make_conninfo

from dr.errors import StandbyError
from dr.primary import work_directory
from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.lifecycle.ports import LOOPBACK
from fixtures.lifecycle.reaper import Undo
from fixtures.providers.postgres import Login, PostgresEndpoint, PostgresProvider
from fixtures.providers.toxiproxy import ToxiproxyEndpoint
from fixtures.tools import service_user
from system.deadline import NotYet, WaitTimeoutError, wait_until

APPLICATION_NAME = "standby"
STREAMING_DEADLINE_SECONDS = 60.0
BASE_BACKUP_TIMEOUT_SECONDS = 300.0
PROMOTE_WAIT_SECONDS = 60
LAG_SAMPLE_SECONDS = 0.25
LAG_QUERY_TIMEOUT_MS = 1000
# pg_rewind needs hint bits in the WAL to bring an old primary back as a standby.
PRIMARY_SETTINGS = {"wal_log_hints": "on", "wal_keep_size": "'128MB'"}


@dataclass(frozen=True)
class StandbyPair:
    primary: RunningService[PostgresEndpoint]
    standby: RunningService[PostgresEndpoint]
    link: str  # the Toxiproxy proxy replication goes through (the link between regions)
    toxiproxy: ToxiproxyEndpoint
    synchronous: bool
    work_root: Path  # base backups and rewound data directories, removed with the pair

    def describe(self) -> str:
        mode = "synchronous" if self.synchronous else "asynchronous"
        return (
            f"primary {self.primary.endpoint.describe()}, {mode} standby "
            f"{self.standby.endpoint.describe()} streaming through proxy {self.link}"
        )


@contextmanager
def standby_pair(
    launcher: ServiceLauncher, toxiproxy: ToxiproxyEndpoint, *, synchronous: bool
) -> Iterator[StandbyPair]:
    """A fresh primary and its streaming standby, both stopped (and the link's proxy
    deleted) when the block ends. Either local backend (on containers the servers share
    the harness's files: `fixtures.containers`)."""
    with work_directory(launcher) as root, contextlib.ExitStack() as exits:
        primary = launcher.start(PostgresProvider(settings=PRIMARY_SETTINGS))
        exits.callback(primary.stop)
        link, address = exits.enter_context(replication_link(launcher, toxiproxy, primary.endpoint))
        standby = start_standby(launcher, primary.endpoint, address, root)
        exits.callback(standby.stop)
        wait_streaming(primary.endpoint)
        if synchronous:
            make_synchronous(primary.endpoint)
        yield StandbyPair(primary, standby, link, toxiproxy, synchronous, root)


def start_standby(
    launcher: ServiceLauncher,
    primary: PostgresEndpoint,
    address: tuple[str, int],
    work_root: Path,
    settings: Mapping[str, str] | None = None,
) -> RunningService[PostgresEndpoint]:
    """A standby of `primary` (a base backup under `work_root`, started in recovery)
    streaming through `address`, logged into as the primary is; `settings` more
    postgresql.conf lines (an archive command it takes up once promoted). The caller stops
    it, and waits for it to stream (`wait_streaming`)."""
    backup = base_backup(primary, address, work_root / f"base-{uuid.uuid4().hex[:6]}")
    return _start_following(launcher, backup, primary, address, settings)


def _start_following(
    launcher: ServiceLauncher,
    data: Path,
    primary: PostgresEndpoint,
    address: tuple[str, int],
    settings: Mapping[str, str] | None,
) -> RunningService[PostgresEndpoint]:
    settings = {
        **(settings or {}),
        "primary_conninfo": _quoted(_conninfo(primary, address)),
        "synchronous_standby_names": "''",  # once promoted, it waits for nobody
    }
    login = Login(primary.user, primary.password, primary.dbname)
    provider = PostgresProvider(restore_from=data, standby=True, settings=settings, login=login)
    return launcher.start(provider)


@contextmanager
def replication_link(
    launcher: ServiceLauncher, toxiproxy: ToxiproxyEndpoint, primary: PostgresEndpoint
) -> Iterator[tuple[str, tuple[str, int]]]:
    """A proxy from the standby to the primary; deleted afterwards (by the reaper if the
    harness dies)."""
    name = f"replication-{uuid.uuid4().hex[:8]}"
    reaper = launcher.reaper
    if reaper is not None:
        url = f"{toxiproxy.url}/proxies/{quote(name, safe='')}"
        reaper.track_undo(f"proxy-{name}", Undo("http", method="DELETE", url=url))
    try:
        with toxiproxy.client() as client:
            proxy = client.create_proxy(name, f"{LOOPBACK}:0", f"{primary.host}:{primary.port}")
            try:
                yield name, (proxy.listen_host, proxy.listen_port)
            finally:
                with contextlib.suppress(Exception):  # Toxiproxy gone: its proxies with it
                    client.delete_proxy(name)
    finally:
        if reaper is not None:
            reaper.untrack_undo(f"proxy-{name}")


def base_backup(primary: PostgresEndpoint, address: tuple[str, int], target: Path) -> Path:
    """`pg_basebackup` of the running primary into `target` (WAL streamed alongside)."""
    if primary.bindir is None:
        raise StandbyError(
            "a standby needs pg_basebackup on this machine (scripts/bootstrap installs it)"
        )
    host, port = address
    argv = [
        str(primary.bindir / "pg_basebackup"),
        f"--pgdata={target}",
        f"--host={host}",
        f"--port={port}",
        f"--username={primary.user}",
        "--wal-method=stream",
        "--checkpoint=fast",
        "--no-sync",  # the harness's own throwaway copy
        "--no-password",
    ]
    environment = {**os.environ, "PGPASSWORD": primary.password}
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=environment,
            timeout=BASE_BACKUP_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise StandbyError(
            f"pg_basebackup of {primary.describe()} took over {BASE_BACKUP_TIMEOUT_SECONDS:g} s"
        ) from None
    if result.returncode != 0:
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise StandbyError(f"pg_basebackup of {primary.describe()} failed: {tail}")
    return target


def wait_streaming(primary: PostgresEndpoint, seconds: float = STREAMING_DEADLINE_SECONDS) -> None:
    """Until the primary sees the standby streaming."""

    def streaming() -> bool | NotYet:
        with psycopg.connect(primary.dsn, autocommit=True, connect_timeout=5) as connection:
            row = connection.execute(
                "SELECT state FROM pg_stat_replication WHERE application_name = %s",
                (APPLICATION_NAME,),
            ).fetchone()
        return (row is not None and row[0] == "streaming") or NotYet(f"state {row}")

    try:
        wait_until(
            streaming,
            seconds=seconds,
            what="the standby streaming",
            interval=0.2,
            retry_on=(psycopg.OperationalError,),
        )
    except WaitTimeoutError as timeout:
        raise StandbyError(str(timeout)) from None


def make_synchronous(primary: PostgresEndpoint) -> None:
    """The primary waits for the standby's flush before it acknowledges a commit."""
    with psycopg.connect(primary.dsn, autocommit=True) as connection:
        connection.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{APPLICATION_NAME}'")
        connection.execute("SELECT pg_reload_conf()")

    def synchronous() -> bool | NotYet:
        with psycopg.connect(primary.dsn, autocommit=True) as connection:
            row = connection.execute(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
                (APPLICATION_NAME,),
            ).fetchone()
        return (row is not None and row[0] == "sync") or NotYet(f"sync_state {row}")

    wait_until(synchronous, seconds=10, what="the standby synchronous", interval=0.1)


def promote(standby: PostgresEndpoint) -> None:
    """`pg_promote()`, waiting until the standby accepts writes."""
    with psycopg.connect(standby.dsn, autocommit=True, connect_timeout=5) as connection:
        row = connection.execute("SELECT pg_promote(true, %s)", (PROMOTE_WAIT_SECONDS,)).fetchone()
    if row is None or not row[0]:
        raise StandbyError(
            f"pg_promote() on {standby.describe()} did not finish in {PROMOTE_WAIT_SECONDS} s"
        )


def replication_lag(standby: PostgresEndpoint) -> float | None:
    """Seconds since the last transaction the standby replayed was committed (None: none
    replayed yet, or the standby did not answer within a second)."""
    try:
        with psycopg.connect(standby.dsn, autocommit=True, connect_timeout=2) as connection:
            connection.execute(f"SET statement_timeout = {LAG_QUERY_TIMEOUT_MS}")
            row = connection.execute(
                "SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
            ).fetchone()
    except psycopg.Error:
        return None
    return None if row is None or row[0] is None else max(0.0, float(row[0]))


@dataclass
class LagSampler:
    """The standby's lag every `LAG_SAMPLE_SECONDS` in a thread, until `stop()`."""

    standby: PostgresEndpoint
    samples: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> LagSampler:
        self._thread = threading.Thread(target=self._run, name="lag-sampler", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            lag = replication_lag(self.standby)
            if lag is not None:
                self.samples.append(lag)
            self._stop.wait(LAG_SAMPLE_SECONDS)

    def stop(self) -> list[float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return list(self.samples)


def rejoin(
    launcher: ServiceLauncher,
    old: RunningService[PostgresEndpoint],
    new_primary: PostgresEndpoint,
    work_root: Path,
    settings: Mapping[str, str] | None = None,
) -> RunningService[PostgresEndpoint]:
    """The lost primary back as the new primary's standby: `pg_rewind` of its data directory
    (crash recovery first, as pg_rewind does for a server that was not shut down cleanly)
    onto the new primary's timeline, then started streaming from it (`settings`: as
    `start_standby`'s). pg_rewind reads the old primary's WAL back to its last checkpoint
    before the fork: it must still be in pg_wal (`wal_keep_size`, frequent checkpoints).
    The caller stops it."""
    data = old.endpoint.data_dir
    if data is None or old.endpoint.bindir is None:
        raise StandbyError(
            "rejoining needs the old primary's data directory and pg_rewind on this machine"
        )
    # A promoted server writes its new timeline to pg_control at its next checkpoint, which
    # fast promotion leaves for later: before it, pg_rewind sees one timeline and, finding
    # "no rewind required", leaves the old primary ahead of the fork.
    with psycopg.connect(new_primary.dsn, autocommit=True) as connection:
        connection.execute("CHECKPOINT")
    argv = [
        str(old.endpoint.bindir / "pg_rewind"),
        f"--target-pgdata={data}",
        "--source-server="
        + make_conninfo(
            host=new_primary.host, port=new_primary.port, user=new_primary.user, dbname="postgres"
        ),
        "--no-sync",
    ]
    user = service_user()
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env={**os.environ, "PGPASSWORD": new_primary.password},
        user=user,
        extra_groups=[] if user is not None else None,
        cwd=data.parent,
        timeout=BASE_BACKUP_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise StandbyError(f"pg_rewind of the old primary onto {new_primary.describe()}: {tail}")
    moved = work_root / f"rewound-{uuid.uuid4().hex[:6]}"
    shutil.move(data, moved)
    address = (new_primary.host, new_primary.port)
    rejoined = _start_following(launcher, moved, new_primary, address, settings)
    try:
        wait_streaming(new_primary)
    except StandbyError as error:
        log = rejoined.log_path.read_text(errors="replace") if rejoined.log_path else ""
        rejoined.stop()
        tail = " | ".join(log.strip().splitlines()[-4:])
        raise StandbyError(f"the rewound old primary: {error}; its log: {tail}") from None
    except BaseException:
        rejoined.stop()
        raise
    return rejoined


def _conninfo(primary: PostgresEndpoint, address: tuple[str, int]) -> str:
    host, port = address
    return make_conninfo(
        host=host,
        port=port,
        user=primary.user,
        password=primary.password,
        application_name=APPLICATION_NAME,
    )


def _quoted(value: str) -> str:
    """A postgresql.conf string value."""
    return "'" + value.replace("'", "''") + "'"

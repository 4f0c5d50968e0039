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
import subprocess
import threading
import uuid
from collections.abc import Iterator
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
from fixtures.providers.postgres import PostgresEndpoint, PostgresProvider
from fixtures.providers.toxiproxy import ToxiproxyEndpoint
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
    deleted) when the block ends. Native backend only (a base backup is a data directory)."""
    with work_directory(launcher) as root, contextlib.ExitStack() as exits:
        primary = launcher.start(PostgresProvider(settings=PRIMARY_SETTINGS))
        exits.callback(primary.stop)
        link, address = exits.enter_context(_link(launcher, toxiproxy, primary.endpoint))
        backup = base_backup(primary.endpoint, address, root / "base")
        settings = {
            "primary_conninfo": _quoted(_conninfo(primary.endpoint, address)),
            "synchronous_standby_names": "''",  # once promoted, it waits for nobody
        }
        standby = launcher.start(
            PostgresProvider(restore_from=backup, standby=True, settings=settings)
        )
        exits.callback(standby.stop)
        wait_streaming(primary.endpoint)
        if synchronous:
            _make_synchronous(primary.endpoint)
        yield StandbyPair(primary, standby, link, toxiproxy, synchronous)


@contextmanager
def _link(
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
        raise StandbyError("a standby needs the native backend's pg_basebackup (--backend native)")
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


def _make_synchronous(primary: PostgresEndpoint) -> None:
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

"""The staging rehearsal's replicated database, and the platform commands that fail it over.

A shared environment's Postgres is a primary and a standby behind stable addresses (a
cluster's writer and reader endpoints, a Patroni HAProxy, DNS), and failing over is its
platform's business. The rehearsal (`python -m drill.rehearsal --destructive`) stands in
for one: its standby streams from the primary (`dr.standby`), the writer and reader
endpoints are Toxiproxy proxies the profile's `[services.postgres]` `dsn` and `standby_dsn`
name, and the platform's commands are `[hooks]` that ask this process, over loopback HTTP,
to take one step each (`ACTIONS`):

- `fail_primary`: SIGKILL the primary (the routes still point at it);
- `promote_standby`: `pg_promote()` on the standby;
- `repoint`: the writer endpoint and the target's database route to the new primary;
- `restore_primary`: whatever is left of the failover done (promoted, re-pointed), the lost
  primary rewound (`pg_rewind`) and streaming from the new one (or, if it cannot be, a new
  standby from a base backup), the reader endpoint on it: a primary and a standby again,
  the profile's addresses still valid.

Which server is the primary changes with each failover, as in a real cluster; a step asked
out of turn (restore with nothing failed, a second failure) is a no-op or an error, in one
line, which the hook prints.
"""

from __future__ import annotations

import http.server
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from dr.errors import StandbyError
from dr.standby import (
    PRIMARY_SETTINGS,
    make_synchronous,
    promote,
    rejoin,
    replication_link,
    start_standby,
    wait_streaming,
)
from fixtures.errors import ServiceStartError
from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.lifecycle.loopback_http import serving
from fixtures.lifecycle.ports import LOOPBACK
from fixtures.profile import FAILOVER_HOOKS, FAILOVER_STEPS
from fixtures.providers.postgres import PostgresEndpoint
from fixtures.providers.toxiproxy import ToxiproxyEndpoint

ACTIONS = (FAILOVER_HOOKS[0], *FAILOVER_STEPS, FAILOVER_HOOKS[1])
# Every server's, the primary's from its start: rewindable (`PRIMARY_SETTINGS`), and the
# WAL pg_rewind reads back to the last checkpoint before the fork still in pg_wal however
# long the rehearsal has run: a checkpoint every 30 s (its redo at most a minute old) and
# 16 segments kept (`archive_timeout` switches one every few seconds under writes; with 8
# kept, a failover two minutes after the last backup found its checkpoint's WAL recycled).
SERVER_SETTINGS = {**PRIMARY_SETTINGS, "checkpoint_timeout": "30s", "wal_keep_size": "'256MB'"}
WRITER, READER = "postgres-writer-rehearsal", "postgres-reader-rehearsal"
REQUEST_TIMEOUT_SECONDS = 110  # under the harness's hook timeout (fixtures.hooks)
# The hook: POST to the action's URL; the rehearsal's one-line error on stderr if it fails.
HOOK_SCRIPT = f"""\
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(
        urllib.request.Request(sys.argv[1], method="POST"), timeout={REQUEST_TIMEOUT_SECONDS}
    )
except urllib.error.HTTPError as error:
    sys.exit(error.read().decode(errors="replace") or str(error))
except OSError as error:
    sys.exit(f"the staging rehearsal's control endpoint: {{error}}")
"""


class StepError(Exception):
    """A step asked out of turn; the message is one line."""


@dataclass
class ReplicatedDatabase:
    """The primary, its standby and the routes to them; which is which changes."""

    launcher: ServiceLauncher
    toxiproxy: ToxiproxyEndpoint
    primary: RunningService[PostgresEndpoint]
    standby: RunningService[PostgresEndpoint]
    settings: Mapping[str, str]  # every server's (an archive it takes up once promoted)
    synchronous: bool
    work_root: Path
    routes: tuple[str, ...]  # the proxies that lead to the primary: the writer's, the target's
    lost: RunningService[PostgresEndpoint] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, action: str) -> None:
        steps: dict[str, Callable[[], None]] = {
            "fail_primary": self._fail,
            "promote_standby": self._promote,
            "repoint": self._repoint,
            "restore_primary": self._restore,
        }
        with self._lock:
            steps[action]()

    def _fail(self) -> None:
        if self.lost is not None:
            raise StepError("the primary has failed already: restore_primary first")
        self.primary.kill()
        self.lost = self.primary

    def _promote(self) -> None:
        if self.lost is None:
            raise StepError("the primary has not failed: promoting would split the brain")
        if _in_recovery(self.standby.endpoint):
            promote(self.standby.endpoint)

    def _repoint(self) -> None:
        new = self.standby.endpoint if self.lost is not None else self.primary.endpoint
        self._point(self.routes, new)

    def _restore(self) -> None:
        if self.lost is None:
            self._point(self.routes, self.primary.endpoint)
            return
        self._promote()
        self._repoint()
        new, old = self.standby, self.lost
        try:
            rejoined = rejoin(self.launcher, old, new.endpoint, self.work_root, self.settings)
        except (StandbyError, ServiceStartError) as error:
            # As Patroni's reinit: a lost primary that cannot be rewound is replaced by a
            # new standby from a base backup of the new primary (once, in CI, a rewound one
            # never reached consistency within its 30 s).
            said = str(error).strip().splitlines()[0]
            print(f"rehearsal: the old primary not rewound ({said}): a new standby", flush=True)
            address = (new.endpoint.host, new.endpoint.port)
            rejoined = start_standby(
                self.launcher, new.endpoint, address, self.work_root, self.settings
            )
            wait_streaming(new.endpoint)
        if self.synchronous:
            make_synchronous(new.endpoint)
        self._point((READER,), rejoined.endpoint)
        self.primary, self.standby, self.lost = new, rejoined, None

    def _point(self, proxies: tuple[str, ...], server: PostgresEndpoint) -> None:
        with self.toxiproxy.client() as client:
            for proxy in proxies:
                client.set_upstream(proxy, f"{server.host}:{server.port}")


def _in_recovery(server: PostgresEndpoint) -> bool:
    with psycopg.connect(server.dsn, autocommit=True, connect_timeout=5) as connection:
        row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class Endpoints:
    """Where the profile's `[services.postgres]` points: the writer and reader endpoints."""

    writer: tuple[str, int]
    reader: tuple[str, int]


@contextmanager
def replicated_database(
    launcher: ServiceLauncher,
    toxiproxy: ToxiproxyEndpoint,
    primary: RunningService[PostgresEndpoint],
    *,
    settings: Mapping[str, str],
    synchronous: bool,
    work_root: Path,
) -> Iterator[tuple[ReplicatedDatabase, Endpoints]]:
    """A standby of `primary` (started with `SERVER_SETTINGS`) and the writer and reader
    endpoints; the standby is stopped afterwards (the launcher stops the rest)."""
    settings = {**settings, **SERVER_SETTINGS}
    with replication_link(launcher, toxiproxy, primary.endpoint) as (_, address):
        standby = start_standby(launcher, primary.endpoint, address, work_root, settings)
        try:
            wait_streaming(primary.endpoint)
            if synchronous:
                make_synchronous(primary.endpoint)
            with toxiproxy.client() as client:
                writer = client.create_proxy(WRITER, f"{LOOPBACK}:0", _address(primary.endpoint))
                reader = client.create_proxy(READER, f"{LOOPBACK}:0", _address(standby.endpoint))
            database = ReplicatedDatabase(
                launcher, toxiproxy, primary, standby, settings, synchronous, work_root, (WRITER,)
            )
            yield (
                database,
                Endpoints(
                    (writer.listen_host, writer.listen_port),
                    (reader.listen_host, reader.listen_port),
                ),
            )
        finally:
            standby.stop()


def _address(server: PostgresEndpoint) -> str:
    return f"{server.host}:{server.port}"


@contextmanager
def control_endpoint(database: ReplicatedDatabase) -> Iterator[str]:
    """An HTTP server on loopback taking `POST /<action>`: its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            action = self.path.strip("/")
            if action not in ACTIONS:
                self._answer(404, f"no action {action!r}: one of {', '.join(ACTIONS)}")
                return
            started = time.monotonic()
            try:
                database.take(action)
            except Exception as error:
                said = str(error).strip().splitlines()
                self._answer(500, f"{action}: {said[0] if said else type(error).__name__}")
                return
            self._answer(200, f"{action}: done in {time.monotonic() - started:.2f} s")

        def _answer(self, status: int, text: str) -> None:
            print(f"rehearsal: control {status} {text}", flush=True)
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # `_answer` says what was done

    with serving(Handler) as url:
        yield url


def control_hooks(url: str) -> dict[str, list[str]]:
    """The profile's `[hooks]`: each action, as the platform's command that takes it."""
    return {action: [sys.executable, "-c", HOOK_SCRIPT, f"{url}/{action}"] for action in ACTIONS}

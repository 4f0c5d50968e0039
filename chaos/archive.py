"""The backup pipeline under chaos: a primary archiving its WAL to S3 through faults.

`archive_under_faults` starts what the S3 experiments need: an S3 endpoint (moto
locally), the `S3FaultProxy` in front of it, a Toxiproxy proxy in front of that, and an
archiving primary (`dr.primary`, Barman Cloud) whose archive endpoint is the Toxiproxy
proxy, plus a writer committing rows and closing a WAL segment every 2 s, so segments
keep coming for the archiver to ship through the faults.

What the experiments claim: the pipeline keeps archiving, or catches up after the fault
within the RPO bound. `catch_up` measures it: after the fault ends, close the current WAL
segment and time until the archiver has shipped it; the exposure is the fault's length
plus that time (the oldest write that was not safe yet waited that long).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from chaos.s3 import S3FaultProxy
from dr.archive import switch_and_wait_archived
from dr.primary import ArchivingPrimary, archiving_primary
from fixtures.launcher import ServiceLauncher
from fixtures.lifecycle.ports import LOOPBACK
from fixtures.providers.s3 import S3Endpoint, S3Provider
from fixtures.providers.toxiproxy import ToxiproxyEndpoint

ARCHIVE_TIMEOUT_SECONDS = 5.0
WRITES_PER_SECOND = 20.0
SWITCH_EVERY_WRITES = 40  # a segment closed every 2 s: a busy primary's archive traffic


@dataclass
class ArchiveUnderFaults:
    primary: ArchivingPrimary
    faults: S3FaultProxy
    proxy: str  # the Toxiproxy proxy in front of the fault proxy
    writer: ArchiveWriter = field(init=False)

    def __post_init__(self) -> None:
        self.writer = ArchiveWriter(self.primary.endpoint.dsn)

    def archiver(self) -> dict[str, Any]:
        """pg_stat_archiver: archived and failed counts, last archived and failed segments."""
        with psycopg.connect(self.primary.endpoint.dsn, autocommit=True, connect_timeout=5) as db:
            row = db.execute(
                "SELECT archived_count, failed_count, coalesce(last_archived_wal, ''), "
                "coalesce(last_failed_wal, '') FROM pg_stat_archiver"
            ).fetchone()
        assert row is not None
        return {
            "archived": row[0],
            "failed": row[1],
            "last_archived": row[2],
            "last_failed": row[3],
        }

    def catch_up(self, within_seconds: float) -> float:
        """Seconds until the segment current now is archived; `BackupToolError` if not
        within `within_seconds`."""
        started = time.monotonic()
        switch_and_wait_archived(self.primary.endpoint.dsn, within_seconds)
        return time.monotonic() - started


class ArchiveWriter:
    """Commits a row `WRITES_PER_SECOND` times a second and closes the WAL segment every
    `SWITCH_EVERY_WRITES` rows, until stopped: a busy primary's stream of segments."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.committed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="archive-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as db:
            db.execute("CREATE TABLE IF NOT EXISTS chaos_archive (at timestamptz, pad text)")
            while not self._stop.wait(1.0 / WRITES_PER_SECOND):
                db.execute("INSERT INTO chaos_archive VALUES (now(), repeat('x', 1000))")
                self.committed += 1
                if self.committed % SWITCH_EVERY_WRITES == 0:
                    db.execute("SELECT pg_switch_wal()")


@contextlib.contextmanager
def archive_under_faults(
    launcher: ServiceLauncher, toxiproxy: ToxiproxyEndpoint
) -> Iterator[ArchiveUnderFaults]:
    """S3, its fault proxy, a Toxiproxy proxy and an archiving primary; all stopped after."""
    s3_service = launcher.start(S3Provider())
    try:
        s3: S3Endpoint = s3_service.endpoint
        with S3FaultProxy(s3.endpoint_url) as faults:
            name = f"s3-chaos-{uuid.uuid4().hex[:6]}"
            upstream = faults.url.removeprefix("http://")
            with toxiproxy.client() as client:
                proxy = client.create_proxy(name, f"{LOOPBACK}:0", upstream)
            try:
                through = replace(s3, endpoint_url=f"http://{proxy.listen}")
                with archiving_primary(launcher, through, ARCHIVE_TIMEOUT_SECONDS) as primary:
                    archive = ArchiveUnderFaults(primary, faults, name)
                    try:
                        yield archive
                    finally:
                        archive.writer.stop()
            finally:
                with toxiproxy.client() as client:
                    client.delete_proxy(name)
    finally:
        s3_service.stop()

"""Restore throughput against a plain copy of the same backup files, per backup engine.

For each engine (`--engine barman-cloud|pgbackrest|both`, default both, one after the
other), an archiving primary (Barman Cloud to the local S3 over plain HTTP, pgBackRest to
the local S3 over TLS) gets `--megabytes` of data, a base backup, then as much again as
WAL. The bench then

1. restores the archive into a fresh Postgres to its latest point (fetch the base backup,
   replay the WAL, promote): MB/s of base backup + WAL segments replayed;
2. copies the very same objects (the base backup and every WAL segment) from the bucket
   to a local directory with boto3 and nothing else: MB/s of the plain copy;

and prints both engines side by side with their ratio (restore / copy: how close each
restore path comes to moving its own bytes alone).

    .venv/bin/python -m bench.restore [--megabytes 100] [--engine both]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from dr.archive import switch_and_wait_archived
from dr.primary import TOOLS, archiving_primary
from dr.restore import restore
from dr.targets import RecoveryTarget
from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.profile import local_profile
from fixtures.providers.s3 import S3Endpoint, S3Provider

MB = 1024 * 1024
ENGINES = {"barman-cloud": TOOLS[:1], "pgbackrest": TOOLS[1:], "both": TOOLS}


def fill(dsn: str, table: str, megabytes: int) -> None:
    """About `megabytes` of 1 KB rows in `table`."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        name = sql.Identifier(table)
        connection.execute(sql.SQL("CREATE TABLE {} (id int, payload text)").format(name))
        connection.execute(
            sql.SQL(
                "INSERT INTO {} SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, %s) g"
            ).format(name),
            (megabytes * 1000,),
        )


def plain_copy(s3: S3Endpoint, prefix: str, destination: Path) -> tuple[int, float]:
    """Download every object under `prefix`; (bytes, seconds)."""
    client = s3.client()
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=s3.bucket, Prefix=prefix
        )
        for item in page.get("Contents", [])
    ]
    started = time.monotonic()
    total = 0
    for number, key in enumerate(keys):
        path = destination / f"{number:06d}"
        client.download_file(s3.bucket, key, str(path))
        total += path.stat().st_size
    return total, time.monotonic() - started


@dataclass(frozen=True)
class Measured:
    engine: str
    restored_bytes: int
    restore_seconds: float
    copied_bytes: int
    copy_seconds: float
    wal_segments: int
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def restore_rate(self) -> float:
        return self.restored_bytes / MB / self.restore_seconds

    @property
    def copy_rate(self) -> float:
        return self.copied_bytes / MB / self.copy_seconds

    @property
    def ratio(self) -> float:
        """Restore MB/s over copy MB/s (restored bytes over stored bytes: compression
        counts in the restore's favour)."""
        return self.restore_rate / self.copy_rate


def measure(launcher: ServiceLauncher, engine: str, megabytes: int) -> Measured:
    """One engine: its own S3 (over TLS for pgBackRest), primary, backup, restore, copy."""
    s3_service = launcher.start(S3Provider(tls=engine == "pgbackrest"))
    s3 = s3_service.endpoint
    try:
        with archiving_primary(launcher, s3, 60.0, tool=engine) as primary:
            fill(primary.endpoint.dsn, "before_backup", megabytes)
            primary.tool.backup(primary.endpoint, "bench")
            fill(primary.endpoint.dsn, "after_backup", megabytes)
            switch_and_wait_archived(primary.endpoint.dsn, deadline_seconds=600)
            started = time.monotonic()
            result = restore(launcher, primary.tool, RecoveryTarget("latest"), primary.work_root)
            restore_seconds = time.monotonic() - started
            result.service.stop()
            with tempfile.TemporaryDirectory(dir=primary.work_root) as copy_dir:
                copied, copy_seconds = plain_copy(s3, primary.tool.location.prefix, Path(copy_dir))
    finally:
        s3_service.stop()
    return Measured(
        engine,
        result.restored_bytes,
        restore_seconds,
        copied,
        copy_seconds,
        result.wal_segments_restored,
        dict(result.phases),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--megabytes", type=int, default=100, help="data before and after the backup"
    )
    parser.add_argument(
        "--engine", choices=sorted(ENGINES), default="both", help="the backup engine(s)"
    )
    args = parser.parse_args()
    launcher = ServiceLauncher(Backend.NATIVE, local_profile())
    try:
        measured = [measure(launcher, engine, args.megabytes) for engine in ENGINES[args.engine]]
    finally:
        launcher.close()
    table = Table(title=f"restore vs plain copy of the same backup ({args.megabytes} MB + WAL)")
    for column in (
        "engine",
        "restore MB",
        "restore s",
        "restore MB/s",
        "copy MB",
        "copy s",
        "copy MB/s",
        "restore / copy",
        "time restore / copy",
    ):
        table.add_column(column, justify="right", no_wrap=column == "engine")
    for one in measured:
        table.add_row(
            one.engine,
            f"{one.restored_bytes / MB:.0f}",
            f"{one.restore_seconds:.1f}",
            f"{one.restore_rate:.1f}",
            f"{one.copied_bytes / MB:.0f}",
            f"{one.copy_seconds:.1f}",
            f"{one.copy_rate:.1f}",
            f"{one.ratio:.2f}",
            f"{one.restore_seconds / one.copy_seconds:.1f}x",
        )
    console = Console(width=max(Console().width, 120))
    console.print(table)
    console.print(
        "restore = fetch the base backup + replay the WAL + promote (MB: the data directory "
        "restored + 16 MB per WAL segment replayed); copy = boto3 download of every object "
        "under the archive's prefix (MB as stored: compressed); restore / copy is the ratio "
        "of their MB/s, time restore / copy that of their seconds"
    )
    for one in measured:
        console.print(
            f"{one.engine} phases: {', '.join(f'{k} {v:.1f} s' for k, v in one.phases.items())}; "
            f"{one.wal_segments} WAL segments replayed"
        )


if __name__ == "__main__":
    main()

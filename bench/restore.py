"""Restore throughput against a plain copy of the same backup files, in one run.

An archiving primary (Barman Cloud to the local S3) gets `--megabytes` of data, a base
backup, then as much again as WAL. The bench then

1. restores the archive into a fresh Postgres to its latest point (fetch the base backup,
   replay the WAL, promote): MB/s of base backup + WAL segments replayed;
2. copies the very same objects (the base backup and every WAL segment) from the bucket
   to a local directory with boto3 and nothing else: MB/s of the plain copy;

and prints both and their ratio (restore / copy: how close the restore path comes to
moving the bytes alone).

    .venv/bin/python -m bench.restore [--megabytes 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from dr.archive import switch_and_wait_archived
from dr.primary import archiving_primary
from dr.restore import restore
from dr.targets import RecoveryTarget
from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.profile import local_profile
from fixtures.providers.s3 import S3Endpoint, S3Provider

MB = 1024 * 1024


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--megabytes", type=int, default=100, help="data before and after the backup"
    )
    args = parser.parse_args()
    launcher = ServiceLauncher(Backend.NATIVE, local_profile())
    try:
        s3 = launcher.start(S3Provider()).endpoint
        with archiving_primary(launcher, s3, 60.0) as primary:
            fill(primary.endpoint.dsn, "before_backup", args.megabytes)
            primary.tool.backup(primary.endpoint, "bench")
            fill(primary.endpoint.dsn, "after_backup", args.megabytes)
            switch_and_wait_archived(primary.endpoint.dsn, deadline_seconds=600)
            started = time.monotonic()
            result = restore(launcher, primary.tool, RecoveryTarget("latest"), primary.work_root)
            restore_seconds = time.monotonic() - started
            result.service.stop()
            with tempfile.TemporaryDirectory(dir=primary.work_root) as copy_dir:
                copied, copy_seconds = plain_copy(s3, primary.tool.location.prefix, Path(copy_dir))
    finally:
        launcher.close()
    restore_rate = result.restored_bytes / MB / restore_seconds
    copy_rate = copied / MB / copy_seconds
    table = Table(title=f"restore vs plain copy of the same backup ({args.megabytes} MB + WAL)")
    for column in ("path", "MB", "seconds", "MB/s"):
        table.add_column(column, justify="right")
    table.add_row(
        "restore (fetch + replay + promote)",
        f"{result.restored_bytes / MB:.0f}",
        f"{restore_seconds:.1f}",
        f"{restore_rate:.1f}",
    )
    table.add_row(
        "plain copy (boto3)", f"{copied / MB:.0f}", f"{copy_seconds:.1f}", f"{copy_rate:.1f}"
    )
    table.add_row("ratio restore / copy", "", "", f"{restore_rate / copy_rate:.2f}")
    Console().print(table)
    Console().print(
        f"phases: {', '.join(f'{k} {v:.1f} s' for k, v in result.phases.items())}; "
        f"{result.wal_segments_restored} WAL segments replayed"
    )


if __name__ == "__main__":
    main()

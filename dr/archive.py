"""The backup pipeline: Postgres archiving its WAL to S3, and its base backups.

Two engines offer the same methods (`BackupTool`: `postgres_settings`, `restore_command`,
`backup`, `backups`, `fetch`, `wal_keys`), chosen by `dr.primary.archiving_primary(...,
tool=...)`: `BarmanCloud` here (Debian `barman-cli-cloud`, boto3 underneath), which speaks
plain HTTP to the local S3 emulator, and `dr.pgbackrest.PgBackRest`, which needs HTTPS
(the emulator started with TLS).

Postgres runs `archive_command` / `restore_command` as the service user with its own
environment, so the S3 credentials reach the tool through files in a directory only that
user can read (Barman Cloud: two small wrapper scripts; pgBackRest: its config file),
never on a command line, never in a log.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import botocore.exceptions
import psycopg

from dr.errors import BackupToolError, DrInputError
from fixtures.providers.postgres import PostgresEndpoint
from fixtures.providers.s3 import S3Endpoint
from fixtures.tools import hand_to_service_user, require_binary
from system.deadline import NotYet, WaitTimeoutError, wait_until

TOOL_TIMEOUT_SECONDS = 3600.0
ARCHIVE_WAIT_SECONDS = 60.0
PACKAGE = "barman-cli-cloud"


@dataclass(frozen=True)
class ArchiveLocation:
    """Where one server's base backups and WAL live: s3://bucket/prefix/<server>/…"""

    s3: S3Endpoint
    prefix: str
    server: str = "primary"

    @property
    def url(self) -> str:
        return f"s3://{self.s3.bucket}/{self.prefix}"

    def describe(self) -> str:
        return f"{self.url} (server {self.server}, endpoint {self.s3.endpoint_url})"


@dataclass(frozen=True)
class BaseBackup:
    """One base backup in the archive, as its tool lists it (Barman Cloud's backup id, or
    pgBackRest's label; `name` is the harness's name for it)."""

    backup_id: str
    name: str
    begin_time: datetime
    end_time: datetime
    begin_wal: str
    end_wal: str


class BackupTool(Protocol):
    """A backup engine against one archive location: what the DR code asks of it."""

    @property
    def location(self) -> ArchiveLocation: ...

    def postgres_settings(self, archive_timeout_seconds: float) -> dict[str, str]:
        """postgresql.conf lines for a primary archiving through this tool."""
        ...

    def restore_command(self) -> str:
        """`restore_command` (quoted for postgresql.conf) of a server restored from it."""
        ...

    def backup(self, primary: PostgresEndpoint, name: str) -> BaseBackup:
        """Take a base backup of `primary`, named `name`."""
        ...

    def backups(self) -> list[BaseBackup]:
        """The archive's completed base backups, oldest first."""
        ...

    def fetch(self, backup: BaseBackup, destination: Path) -> None:
        """`backup` as a data directory at `destination` (which must not exist yet)."""
        ...

    def wal_keys(self) -> list[str]:
        """The S3 keys of the archived WAL segments, in name order."""
        ...


def tool_failure(
    tool: str, result: subprocess.CompletedProcess[str], where: str
) -> BackupToolError:
    """One line naming the command, its exit status and the tail of its output."""
    output = (result.stderr or result.stdout).strip().splitlines()
    tail = " | ".join(output[-3:]) or "no output"
    return BackupToolError(f"{tool} failed (exit {result.returncode}) on {where}: {tail}")


class BarmanCloud:
    """Barman Cloud against one archive location; wrapper scripts under `tool_dir`."""

    def __init__(self, location: ArchiveLocation, tool_dir: Path) -> None:
        self.location = location
        self.tool_dir = tool_dir
        self._write_wrappers()

    # Postgres side ---------------------------------------------------------------------
    def postgres_settings(self, archive_timeout_seconds: float) -> dict[str, str]:
        return archiving_settings(self.tool_dir / "archive-wal", archive_timeout_seconds)

    def restore_command(self) -> str:
        return f"'{self.tool_dir / 'restore-wal'} %f %p'"

    # Backups ---------------------------------------------------------------------------
    def backup(self, primary: PostgresEndpoint, name: str) -> BaseBackup:
        """Take a base backup of `primary` (on this machine: the tool reads its data dir)."""
        self._run(
            "barman-cloud-backup",
            [
                "--immediate-checkpoint",
                "-h",
                primary.host,
                "-p",
                str(primary.port),
                "-U",
                primary.user,
                "-d",
                primary.dbname,
                "-n",
                name,
                self.location.url,
                self.location.server,
            ],
            extra_env={"PGPASSWORD": primary.password},
        )
        for backup in self.backups():
            if backup.name == name:
                return backup
        raise BackupToolError(
            f"barman-cloud-backup reported success but {self.location.describe()} lists no "
            f"backup named {name!r}"
        )

    def backups(self) -> list[BaseBackup]:
        """The archive's completed base backups, oldest first."""
        output = self._run(
            "barman-cloud-backup-list",
            ["--format", "json", self.location.url, self.location.server],
        )
        listed = json.loads(output).get("backups_list", [])
        backups = [_base_backup(entry) for entry in listed if entry.get("status") == "DONE"]
        return sorted(backups, key=lambda backup: backup.end_time)

    def fetch(self, backup: BaseBackup, destination: Path) -> None:
        """Download and unpack `backup` into `destination` (must not exist yet)."""
        self._run(
            "barman-cloud-restore",
            [self.location.url, self.location.server, backup.backup_id, str(destination)],
        )

    def wal_keys(self) -> list[str]:
        """The S3 keys of the archived WAL segments, in name order."""
        client = self.location.s3.client()
        prefix = f"{self.location.prefix}/{self.location.server}/wals/"
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.s3.bucket, Prefix=prefix
        ):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    # plumbing --------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        """The tool's environment: the system Python's, plus the archive's credentials."""
        base = {
            key: value
            for key, value in os.environ.items()
            if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
        }
        return {**base, **self._credentials()}

    def _credentials(self) -> dict[str, str]:
        """What boto3 in the tool reads: the keys, the region and the CA file, if any."""
        s3 = self.location.s3
        found = {
            "AWS_ACCESS_KEY_ID": s3.access_key_id,
            "AWS_SECRET_ACCESS_KEY": s3.secret_access_key,
            "AWS_DEFAULT_REGION": s3.region,
        }
        if s3.ca_file is not None:
            found["AWS_CA_BUNDLE"] = s3.ca_file
        return found

    def _run(
        self, tool: str, arguments: Sequence[str], extra_env: Mapping[str, str] | None = None
    ) -> str:
        binary = require_binary(tool, PACKAGE)
        argv = [
            binary,
            "--cloud-provider",
            "aws-s3",
            "--endpoint-url",
            self.location.s3.endpoint_url,
        ]
        try:
            result = subprocess.run(
                [*argv, *arguments],
                env={**self.environment(), **(extra_env or {})},
                capture_output=True,
                text=True,
                check=False,
                timeout=TOOL_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            raise BackupToolError(
                f"{tool} did not finish within {TOOL_TIMEOUT_SECONDS:g} s "
                f"({self.location.describe()})"
            ) from None
        if result.returncode != 0:
            raise tool_failure(tool, result, self.location.describe())
        return result.stdout

    def _write_wrappers(self) -> None:
        self.tool_dir.mkdir(parents=True, exist_ok=True)
        self.tool_dir.chmod(0o700)
        hand_to_service_user(self.tool_dir)
        s3 = self.location.s3
        exports = "".join(
            f"export {key}={shlex.quote(value)}\n" for key, value in self._credentials().items()
        )
        common = (
            f"--cloud-provider aws-s3 --endpoint-url {shlex.quote(s3.endpoint_url)} "
            f"{shlex.quote(self.location.url)} {shlex.quote(self.location.server)}"
        )
        archive = require_binary("barman-cloud-wal-archive", PACKAGE)
        restore = require_binary("barman-cloud-wal-restore", PACKAGE)
        scripts = {
            "archive-wal": f'exec {archive} --gzip {common} "$1"\n',
            "restore-wal": f'exec {restore} {common} "$1" "$2"\n',
        }
        for name, command in scripts.items():
            path = self.tool_dir / name
            path.write_text(f"#!/bin/sh\nunset PYTHONPATH PYTHONHOME\n{exports}{command}")
            path.chmod(0o700)
            hand_to_service_user(path)


def archiving_settings(archive_command: Path, archive_timeout_seconds: float) -> dict[str, str]:
    """postgresql.conf lines for a primary archiving through `archive_command` (a wrapper
    called with %p), plus commit timestamps, which the PITR ledger reads to know exactly
    when each batch committed."""
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": f"'{archive_command} %p'",
        "archive_timeout": f"'{archive_timeout_seconds:g}s'",
        "track_commit_timestamp": "on",
        "max_wal_senders": "2",
    }


def _base_backup(entry: Mapping[str, str]) -> BaseBackup:
    return BaseBackup(
        backup_id=str(entry["backup_id"]),
        name=str(entry.get("backup_name") or ""),
        begin_time=_barman_time(str(entry["begin_time"])),
        end_time=_barman_time(str(entry["end_time"])),
        begin_wal=str(entry.get("begin_wal", "")),
        end_wal=str(entry.get("end_wal", "")),
    )


def _barman_time(text: str) -> datetime:
    """Barman prints e.g. 'Sun Nov 22 15:01:02 2026' (local time) or ISO 8601."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime.strptime(text, "%a %b %d %H:%M:%S %Y").astimezone()


def check_archive_reachable(location: ArchiveLocation) -> None:
    """One clear line when the bucket is missing or the credentials are refused."""
    s3 = location.s3
    try:
        s3.client().head_bucket(Bucket=s3.bucket)
    except botocore.exceptions.ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in {"404", "NoSuchBucket"}:
            raise DrInputError(
                f"bucket {s3.bucket!r} does not exist at {s3.endpoint_url}: create it or fix "
                f"[services.s3] bucket"
            ) from None
        if code in {"403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"}:
            raise DrInputError(
                f"{s3.endpoint_url} refused the credentials for bucket {s3.bucket!r} "
                f"({code}): fix [services.s3] access_key_id / secret_access_key"
            ) from None
        raise DrInputError(f"S3 bucket {s3.describe()} answered {code}: {error}") from None
    except botocore.exceptions.BotoCoreError as error:
        raise DrInputError(
            f"S3 endpoint {s3.endpoint_url} is unreachable ({error}): check [services.s3]"
        ) from None


def switch_and_wait_archived(dsn: str, deadline_seconds: float = ARCHIVE_WAIT_SECONDS) -> str:
    """Close the current WAL segment and wait until the archiver has shipped it.

    Returns the segment's name. Raises `BackupToolError` if archiving fails or stalls.
    """
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert row is not None
        segment = str(row[0])
        try:
            wait_until(
                lambda: _archived(connection, segment),
                seconds=deadline_seconds,
                what=f"WAL segment {segment} archived",
            )
        except WaitTimeoutError as timeout:
            raise BackupToolError(
                f"WAL segment {segment} not archived within {deadline_seconds:g} s "
                f"({timeout.seen}): see the primary's log for archive_command errors"
            ) from None
        return segment


def _archived(connection: psycopg.Connection[Any], segment: str) -> bool | NotYet:
    status = connection.execute(
        "SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, '') "
        "FROM pg_stat_archiver"
    ).fetchone()
    assert status is not None
    archived, failed = str(status[0]), str(status[1])
    return archived >= segment or NotYet(
        f"last archived {archived or 'none'}, last failed {failed or 'none'}"
    )

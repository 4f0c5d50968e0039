"""pgBackRest as the backup engine: the same methods as `dr.archive.BarmanCloud`.

One stanza per primary (the archive location's `server`), its repository the location's
prefix of the bucket (`repo1-path`), over HTTPS (pgBackRest speaks nothing else to S3:
the local emulator is started with TLS, `S3Provider(tls=True)`). Everything, the S3
credentials included, is in one config file under `tool_dir`, 0600 and the service
user's; commands name it (`--config`) and never a secret.

- WAL: `archive-push` and `archive-get` asynchronous (`archive-async`), in parallel
  (`process-max`), through a spool directory: the primary ships segments in batches, and
  a restore fetches WAL ahead of replay (`archive-get-queue-max`) instead of one process
  per segment asked for. Each restored server gets its own spool, lock and log directory
  beside its data directory (the launcher's workdir, removed with it), so restores running
  at once never share a queue.
- Base backups: `backup --type=full`, annotated with the harness's name for it
  (`--annotation=harness-name=…`), listed from `info --output=json`.
- `fetch`: `restore --set=LABEL --type=none` into a directory of the tool's, moved to the
  destination: pgBackRest writes no recovery settings (the harness writes its own, and
  `archive_mode=off`, after it), and `--archive-mode=off` besides, so that a restored
  server never archives into the source's repository.

Every command runs as the service user (when the harness is root): pgBackRest reads the
primary's data directory (`pg1-path`), and its spool, lock and log files must belong to
the user Postgres runs `archive_command` as.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dr.archive import (
    TOOL_TIMEOUT_SECONDS,
    ArchiveLocation,
    BaseBackup,
    archiving_settings,
    tool_failure,
)
from dr.errors import BackupToolError, DrInputError
from fixtures.providers.postgres import PostgresEndpoint
from fixtures.providers.s3 import S3Endpoint
from fixtures.tools import hand_to_service_user, require_binary, service_user

PACKAGE = "pgbackrest"
CONFIG = "pgbackrest.conf"
ANNOTATION = "harness-name"
# Parallel transfers of backup, restore, archive-push and archive-get (the machine the
# harness runs on has two cores; more would only wait on them).
PROCESS_MAX = 2
# How much WAL a restore's archive-get fetches ahead of replay (pgBackRest's default is
# 128 MiB: eight segments).
ARCHIVE_GET_QUEUE = "256MiB"
# archive-get's exit statuses: 0 restored, 1 not in the archive (its end, or a timeline
# history file that never was). Any other is the tool failing: the wrapper makes it an
# exit status above 125, which aborts recovery, rather than let Postgres take it for the
# end of the archive and promote early.
ABORT_RECOVERY_STATUS = 126


def require_tls(s3: S3Endpoint) -> None:
    """`DrInputError` in one line unless `s3` is spoken to over HTTPS."""
    if not s3.tls:
        raise DrInputError(
            f"pgBackRest speaks only HTTPS to S3 and {s3.endpoint_url} is plain HTTP: start "
            f"the local S3 with TLS (S3Provider(tls=True)) or give an https:// endpoint_url"
        )


@dataclass(frozen=True)
class _ServiceUser:
    name: str | None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def current(cls) -> _ServiceUser:
        name = service_user()
        if name is None:
            return cls(None)
        entry = pwd.getpwnam(name)
        return cls(name, entry.pw_uid, entry.pw_gid)


class PgBackRest:
    """pgBackRest against one archive location (stanza = its `server`); files under
    `tool_dir`. The primary must have been given to `create_stanza` before it archives."""

    def __init__(self, location: ArchiveLocation, tool_dir: Path) -> None:
        s3 = location.s3
        require_tls(s3)
        self.location = location
        self.tool_dir = tool_dir
        self.binary = require_binary("pgbackrest", PACKAGE)
        self._user = _ServiceUser.current()
        self._secrets = tuple(
            secret for secret in (s3.access_key_id, s3.secret_access_key) if secret
        )
        self._write_files()

    @property
    def stanza(self) -> str:
        return self.location.server

    @property
    def config_path(self) -> Path:
        return self.tool_dir / CONFIG

    # Postgres side ---------------------------------------------------------------------
    def postgres_settings(self, archive_timeout_seconds: float) -> dict[str, str]:
        push = self.tool_dir / "pgbackrest-archive-push"
        return archiving_settings(push, archive_timeout_seconds)

    def restore_command(self) -> str:
        return f"'{self.tool_dir / 'pgbackrest-archive-get'} %f %p'"

    # Backups ---------------------------------------------------------------------------
    def create_stanza(self, primary: PostgresEndpoint) -> None:
        """Create the stanza for `primary` (a native server: pgBackRest reads its data
        directory and connects through its socket)."""
        self._run("stanza-create", self._primary_options(primary), primary=primary)

    def backup(self, primary: PostgresEndpoint, name: str) -> BaseBackup:
        """Take a full base backup of `primary`, annotated with `name`."""
        self._run(
            "backup",
            [
                *self._primary_options(primary),
                "--type=full",
                f"--annotation={ANNOTATION}={name}",
            ],
            primary=primary,
        )
        named = [backup for backup in self.backups() if backup.name == name]
        if not named:
            raise BackupToolError(
                f"pgbackrest backup reported success but {self.location.describe()} lists no "
                f"backup named {name!r}"
            )
        return named[-1]

    def backups(self) -> list[BaseBackup]:
        """The stanza's completed base backups, oldest first (none before the stanza)."""
        output = self._run("info", ["--output=json"])
        stanzas = json.loads(output) or [{}]
        listed = stanzas[0].get("backup", [])
        backups = [_base_backup(entry) for entry in listed if not entry.get("error")]
        return sorted(backups, key=lambda backup: backup.end_time)

    def fetch(self, backup: BaseBackup, destination: Path) -> None:
        """Restore `backup` (its files only: no recovery settings, archiving off) into
        `destination`, which must not exist yet."""
        if destination.exists():
            raise BackupToolError(f"pgbackrest restore: {destination} exists already")
        staging = Path(tempfile.mkdtemp(prefix="fetch-", dir=self.tool_dir))
        try:
            self._own(staging)
            data = staging / "data"
            data.mkdir(mode=0o700)
            self._own(data)
            self._run(
                "restore",
                [
                    f"--set={backup.backup_id}",
                    f"--pg1-path={data}",
                    "--type=none",
                    "--archive-mode=off",
                ],
            )
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(data, destination)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def wal_keys(self) -> list[str]:
        """The S3 keys of the archived WAL segments (and backup history files), in name
        order: `<prefix>/archive/<stanza>/<archive id>/<first 16 of the name>/<name>-<sha1>…`."""
        client = self.location.s3.client()
        prefix = f"{self.location.prefix}/archive/{self.stanza}/"
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.s3.bucket, Prefix=prefix
        ):
            keys.extend(
                item["Key"]
                for item in page.get("Contents", [])
                if _is_wal_file(item["Key"].rsplit("/", 1)[-1])
            )
        return sorted(keys, key=lambda key: key.rsplit("/", 1)[-1])

    # plumbing --------------------------------------------------------------------------
    def _primary_options(self, primary: PostgresEndpoint) -> list[str]:
        if primary.data_dir is None:
            raise BackupToolError(
                f"pgbackrest needs the data directory of {primary.describe()}: only a "
                f"primary the harness started natively has one here"
            )
        return [
            f"--pg1-path={primary.data_dir}",
            f"--pg1-socket-path={primary.data_dir.parent}",  # unix_socket_directories
            f"--pg1-port={primary.port}",
            f"--pg1-user={primary.user}",
            f"--pg1-database={primary.dbname}",
        ]

    def _run(
        self,
        command: str,
        arguments: Sequence[str],
        primary: PostgresEndpoint | None = None,
    ) -> str:
        argv = [
            self.binary,
            f"--config={self.config_path}",
            f"--stanza={self.stanza}",
            *arguments,
            command,
        ]
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PGBACKREST_", "PG", "AWS_"))
        }
        if primary is not None:
            environment["PGPASSFILE"] = str(self._write_pgpass(primary))
        try:
            result = subprocess.run(
                argv,
                env=environment,
                cwd=self.tool_dir,
                capture_output=True,
                text=True,
                check=False,
                timeout=TOOL_TIMEOUT_SECONDS,
                user=self._user.uid,
                group=self._user.gid,
                extra_groups=[] if self._user.name is not None else None,
            )
        except subprocess.TimeoutExpired:
            raise BackupToolError(
                f"pgbackrest {command} did not finish within {TOOL_TIMEOUT_SECONDS:g} s "
                f"({self.location.describe()})"
            ) from None
        if result.returncode != 0:
            masked = subprocess.CompletedProcess(
                argv, result.returncode, self._mask(result.stdout), self._mask(result.stderr)
            )
            raise tool_failure(f"pgbackrest {command}", masked, self.location.describe())
        return result.stdout

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _own(self, path: Path) -> None:
        hand_to_service_user(path)

    def _write_pgpass(self, primary: PostgresEndpoint) -> Path:
        """The primary's password for libpq (`PGPASSFILE`), 0600, the service user's."""
        path = self.tool_dir / "pgpass"

        def field(value: str) -> str:
            return value.replace("\\", "\\\\").replace(":", "\\:")

        _write_private(
            path, f"*:{primary.port}:*:{field(primary.user)}:{field(primary.password)}\n"
        )
        return path

    def _write_files(self) -> None:
        self.tool_dir.mkdir(parents=True, exist_ok=True)
        self.tool_dir.chmod(0o700)
        self._own(self.tool_dir)
        for name in ("spool", "lock", "log"):
            (self.tool_dir / name).mkdir(mode=0o700, exist_ok=True)
            self._own(self.tool_dir / name)
        _write_private(self.config_path, self._config())
        wrapper = f"{shlex.quote(self.binary)} --config={shlex.quote(str(self.config_path))} "
        wrapper += f'--stanza={shlex.quote(self.stanza)} --pg1-path="$PWD"'
        scripts = {
            # Postgres runs both in its data directory, %p relative to it.
            "pgbackrest-archive-push": f'exec {wrapper} archive-push "$1"\n',
            "pgbackrest-archive-get": (
                'own="$(dirname "$PWD")/pgbackrest"\n'
                f'mkdir -p "$own" || exit {ABORT_RECOVERY_STATUS}\n'
                f'{wrapper} --spool-path="$own" --lock-path="$own" --log-path="$own" '
                'archive-get "$1" "$2"\n'
                "status=$?\n"
                f'[ "$status" -le 1 ] && exit "$status"\n'
                f"exit {ABORT_RECOVERY_STATUS}\n"
            ),
        }
        for name, body in scripts.items():
            path = self.tool_dir / name
            path.write_text(f"#!/bin/sh\n{body}")
            path.chmod(0o700)
            self._own(path)

    def _config(self) -> str:
        s3 = self.location.s3
        repository: dict[str, str] = {
            "repo1-type": "s3",
            "repo1-s3-endpoint": s3.host,
            "repo1-storage-port": str(s3.port),
            "repo1-s3-bucket": s3.bucket,
            "repo1-s3-region": s3.region,
            "repo1-s3-key": s3.access_key_id,
            "repo1-s3-key-secret": s3.secret_access_key,
            "repo1-s3-uri-style": "path",
            "repo1-path": f"/{self.location.prefix.strip('/')}",
            # A new cluster is ~1,000 small files: bundled into a few objects, not a request
            # (and a TLS handshake) each.
            "repo1-bundle": "y",
            # Every backup is kept: the harness removes the whole prefix, not pgBackRest.
            "repo1-retention-full": "9999999",
        }
        if s3.ca_file is not None:
            repository["repo1-storage-ca-file"] = s3.ca_file
        general = {
            "archive-async": "y",
            "spool-path": str(self.tool_dir / "spool"),
            "lock-path": str(self.tool_dir / "lock"),
            "log-path": str(self.tool_dir / "log"),
            "log-level-console": "warn",
            "log-level-stderr": "off",
            "log-level-file": "info",
            "process-max": str(PROCESS_MAX),
            "compress-type": "lz4",
            "start-fast": "y",
        }
        sections = {
            "global": {**repository, **general},
            "global:archive-get": {"archive-get-queue-max": ARCHIVE_GET_QUEUE},
        }
        lines: list[str] = []
        for section, options in sections.items():
            lines.append(f"[{section}]")
            for key, value in options.items():
                if "\n" in value or "\r" in value:
                    raise DrInputError(f"pgBackRest option {key} holds a line break")
                lines.append(f"{key}={value}")
            lines.append("")
        return "\n".join(lines)


def _write_private(path: Path, text: str) -> None:
    """`text` in a file only its owner (the service user) can read, never world-readable."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    path.chmod(0o600)
    hand_to_service_user(path)


def _is_wal_file(name: str) -> bool:
    head = name[:24]
    return len(head) == 24 and all(char in "0123456789ABCDEF" for char in head)


def _base_backup(entry: Mapping[str, Any]) -> BaseBackup:
    timestamps = entry.get("timestamp", {})
    archive = entry.get("archive", {}) or {}
    annotation = entry.get("annotation", {}) or {}
    return BaseBackup(
        backup_id=str(entry["label"]),
        name=str(annotation.get(ANNOTATION, "")),
        begin_time=datetime.fromtimestamp(int(timestamps["start"]), UTC),
        end_time=datetime.fromtimestamp(int(timestamps["stop"]), UTC),
        begin_wal=str(archive.get("start") or ""),
        end_wal=str(archive.get("stop") or ""),
    )

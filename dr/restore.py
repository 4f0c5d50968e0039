"""Restore into a fresh Postgres from the archive, to a recovery target.

Steps: check the request (target parses, is not in the future, is not before the first
base backup; the bucket answers to the credentials), pick the base backup, fetch it into
a staging directory, then start a new Postgres on it with `recovery.signal`, the
`restore_command` and the recovery target. `hot_standby` is off, so the server only
accepts connections once recovery has reached its target and promoted; if it replays
all archived WAL without reaching the target, Postgres itself stops with "recovery ended
before configured recovery target was reached" and this module raises
`RecoveryTargetNotReachedError` — a restore never falls back to "latest" silently.

A failed restore leaves nothing behind: the staging directory and the new server's
workdir are removed, and no process keeps running. The source database is never touched.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar, Protocol

from dr.archive import BackupTool, BaseBackup, check_archive_reachable
from dr.errors import DrInputError, RecoveryTargetNotReachedError, RestoreFailedError
from dr.targets import RecoveryTarget
from fixtures.errors import ServiceStartError
from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.phases import phase as in_phase
from fixtures.providers.base import NativeLaunch
from fixtures.providers.postgres import LOCAL_LOGIN, Login, PostgresEndpoint, PostgresProvider

NOT_REACHED = "recovery ended before configured recovery target was reached"
SEGMENT_BYTES = 16 * 1024 * 1024
# Barman lists backup times to the second: a time target must follow the end by this much.
BACKUP_END_MARGIN = timedelta(seconds=1)
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC")
PHASE_MARKERS = {
    "starting": "starting PostgreSQL",
    "redo_starts": "redo starts at",
    "redo_done": "redo done at",
    "ready": "database system is ready to accept connections",
}


class BackupSource(Protocol):
    """Where a restore lists and fetches base backups: the archive's tool itself, or a
    `FetchedBackups` in front of it."""

    def backups(self) -> list[BaseBackup]: ...

    def fetch(self, backup: BaseBackup, destination: Path) -> None: ...


@dataclass
class FetchedBackups:
    """An archive's backups listed once and each fetched once, for several restores of an
    archive nobody backs up to meanwhile (a PITR suite's cases): each restore gets its own
    copy. Listing and downloading again per case was a third of those restores' CPU (a
    Barman process each); the WAL still comes from the archive, per restore. Either
    backup tool (`dr.archive.BackupTool`)."""

    tool: BackupTool
    directory: Path
    _listed: list[BaseBackup] | None = None
    _fetched: dict[str, Path] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def backups(self) -> list[BaseBackup]:
        with self._lock:
            if self._listed is None:
                self._listed = self.tool.backups()
            return list(self._listed)

    def fetch(self, backup: BaseBackup, destination: Path) -> None:
        with self._lock:
            source = self._fetched.get(backup.backup_id)
            if source is None:
                source = self.directory / backup.backup_id
                self.tool.fetch(backup, source)
                self._fetched[backup.backup_id] = source
        shutil.copytree(source, destination, symlinks=True)


@dataclass
class RestoreResult:
    service: RunningService[PostgresEndpoint]
    backup: BaseBackup
    target: RecoveryTarget
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase
    base_backup_bytes: int = 0
    wal_segments_restored: int = 0
    log_path: Path | None = None

    @property
    def endpoint(self) -> PostgresEndpoint:
        return self.service.endpoint

    @property
    def restored_bytes(self) -> int:
        return self.base_backup_bytes + self.wal_segments_restored * SEGMENT_BYTES


class _RecoveringPostgres(PostgresProvider):
    """A Postgres recovering from the archive: as long as replay takes (a failed
    recovery ends the process at once, so a long deadline costs nothing), log kept apart
    (the launcher removes a failed server's workdir; the verdict is in the log)."""

    ready_deadline_seconds: ClassVar[float] = 3600.0

    def __init__(
        self, settings: dict[str, str], restore_from: Path, log_path: Path, login: Login
    ) -> None:
        super().__init__(settings=settings, restore_from=restore_from, login=login)
        self.log_path = log_path

    def native(self, workdir: Path, port: int) -> NativeLaunch[PostgresEndpoint]:
        launch = super().native(workdir, port)
        assert self.log_path is not None
        return NativeLaunch(replace(launch.process, log_path=self.log_path), launch.endpoint)


def parse_target_time(text: str, now: datetime | None = None) -> datetime:
    """An aware timestamp not in the future, or `DrInputError` in one line."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DrInputError(
            f"recovery target time {text!r} is not a timestamp: use ISO 8601 with a UTC "
            f"offset, e.g. 2026-11-22 15:04:05.123456+00:00"
        ) from None
    if moment.tzinfo is None:
        raise DrInputError(
            f"recovery target time {text!r} has no UTC offset: add one (e.g. +00:00)"
        )
    current = now or datetime.now(UTC)
    if moment > current:
        raise DrInputError(
            f"recovery target time {moment.isoformat()} is in the future (now "
            f"{current.isoformat(timespec='seconds')}): pick a time in the past"
        )
    return moment


def choose_backup(
    backups: list[BaseBackup], target: RecoveryTarget, where: str, now: datetime | None = None
) -> BaseBackup:
    """The base backup to start from: for a time, the newest that ended before it."""
    if not backups:
        raise DrInputError(f"no base backup in {where}: take one (barman-cloud-backup) first")
    if target.kind == "latest":
        return backups[-1]
    if target.kind != "time":
        return backups[0]
    moment = parse_target_time(target.value, now)
    usable = [backup for backup in backups if backup.end_time + BACKUP_END_MARGIN <= moment]
    if not usable:
        first = backups[0].end_time + BACKUP_END_MARGIN
        raise DrInputError(
            f"recovery target time {moment.isoformat()} is before the first base backup in "
            f"{where} (usable from {first.isoformat()}): pick a later time"
        )
    return usable[-1]


def restore(
    launcher: ServiceLauncher,
    tool: BackupTool,
    target: RecoveryTarget,
    work_root: Path,
    *,
    now: datetime | None = None,
    login: Login = LOCAL_LOGIN,
    fetched: FetchedBackups | None = None,
) -> RestoreResult:
    """Restore the archive into a fresh Postgres at `target`; see the module docstring.

    `login` is a role of the backed-up cluster (the restored server has its roles);
    `fetched`: base backups already fetched from `tool`'s archive (a copy is restored)."""
    with in_phase(f"restore to {target.describe()}"):
        return _restore(launcher, tool, fetched or tool, target, work_root, now=now, login=login)


def _restore(
    launcher: ServiceLauncher,
    tool: BackupTool,
    source: BackupSource,
    target: RecoveryTarget,
    work_root: Path,
    *,
    now: datetime | None,
    login: Login,
) -> RestoreResult:
    if target.kind == "time":
        parse_target_time(target.value, now)
    check_archive_reachable(tool.location)
    backup = choose_backup(source.backups(), target, tool.location.describe(), now)
    staging_parent = Path(tempfile.mkdtemp(prefix="restore-", dir=work_root))
    staging = staging_parent / "data"
    log_path = staging_parent.with_suffix(".log")
    phases: dict[str, float] = {}
    try:
        started = time.monotonic()
        source.fetch(backup, staging)
        phases["fetch_backup" if source is tool else "copy_fetched_backup"] = (
            time.monotonic() - started
        )
        base_bytes = _size(staging)
        settings = {
            **target.settings(),
            "restore_command": tool.restore_command(),
            "archive_mode": "off",  # a restore must never write into the source's archive
            "hot_standby": "off",
            "log_line_prefix": "'%m [%p] '",
        }
        provider = _RecoveringPostgres(settings, staging, log_path, login)
        try:
            service = launcher.start(provider)
        except ServiceStartError as error:
            raise _restore_error(target, log_path, error) from None
    finally:
        shutil.rmtree(staging_parent, ignore_errors=True)
    log = log_path.read_text(errors="replace")
    phases.update(log_phases(log))
    return RestoreResult(
        service=service,
        backup=backup,
        target=target,
        phases=phases,
        base_backup_bytes=base_bytes,
        wal_segments_restored=len(set(re.findall(r'restored log file "([0-9A-F]{24})"', log))),
        log_path=log_path,
    )


def _restore_error(target: RecoveryTarget, log_path: Path, error: Exception) -> Exception:
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    log_path.unlink(missing_ok=True)
    fatal = [line.split("FATAL:", 1)[1].strip() for line in log.splitlines() if "FATAL:" in line]
    fatal = [line for line in fatal if "not accepting connections" not in line]
    restored = re.findall(r'restored log file "([0-9A-F]{24})"', log)
    last = restored[-1] if restored else "none"
    if NOT_REACHED in log:
        return RecoveryTargetNotReachedError(
            f"restore to {target.describe()} failed: Postgres: {NOT_REACHED} "
            f"(last WAL segment restored from the archive: {last})"
        )
    reason = fatal[-1] if fatal else str(error).splitlines()[0]
    return RestoreFailedError(f"restore to {target.describe()} failed: Postgres: {reason}")


def log_phases(log: str) -> dict[str, float]:
    """Seconds spent starting, replaying WAL and promoting, from the server's log times."""
    seen: dict[str, datetime] = {}
    for line in log.splitlines():
        match = _LOG_TIME.match(line)
        if match is None:
            continue
        for phase, marker in PHASE_MARKERS.items():
            if marker in line and phase not in seen:
                seen[phase] = datetime.fromisoformat(match.group(1))
    if not {"starting", "ready"} <= seen.keys():
        return {}
    redo_start = seen.get("redo_starts", seen["ready"])
    redo_done = seen.get("redo_done", redo_start)
    return {
        "start": (redo_start - seen["starting"]).total_seconds(),
        "replay_wal": (redo_done - redo_start).total_seconds(),
        "promote": (seen["ready"] - redo_done).total_seconds(),
    }


def _size(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())

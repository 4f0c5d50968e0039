"""An archiving primary: a fresh Postgres whose WAL and base backups go to S3, through
Barman Cloud (`tool="barman-cloud"`, the default) or pgBackRest (`tool="pgbackrest"`,
which needs the S3 endpoint over TLS)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dr.archive import ArchiveLocation, BackupTool, BarmanCloud
from dr.errors import DrInputError
from dr.pgbackrest import PgBackRest, require_tls
from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.providers.postgres import LOCAL_LOGIN, Login, PostgresEndpoint, PostgresProvider
from fixtures.providers.s3 import S3Endpoint

DEFAULT_ARCHIVE_TIMEOUT_SECONDS = 60.0  # the requirements' "every 60 s"
TOOLS = ("barman-cloud", "pgbackrest")


@dataclass(frozen=True)
class ArchivingPrimary:
    service: RunningService[PostgresEndpoint]
    tool: BackupTool
    work_root: Path  # restores stage here; removed with the primary
    archive_timeout_seconds: float

    @property
    def endpoint(self) -> PostgresEndpoint:
        return self.service.endpoint


@contextmanager
def work_directory(launcher: ServiceLauncher) -> Iterator[Path]:
    """A directory under the launcher's root (the reaper removes it even after SIGKILL)."""
    parent = launcher.root if launcher.root is not None else None
    root = Path(tempfile.mkdtemp(prefix="dr-", dir=parent))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def archiving_primary(
    launcher: ServiceLauncher,
    s3: S3Endpoint,
    archive_timeout_seconds: float = DEFAULT_ARCHIVE_TIMEOUT_SECONDS,
    extra_settings: Mapping[str, str] | None = None,
    login: Login = LOCAL_LOGIN,
    *,
    tool: str = "barman-cloud",
) -> Iterator[ArchivingPrimary]:
    """Start a primary archiving to its own prefix of `s3`'s bucket with `tool` (one of
    `TOOLS`); stop it afterwards."""
    if tool not in TOOLS:
        raise DrInputError(f"backup tool {tool!r} is not one of {', '.join(TOOLS)}")
    if tool == "pgbackrest":
        require_tls(s3)
    with work_directory(launcher) as root:
        location = ArchiveLocation(s3, prefix=f"dr-{uuid.uuid4().hex[:10]}")
        engine: BarmanCloud | PgBackRest = (
            PgBackRest(location, root / "tool")
            if tool == "pgbackrest"
            else BarmanCloud(location, root / "tool")
        )
        settings = {
            **engine.postgres_settings(archive_timeout_seconds),
            **(extra_settings or {}),
        }
        service = launcher.start(PostgresProvider(settings=settings, login=login))
        try:
            if isinstance(engine, PgBackRest):
                engine.create_stanza(service.endpoint)
            yield ArchivingPrimary(service, engine, root, archive_timeout_seconds)
        finally:
            service.stop()

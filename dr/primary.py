"""An archiving primary: a fresh Postgres whose WAL and base backups go to S3."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dr.archive import ArchiveLocation, BarmanCloud
from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.providers.postgres import LOCAL_LOGIN, Login, PostgresEndpoint, PostgresProvider
from fixtures.providers.s3 import S3Endpoint

DEFAULT_ARCHIVE_TIMEOUT_SECONDS = 60.0  # the requirements' "every 60 s"


@dataclass(frozen=True)
class ArchivingPrimary:
    service: RunningService[PostgresEndpoint]
    tool: BarmanCloud
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
) -> Iterator[ArchivingPrimary]:
    """Start a primary archiving to its own prefix of `s3`'s bucket; stop it afterwards."""
    with work_directory(launcher) as root:
        location = ArchiveLocation(s3, prefix=f"dr-{uuid.uuid4().hex[:10]}")
        tool = BarmanCloud(location, root / "tool")
        settings = {**tool.postgres_settings(archive_timeout_seconds), **(extra_settings or {})}
        service = launcher.start(PostgresProvider(settings=settings, login=login))
        try:
            yield ArchivingPrimary(service, tool, root, archive_timeout_seconds)
        finally:
            service.stop()

"""Each DR check catches its fault, on real servers (the DR fixtures of plugins/dr.py):

- a WAL segment deleted from the bucket: the restore fails, or the diff shows the gap;
  it never passes silently;
- `archive_timeout` above the RPO bound: the RPO check fails with the measured value;
- a recovery target off by one batch: the diff names the extra rows;
- bad restore requests (unparsable, future, before the first backup; a missing bucket)
  are one line each, and leave nothing behind.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dr.archive import check_archive_reachable
from dr.errors import DrInputError, PitrMismatchError, RestoreFailedError, RpoViolatedError
from dr.history import History
from dr.ledger import check_restore, read_restored
from dr.loss import require_rpo
from dr.recovery import measure_recovery
from dr.restore import restore
from dr.targets import RecoveryTarget
from fixtures.launcher import ServiceLauncher
from fixtures.providers.s3 import S3Endpoint
from plugins.dr import FreshStores
from plugins.settings import HarnessContext

pytestmark = pytest.mark.integration


def test_a_target_off_by_one_batch_names_the_extra_rows(
    pitr_history: History, dr_launcher: ServiceLauncher
) -> None:
    ledger = pitr_history.ledger
    k = ledger.middle()
    restored_at, expected_at = ledger.time_between(k), ledger.time_between(k - 1)
    result = restore(
        dr_launcher, pitr_history.primary.tool, restored_at, pitr_history.primary.work_root
    )
    try:
        rows = read_restored(result.endpoint.dsn)
    finally:
        result.service.stop()
    extra = sorted(pitr_history.ledger.batches[k].rows)
    with pytest.raises(PitrMismatchError, match=rf"extra {len(extra)} rows \(ids {extra[0]}"):
        check_restore(pitr_history.ledger, expected_at, rows)


def test_a_deleted_wal_segment_never_passes_silently(
    pitr_history: History, dr_launcher: ServiceLauncher
) -> None:
    tool = pitr_history.primary.tool
    backup = tool.backups()[-1]
    after_backup = [
        key for key in tool.wal_keys() if key.rsplit("/", 1)[-1][:24] > backup.end_wal[:24]
    ]
    assert after_backup, "the history after the base backup must be archived"
    gap = after_backup[0]
    tool.location.s3.client().delete_object(Bucket=tool.location.s3.bucket, Key=gap)
    last = pitr_history.ledger.batches[-1].committed_at
    target = RecoveryTarget("time", last.isoformat(sep=" "), True)
    failure: RestoreFailedError | None = None
    try:
        result = restore(dr_launcher, tool, target, pitr_history.primary.work_root)
    except RestoreFailedError as error:
        failure = error
    if failure is not None:
        assert "recovery ended before configured recovery target was reached" in str(failure)
        return
    try:
        rows = read_restored(result.endpoint.dsn)
    finally:
        result.service.stop()
    with pytest.raises(PitrMismatchError, match="missing"):
        check_restore(pitr_history.ledger, target, rows)


def test_archive_timeout_above_the_rpo_bound_fails_the_rpo_check(
    dr_launcher: ServiceLauncher,
    s3: S3Endpoint,
    api_factory: Callable[..., Any],
    recovery_stores: FreshStores,
    harness_context: HarnessContext,
) -> None:
    """Production's 60 s archive_timeout against a 3 s bound: 5 s of writes are lost."""
    with recovery_stores() as stores:
        point = measure_recovery(
            dr_launcher,
            s3,
            functools.partial(api_factory, **stores),
            description=harness_context.system.description,
            megabytes=1,
            write_seconds=5.0,
            archive_timeout_seconds=60.0,
        ).point
    with pytest.raises(RpoViolatedError, match=r"^RPO \d+\.\d\d s with archive_timeout 60 s"):
        require_rpo(point, 3.0)
    assert point.seconds > 3.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday at noon", "is not a timestamp"),
        ("2026-11-22 10:00:00", "has no UTC offset"),
        ((datetime.now(UTC) + timedelta(days=1)).isoformat(), "is in the future"),
        ("2001-01-01 00:00:00+00:00", "is before the first base backup"),
    ],
    ids=["unparsable", "no-offset", "future", "before-first-backup"],
)
def test_a_bad_target_time_is_one_line_and_restores_nothing(
    pitr_history: History, dr_launcher: ServiceLauncher, text: str, message: str
) -> None:
    work_root = pitr_history.primary.work_root
    before = set(work_root.iterdir())
    running = len(dr_launcher.running())
    with pytest.raises(DrInputError, match=message) as failure:
        restore(
            dr_launcher,
            pitr_history.primary.tool,
            RecoveryTarget("time", text, True),
            work_root,
        )
    assert "\n" not in str(failure.value)
    assert set(work_root.iterdir()) == before
    assert len(dr_launcher.running()) == running


def test_a_missing_bucket_is_one_line(pitr_history: History) -> None:
    location = pitr_history.primary.tool.location
    missing = replace(location, s3=replace(location.s3, bucket="no-such-bucket"))
    with pytest.raises(DrInputError, match="bucket 'no-such-bucket' does not exist"):
        check_archive_reachable(missing)

"""The DR oracle and reports, as pure logic: which rows a target must keep, the diff, the
input checks, RPO/RTO arithmetic and messages, the RTO table and plot."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dr.archive import BaseBackup
from dr.errors import DrInputError, RpoViolatedError, RtoViolatedError
from dr.ledger import diff
from dr.loss import RecoveryPoint, RecoveryTime, require_rpo, require_rto
from dr.report import plot_rto, rto_table
from dr.restore import FetchedBackups, choose_backup, parse_target_time
from dr.stores import CrossStoreDiff
from dr.targets import CommitPoint, RecoveryTarget, expected_batches, format_lsn, parse_lsn

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
COMMITS = [
    CommitPoint(0, 700, T0, 0x3000010, before_backup=True),
    CommitPoint(1, 701, T0 + timedelta(seconds=1), 0x3000100, before_backup=False),
    CommitPoint(2, 702, T0 + timedelta(seconds=2), 0x3000200, before_backup=False),
]


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        (RecoveryTarget("time", str(T0 + timedelta(seconds=1)), True), {0, 1}),
        (RecoveryTarget("time", str(T0 + timedelta(seconds=1)), False), {0}),
        (RecoveryTarget("time", str(T0 + timedelta(milliseconds=1500)), False), {0, 1}),
        (RecoveryTarget("xid", "701", True), {0, 1}),
        (RecoveryTarget("xid", "701", False), {0}),
        (RecoveryTarget("lsn", "0/3000200", True), {0, 1, 2}),
        (RecoveryTarget("lsn", "0/3000200", False), {0, 1}),
        (RecoveryTarget("immediate"), {0}),
        (RecoveryTarget("latest"), {0, 1, 2}),
    ],
)
def test_expected_batches_follow_postgres_semantics(target: RecoveryTarget, kept: set[int]) -> None:
    assert expected_batches(COMMITS, target) == kept


def test_restore_point_keeps_the_batches_before_it() -> None:
    assert expected_batches(COMMITS, RecoveryTarget("name", "p"), {"p": 2}) == {0, 1}
    with pytest.raises(ValueError, match="unknown restore point 'q'"):
        expected_batches(COMMITS, RecoveryTarget("name", "q"), {"p": 2})


def test_lsn_round_trip() -> None:
    assert parse_lsn("1/3000090") == (1 << 32) | 0x3000090
    assert format_lsn(parse_lsn("1/3000090")) == "1/3000090"


def test_diff_names_missing_extra_duplicated_and_changed_rows() -> None:
    result = diff({1: "a", 2: "b", 3: "c"}, [(1, "a"), (2, "x"), (4, "d"), (4, "d")])
    assert result.missing == [3]
    assert result.extra == [4]
    assert result.duplicates == [4]
    assert result.changed == [2]
    assert not result.ok
    assert diff({1: "a"}, [(1, "a")]).ok


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not a time", "is not a timestamp"),
        ("2026-11-22 10:00:00", "has no UTC offset"),
        ("2026-11-23 10:00:00+00:00", "is in the future"),
    ],
)
def test_bad_target_times_are_named(text: str, message: str) -> None:
    with pytest.raises(DrInputError, match=message):
        parse_target_time(text, now=T0)


def _backup(end: datetime) -> BaseBackup:
    return BaseBackup("id", "b", end - timedelta(seconds=5), end, "W1", "W2")


def test_the_newest_backup_that_ended_before_the_target_is_chosen() -> None:
    early, late = _backup(T0 - timedelta(hours=2)), _backup(T0 - timedelta(hours=1))
    target = RecoveryTarget("time", str(T0 - timedelta(minutes=90)))
    assert choose_backup([early, late], target, "s3://b", now=T0) is early
    assert choose_backup([early, late], RecoveryTarget("latest"), "s3://b", now=T0) is late


def test_a_target_before_the_first_backup_or_no_backup_is_named() -> None:
    target = RecoveryTarget("time", str(T0 - timedelta(hours=3)))
    with pytest.raises(DrInputError, match="before the first base backup"):
        choose_backup([_backup(T0 - timedelta(hours=2))], target, "s3://b", now=T0)
    with pytest.raises(DrInputError, match="no base backup in s3://b"):
        choose_backup([], RecoveryTarget("latest"), "s3://b", now=T0)


def test_rpo_is_last_acknowledged_minus_newest_restored() -> None:
    point = RecoveryPoint(T0, T0 - timedelta(seconds=4.5), 100, 12, 5.0)
    assert point.seconds == 4.5
    require_rpo(point, 5.0)
    with pytest.raises(RpoViolatedError, match=r"^RPO 4\.50 s with archive_timeout 5 s.*bound 3 s"):
        require_rpo(point, 3.0)
    assert RecoveryPoint(T0, None, 10, 10, 60.0).seconds == float("inf")


def test_rto_is_the_sum_of_its_phases() -> None:
    recovery = RecoveryTime({"detect": 1.0, "fetch_backup": 2.0, "replay": 3.5})
    assert recovery.seconds == 6.5
    require_rto(recovery, 10)
    with pytest.raises(RtoViolatedError, match=r"RTO 6\.50 s \(detect 1\.00 s"):
        require_rto(recovery, 6)


def test_rto_table_and_plot(tmp_path: Path) -> None:
    rows = [
        (10, RecoveryTime({"detect": 1.0, "replay": 2.0})),
        (100, RecoveryTime({"detect": 1.0, "replay": 9.0})),
    ]
    table = rto_table(rows, 3600)
    assert "| 100 | 1.00 | 9.00 | 10.00 | 3600 |" in table
    png = plot_rto(rows, tmp_path / "rto.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cross_store_diff_describes_both_sides() -> None:
    result = CrossStoreDiff([7], [])
    assert not result.ok
    assert (
        result.describe() == "1 entities without nodes (ids [7]), 0 nodes without entities (ids [])"
    )


class _CountingArchive:
    """Stands in for the archive's tool (BarmanCloud): counts what it is asked."""

    def __init__(self) -> None:
        self.listed = 0
        self.fetched = 0

    def backups(self) -> list[BaseBackup]:
        self.listed += 1
        return [BaseBackup("b1", "base", T0, T0, "000000010000000000000002", "0000000100000003")]

    def fetch(self, backup: BaseBackup, destination: Path) -> None:
        self.fetched += 1
        destination.mkdir()
        (destination / "PG_VERSION").write_text("15\n")


def test_restores_of_one_archive_list_and_fetch_its_backup_once_and_each_gets_a_copy(
    tmp_path: Path,
) -> None:
    archive = _CountingArchive()
    fetched = FetchedBackups(archive, tmp_path / "fetched")  # type: ignore[arg-type]
    (tmp_path / "fetched").mkdir()
    destinations = [tmp_path / f"restore-{n}" for n in range(4)]

    def one(destination: Path) -> None:
        (backup,) = fetched.backups()
        fetched.fetch(backup, destination)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, destinations))
    assert (archive.listed, archive.fetched) == (1, 1)
    for destination in destinations:
        assert (destination / "PG_VERSION").read_text() == "15\n"
    (destinations[0] / "PG_VERSION").write_text("changed")  # each restore has its own copy
    assert (destinations[1] / "PG_VERSION").read_text() == "15\n"

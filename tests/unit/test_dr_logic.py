"""The DR oracle and reports, as pure logic: which rows a target must keep, the diff, the
input checks, RPO/RTO arithmetic and messages, the RTO table and plot; and the recovery's
probe record and health check against a stub system on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from dr.archive import BaseBackup
from dr.errors import DrInputError, RecoveryTimedOutError, RpoViolatedError, RtoViolatedError
from dr.ledger import diff
from dr.loss import RecoveryPoint, RecoveryTime, require_rpo, require_rto
from dr.recovery import data_check_skipped, read_probe, write_probe
from dr.report import extrapolate_rto, plot_fit, plot_rto, rto_table
from dr.restore import FetchedBackups, choose_backup, parse_target_time
from dr.stores import CrossStoreDiff
from dr.stores import diff as store_diff
from dr.targets import CommitPoint, RecoveryTarget, expected_batches, format_lsn, parse_lsn
from fixtures.target_client import health
from system.description import Description

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
    result = store_diff({1, 2, 7}, {1, 2, 9})
    assert result == CrossStoreDiff([7], [9])
    assert not result.ok
    assert result.describe() == (
        "1 Postgres records without a Neo4j node (ids [7]), "
        "1 Neo4j nodes without a record (ids [9])"
    )
    assert store_diff({1, 2}, {1, 2}).ok


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


# The recovery's probe record and health check, against a stub system (`dr.recovery`). ------

STUB = Description.model_validate(
    {
        "version": 1,
        "name": "stub",
        "health": {"path": "/up", "status": 204},
        "write_path": {
            "create": "PUT /things",
            "json": {"title": "{name}", "kind": "probe", "refs": ["{link}"]},
            "id": "key",
            "created": [200, 201],
            "read": "GET /things/{id}",
            "compare": ["title", "kind"],
        },
    }
)


class _StubSystem(BaseHTTPRequestHandler):
    """Refuses its first write (a target on fresh stores), then keeps what it is sent."""

    records: ClassVar[dict[str, dict[str, Any]]] = {}
    refusals: ClassVar[list[int]] = [503]
    healthy: ClassVar[list[bool]] = [True]

    def log_message(self, *_: Any) -> None:
        return

    def _answer(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.refusals:
            self._answer(self.refusals.pop())
            return
        key = f"k{len(self.records) + 1}"
        self.records[key] = body
        self._answer(201, {"key": key})

    def do_GET(self) -> None:
        if self.path == "/up":
            self._answer(204 if self.healthy[0] else 503)
        elif self.path.removeprefix("/things/") in self.records:
            self._answer(200, self.records[self.path.removeprefix("/things/")])
        else:
            self._answer(404, {"error": "unknown"})


@pytest.fixture
def stub_system() -> Iterator[str]:
    _StubSystem.records.clear()
    _StubSystem.refusals[:] = [503]
    _StubSystem.healthy[:] = [True]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubSystem)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_probe_record_is_written_through_the_write_path_and_read_back(stub_system: str) -> None:
    assert STUB.write_path is not None
    probe = write_probe(stub_system, STUB.write_path, deadline_seconds=10)
    assert probe.record_id == "k1", "the id is the answer's `id` key, after a refused write"
    assert probe.expected == {"title": probe.name, "kind": "probe"}
    assert _StubSystem.records["k1"]["refs"] == [], "no record to link to: {link} left out"
    assert read_probe(stub_system, STUB.write_path, probe) is None
    _StubSystem.records["k1"]["kind"] = "other"
    assert read_probe(stub_system, STUB.write_path, probe) == "read back with kind='other'"
    del _StubSystem.records["k1"]
    assert read_probe(stub_system, STUB.write_path, probe) == "missing"


def test_a_probe_write_never_acknowledged_times_out_naming_the_last_answer(
    stub_system: str,
) -> None:
    assert STUB.write_path is not None
    _StubSystem.refusals[:] = [500] * 10
    with pytest.raises(RecoveryTimedOutError, match=r"PUT /things.*last: HTTP 500"):
        write_probe(stub_system, STUB.write_path, deadline_seconds=0.6)


def test_the_health_check_is_the_descriptions(stub_system: str) -> None:
    assert health(stub_system, STUB.health).ok
    _StubSystem.healthy[:] = [False]
    assert not health(stub_system, STUB.health).ok
    assert not health("http://127.0.0.1:9", STUB.health).ok, "no answer is not healthy"


def test_without_a_write_path_the_data_check_is_skipped_saying_why() -> None:
    without = STUB.model_copy(update={"write_path": None})
    reason = data_check_skipped(without)
    assert reason is not None
    assert reason.startswith("skipped: the system description has no [write_path]")
    assert data_check_skipped(STUB) is None


def test_rto_extrapolated_along_a_line_through_the_sizes_measured() -> None:
    rows = [(size, RecoveryTime({"restore": 5.0 + size / 100})) for size in (10, 100, 1000)]
    extrapolated = extrapolate_rto(rows, 20000)
    assert extrapolated.seconds == pytest.approx(205.0)
    assert extrapolated.seconds_per_gb == pytest.approx(10.24)
    assert extrapolated.phase_seconds == {"restore": pytest.approx(205.0)}
    assert extrapolated.upper_seconds == pytest.approx(205.0)  # a straight line: no spread
    assert "20000 MB" in extrapolated.describe()


def test_rto_upper_bound_follows_the_steepest_growth_measured() -> None:
    rows = [
        (10, RecoveryTime({"fetch": 1.0, "replay": 7.0})),
        (100, RecoveryTime({"fetch": 1.5, "replay": 7.5})),
        (1000, RecoveryTime({"fetch": 4.0, "replay": 13.0})),  # steeper from 100 MB on
    ]
    extrapolated = extrapolate_rto(rows, 20000)
    steepest = (17.0 - 8.0) / 990  # from 10 MB: 9.09 ms/MB; from 100 MB: 8.0/900 = 8.89
    assert extrapolated.upper_seconds == pytest.approx(17.0 + steepest * 19000)
    assert extrapolated.seconds < extrapolated.upper_seconds
    assert sum(extrapolated.phase_seconds.values()) == pytest.approx(extrapolated.seconds)
    assert "at most" in extrapolated.describe()


def test_the_rto_fit_is_plotted(tmp_path: Path) -> None:
    rows = [(size, RecoveryTime({"restore": 5.0 + size / 100})) for size in (10, 100, 1000)]
    path = plot_fit(rows, extrapolate_rto(rows, 20000), 3600, tmp_path / "fit.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_rto_extrapolation_never_promises_less_than_the_largest_measured() -> None:
    noisy = [(10, RecoveryTime({"restore": 60.0})), (1000, RecoveryTime({"restore": 40.0}))]
    assert extrapolate_rto(noisy, 5000).seconds == 40.0
    with pytest.raises(ValueError, match="two database sizes"):
        extrapolate_rto(noisy[:1], 5000)

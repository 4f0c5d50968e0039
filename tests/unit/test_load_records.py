"""Records streamed by a load process, read back whole or mid-run, and cut by window."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest

from load.errors import LoadRunError
from load.pacing import CAP, IN_FLIGHT, LATE, NOT_SENT_ROUTE
from load.plan import LoadPlan
from load.records import RecordWriter, read_run
from load.result import ResultFiles, summarize
from tests.reference import traffic

T0 = 1_700_000_000.0
ROUTE = "GET /graph/{id}/neighbors"
PLAN = LoadPlan(
    "graph_query",
    "http://127.0.0.1:9",
    duration_seconds=4.0,
    rate_per_second=10,
    traffic=traffic("graph_query"),
)


def header(writer: RecordWriter, *, rate: float = 10.0, duration: float = 4.0) -> None:
    writer.header(
        {"process": 0, "t0_wall": T0, "t0_monotonic": 5.0, "rate": rate, "duration": duration}
    )


def write_run(path: Path, *, finished: bool = True) -> None:
    """10/s for 4 s: 40 arrivals; a slow one, two errors, two dropped, one unfinished."""
    stream = io.StringIO()
    writer = RecordWriter(stream)
    header(writer)
    for k in range(40):
        intended = k / 10
        if k in (5, 6):
            writer.dropped(
                k, intended, NOT_SENT_ROUTE if k == 5 else ROUTE, CAP if k == 5 else LATE
            )
        elif k == 39:
            writer.unfinished(k, intended, intended + 0.001, 9.0, ROUTE)
        elif k < 30 or finished:
            latency = 2.0 if k == 12 else 0.010
            kind = "HTTP 500" if k in (20, 21) else ""
            writer.completed(
                k, intended, intended + 0.001, intended + latency, route=ROUTE, kind=kind
            )
        if k == 20:
            writer.tick(
                {"at": 2.0, "dispatched": 21, "in_flight": 0, "peak_in_flight": 2, "cpu": 0.05}
            )
    if finished:
        writer.footer({"at": 9.0, "window_end": 4.0, "peak_in_flight": 3, "cpu": 0.06})
    path.write_text(stream.getvalue() + "R\t40\t4.0")  # a line being written: ignored


def result_of(path: Path, **window: float):  # type: ignore[no-untyped-def]
    records = read_run([path])
    return summarize(PLAN, records, ResultFiles(path.parent, (path,), ()), **window)


def test_the_whole_run_counts_the_target_and_the_generator_apart(tmp_path: Path) -> None:
    path = tmp_path / "records-0.tsv"
    write_run(path)
    result = result_of(path)
    assert result.finished
    assert (result.started_at, result.ended_at) == (T0, T0 + 4.0)
    assert result.requests == 38, "40 due, 2 dropped by the generator"
    assert result.completed == 37
    assert result.errors == 3
    assert result.error_kinds == {"HTTP 500": 2, IN_FLIGHT: 1}
    assert result.generator.dropped == {CAP: 1, LATE: 1}
    assert result.pending == 0
    assert result.latency.max == pytest.approx(9.0 - 3.9), "the unfinished one's lower bound"
    assert result.service.n == 37
    assert not result.valid, "2 of 40 dropped: more than 0.1 %"
    assert result.generator.peak_in_flight == 3
    assert [second.dropped for second in result.timeline][:1] == [2]
    assert sum(second.requests for second in result.timeline) == 38


def test_a_window_cuts_by_intended_time(tmp_path: Path) -> None:
    path = tmp_path / "records-0.tsv"
    write_run(path)
    during = result_of(path, since=T0 + 1.0, until=T0 + 2.0)
    assert during.requests == 10
    assert during.p95 == pytest.approx(2.0, abs=0.001), "the slow one at 1.2 s is in it"
    assert during.dropped == 0
    assert result_of(path, since=T0 + 2.0, until=T0 + 3.0).error_kinds == {"HTTP 500": 2}


def test_mid_run_what_is_due_but_unanswered_is_pending(tmp_path: Path) -> None:
    path = tmp_path / "records-0.tsv"
    write_run(path, finished=False)
    now = T0 + 3.5
    result = result_of(path, until=T0 + 3.0, now=now)
    assert not result.finished
    assert result.pending == 0, "every arrival before 3.0 s is recorded"
    later = result_of(path, until=T0 + 3.5, now=T0 + 6.0)
    assert later.pending == 5, "arrivals 30-34 are due and not answered"
    assert later.pending_latency == pytest.approx(2.5)
    assert later.requests == 35 - 2


def test_a_file_without_its_header_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "records-0.tsv"
    path.write_text("")
    with pytest.raises(LoadRunError, match="have no header: the load process never started"):
        read_run([path])
    with pytest.raises(LoadRunError, match="unreadable"):
        read_run([tmp_path / "missing.tsv"])


def test_routes_and_kinds_never_break_the_format() -> None:
    stream = io.StringIO()
    writer = RecordWriter(stream)
    writer.completed(1, 0.0, 0.0, 0.1, route="GET /a\tb", kind="Err\nor")
    line = stream.getvalue()
    assert line.count("\n") == 1
    assert line.count("\t") == 6
    assert not math.isnan(0.0)

"""The load engine end to end, against a small real HTTP server on 127.0.0.1.

The server (`tests/integration/load_stub.py`) answers the scenarios' routes with a delay
and a status set at run time, and counts what it served, so each test can show what the
engine did to it: the planned rate, the coordinated-omission correction, gates failing
and passing, distributed mode, a deadline, and a bad plan that sends nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures.lifecycle.ports import PortAllocator
from fixtures.lifecycle.reaper import kill_process_group
from load.crosscheck import Agreement, CrossCheckFailedError, crosscheck
from load.errors import LoadPlanError, LoadRunError
from load.evidence import write_evidence
from load.gates import Gate, GateFailedError, Verdict, evaluate, require
from load.plan import LoadPlan
from load.result import LoadResult
from load.runner import run_load

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
READY_SECONDS = 20.0
SCRAPE_SECONDS = 1.0
PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: stub
    static_configs:
      - targets: ["{target}"]
"""


@dataclass(frozen=True)
class Stub:
    url: str

    def set(self, delay: float = 0.0, status: int = 200, report_factor: float = 1.0) -> None:
        """Set the server's delay, status and metrics factor; reset its request counter."""
        body = json.dumps({"delay": delay, "status": status, "report_factor": report_factor})
        data = body.encode()
        request = urllib.request.Request(  # noqa: S310 - loopback URL
            f"{self.url}/_control", data=data, method="POST"
        )
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - loopback URL
            pass

    def count(self) -> int:
        with urllib.request.urlopen(f"{self.url}/_count", timeout=5) as answer:  # noqa: S310
            return int(json.load(answer)["count"])


def _wait_ready(stub: Stub, process: subprocess.Popen[bytes], log: Path) -> None:
    give_up_at = time.monotonic() + READY_SECONDS
    while time.monotonic() < give_up_at:
        if process.poll() is not None:
            pytest.fail(f"load stub exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            stub.count()
        except OSError:
            time.sleep(0.1)
        else:
            return
    pytest.fail(f"load stub not ready within {READY_SECONDS} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stub]:
    port = PortAllocator().reserve()
    log = tmp_path_factory.mktemp("stub") / "stub.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.load_stub", str(port)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        server = Stub(f"http://127.0.0.1:{port}")
        _wait_ready(server, process, log)
        yield server
    finally:
        kill_process_group(process.pid)
        process.wait(timeout=10)


def run(
    stub: Stub,
    tmp: Path,
    delay: float = 0.0,
    status: int = 200,
    report_factor: float = 1.0,
    **plan: object,
) -> LoadResult:
    stub.set(delay, status, report_factor)
    values: dict[str, object] = {"scenario": "graph_query", "base_url": stub.url}
    values.update(plan)
    return run_load(LoadPlan(**values), tmp)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fast(stub: Stub, tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadResult, int]:
    tmp = tmp_path_factory.mktemp("fast")
    result = run(stub, tmp, users=8, rate_per_second=40.0, duration_seconds=4.0)
    return result, stub.count()


@pytest.fixture(scope="module")
def stalled_open(stub: Stub, tmp_path_factory: pytest.TempPathFactory) -> LoadResult:
    tmp = tmp_path_factory.mktemp("stalled-open")
    return run(stub, tmp, delay=0.2, users=1, rate_per_second=20.0, duration_seconds=3.0)


@pytest.fixture(scope="module")
def stalled_closed(stub: Stub, tmp_path_factory: pytest.TempPathFactory) -> LoadResult:
    tmp = tmp_path_factory.mktemp("stalled-closed")
    return run(stub, tmp, delay=0.2, users=1, rate_per_second=None, duration_seconds=3.0)


def test_the_open_model_holds_the_planned_rate(fast: tuple[LoadResult, int]) -> None:
    result, served = fast
    assert result.requests == pytest.approx(160, abs=2), "40/s for 4 s"
    assert result.throughput == pytest.approx(40.0, rel=0.05)
    assert result.errors == 0
    assert served == result.completed, "the server saw exactly what the client recorded"
    per_second = [second.requests for second in result.timeline if second.second < 4]
    assert all(abs(count - 40) <= 4 for count in per_second), per_second
    assert result.files.interval_log.read_text().startswith("#[Histogram log format")


def test_a_stalled_target_shows_its_queueing_only_in_the_open_model(
    stalled_open: LoadResult, stalled_closed: LoadResult
) -> None:
    # Closed model, 1 user: it waits for each 200 ms answer, so it sees ~200 ms and sends
    # ~5/s, and never notices that 20/s were due: coordinated omission.
    assert 0.19 <= stalled_closed.p95 <= 0.30
    assert stalled_closed.throughput == pytest.approx(5.0, rel=0.2)
    # Open model, 20/s due, 1 user: every request waits for the ones before it; latency
    # from the intended send time grows through the run, far beyond the 200 ms service time.
    assert 0.19 <= stalled_open.service.quantile(0.95) <= 0.30
    assert stalled_open.p95 > 1.0
    assert stalled_open.p95 > 4 * stalled_closed.p95
    assert stalled_open.requests == pytest.approx(60, abs=2), "every due slot is accounted for"
    assert stalled_open.error_kinds.get("not sent by end of run", 0) > 30


def test_a_p95_gate_fails_naming_the_value_when_slow_and_passes_when_fast(
    fast: tuple[LoadResult, int], stalled_closed: LoadResult, tmp_path: Path
) -> None:
    gate = Gate("latency", 0.15, "graph_query", percentile=95)
    slow = evaluate(gate, stalled_closed)
    assert slow.verdict is Verdict.FAIL
    assert slow.message.startswith("P95 0.2")
    assert "> bound 0.15 s (scenario graph_query, n=" in slow.message
    with pytest.raises(GateFailedError, match=r"P95 0\.2\d s > bound 0\.15 s"):
        require(stalled_closed, [gate])
    result, _ = fast
    outcomes = require(result, [gate, Gate("error_rate", 0.05, "graph_query")])
    assert all(outcome.passed for outcome in outcomes)
    evidence = write_evidence(result, tmp_path, bound=0.15)
    assert all(path.exists() for path in evidence.paths())


def test_server_errors_fail_the_error_rate_gate(stub: Stub, tmp_path: Path) -> None:
    result = run(stub, tmp_path, status=500, users=4, rate_per_second=50.0, duration_seconds=2.0)
    assert result.error_kinds == {"HTTP 500": result.requests}
    with pytest.raises(GateFailedError, match=r"error rate 100\.00% > bound 1\.00%"):
        require(result, [Gate("error_rate", 0.01, "graph_query")])


def test_distributed_mode_runs_the_same_plan_on_worker_processes(
    stub: Stub, tmp_path: Path
) -> None:
    result = run(
        stub,
        tmp_path,
        scenario="mixed",
        users=4,
        processes=2,
        rate_per_second=40.0,
        duration_seconds=3.0,
    )
    assert result.requests == pytest.approx(120, abs=4)
    assert result.throughput == pytest.approx(40.0, rel=0.1)
    assert result.errors == 0
    assert stub.count() == result.completed
    assert {route.route for route in result.routes} == {
        "GET /entities/{id}",
        "GET /graph/{id}/neighbors",
        "POST /entities",
    }
    assert sorted(p.name for p in result.files.directory.glob("worker-*.log")) == [
        "worker-1.log",
        "worker-2.log",
    ]


def test_a_bad_plan_sends_nothing(stub: Stub, tmp_path: Path) -> None:
    stub.set()
    for bad in ({"scenario": "nope"}, {"rate_per_second": 0}, {"duration_seconds": 601}):
        values: dict[str, object] = {
            "scenario": "graph_query",
            "base_url": stub.url,
            "users": 2,
            "duration_seconds": 2,
            "rate_per_second": 10.0,
        }
        values.update(bad)
        with pytest.raises(LoadPlanError):
            LoadPlan(**values)  # type: ignore[arg-type]
    # The child checks the plan again: a tampered file is refused with one line.
    good = LoadPlan("graph_query", stub.url, users=2, duration_seconds=2, rate_per_second=10.0)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(good.to_json().replace('"rate_per_second": 10.0', '"rate_per_second": -3'))
    child = subprocess.run(
        [sys.executable, "-m", "load.child", str(plan_file), str(tmp_path / "out")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 2
    assert child.stderr.strip().splitlines() == [
        "ERROR: load plan: rate_per_second=-3 must be a number > 0; give a positive arrival "
        "rate in requests/s, or None for the closed model"
    ]
    assert stub.count() == 0


def test_the_deadline_kills_the_whole_run(stub: Stub, tmp_path: Path) -> None:
    stub.set()
    plan = LoadPlan(
        "entity_query", stub.url, users=2, processes=1, duration_seconds=30, rate_per_second=20.0
    )
    started = time.monotonic()
    with pytest.raises(LoadRunError, match="did not finish within its deadline of 6 s"):
        run_load(plan, tmp_path, deadline_seconds=6.0)
    assert time.monotonic() - started < 15
    leftovers = [
        proc
        for proc in Path("/proc").glob("[0-9]*/cmdline")
        if str(tmp_path).encode() in _read(proc)
    ]
    assert leftovers == [], "the child and its worker are gone"
    sent = stub.count()
    assert sent > 0, "the run had started"
    time.sleep(0.5)
    assert stub.count() == sent, "and nothing is sent any more"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _scraped_after(prometheus: str, moment: float) -> bool:
    query = urllib.parse.urlencode({"query": 'timestamp(up{job="stub"})'})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query?{query}", timeout=5) as answer:  # noqa: S310
        result = json.load(answer)["data"]["result"]
    return bool(result) and float(result[0]["value"][1]) > moment


def _wait_for_scrape(prometheus: str, moment: float) -> None:
    give_up_at = time.monotonic() + 10 * SCRAPE_SECONDS
    while not _scraped_after(prometheus, moment):
        assert time.monotonic() < give_up_at, "Prometheus did not scrape the stub after the run"
        time.sleep(0.2)


def test_client_and_server_p95_are_compared_and_a_disagreement_fails_loudly(
    stub: Stub, prometheus_factory: Any, tmp_path: Path
) -> None:
    config = PROMETHEUS_CONFIG.replace("{target}", stub.url.removeprefix("http://"))
    prometheus: str = prometheus_factory(config=config).endpoint.url
    _wait_for_scrape(prometheus, time.time())  # the baseline scrape, before any load
    honest = run(
        stub, tmp_path / "honest", delay=0.06, users=8, rate_per_second=40.0, duration_seconds=3.0
    )
    _wait_for_scrape(prometheus, honest.ended_at + SCRAPE_SECONDS)
    check = crosscheck(honest, prometheus, extra_seconds=2 * SCRAPE_SECONDS)
    print(check.message)  # shown with the test's output when it fails
    http, db = check.comparisons
    assert http.agreement is Agreement.AGREE, check.message
    assert http.server_p95 is not None
    assert 0.05 < http.server_p95 <= 0.075, "in the stub's (0.05, 0.075] bucket"
    assert db.agreement is Agreement.AGREE, check.message
    check.require()
    # Now the server's metrics say every request took 5x what the client measured.
    lying = run(
        stub,
        tmp_path / "lying",
        delay=0.06,
        report_factor=5.0,
        users=8,
        rate_per_second=40.0,
        duration_seconds=3.0,
    )
    _wait_for_scrape(prometheus, lying.ended_at + SCRAPE_SECONDS)
    check = crosscheck(lying, prometheus, extra_seconds=2 * SCRAPE_SECONDS)
    print(check.message)
    assert [c.agreement for c in check.comparisons] == [Agreement.DISAGREE, Agreement.DISAGREE]
    with pytest.raises(CrossCheckFailedError, match="http_request_duration_seconds: client P95"):
        check.require()

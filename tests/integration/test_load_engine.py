"""The load engine end to end, against a small real HTTP server on 127.0.0.1.

The server (`tests/integration/load_stub.py`) answers the scenarios' routes with a delay,
a status and a share of errors set at run time, and counts what it served, so each test
can show what the engine did to it: the planned rate held whatever the responses do (the
open model), the generator's own failures counted apart and making the run invalid,
gates failing and passing, sequential gates deciding by extension, several load
processes, a run stopped early or cut by window, a deadline, a killed parent, and a bad
plan that sends nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.lifecycle.reaper import process_ids
from load.crosscheck import Agreement, CrossCheckFailedError, ServerMetrics, crosscheck
from load.errors import LoadPlanError, LoadRunError
from load.evidence import write_evidence
from load.gates import Gate, GateFailedError, Verdict, evaluate, require
from load.pacing import CAP
from load.plan import LoadPlan
from load.result import LoadResult
from load.runner import run_load, start_load
from load.sequential import Looks, judge_sequentially
from load.traffic import Traffic
from system.deadline import NotYet, wait_until
from tests.integration.load_stub_client import Stub, running_stub
from tests.reference import traffic

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

REPO = Path(__file__).resolve().parents[2]
SCRAPE_SECONDS = 1.0
PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: stub
    static_configs:
      - targets: ["{target}"]
"""


# The stub's histograms are the reference's (its description's [metrics]).
STUB_METRICS = ServerMetrics(
    "http_request_duration_seconds",
    exclude_routes=("/metrics", "/healthz"),
    parts=(("intelgraph_query_latency_seconds", ""),),
)


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stub]:
    with running_stub(tmp_path_factory.mktemp("stub")) as server:
        yield server


def reference_plan(*args: Any, **values: Any) -> LoadPlan:
    """A plan of one of the reference's workloads (its traffic from its description)."""
    scenario = values.get("scenario", args[0] if args else "graph_query")
    if "traffic" not in values:
        values["traffic"] = traffic(scenario)
    return LoadPlan(*args, **values)


def run(stub: Stub, tmp: Path, **plan: object) -> LoadResult:
    values: dict[str, object] = {"scenario": "graph_query", "base_url": stub.url}
    values.update(plan)
    return run_load(reference_plan(**values), tmp)


# A run in which this machine stalled the generator (arrivals sent late: the host's own
# hiccup, seen in CI as one late arrival of 160) is not evidence of what these tests
# check; it is run again. What a generator that cannot hold the plan does is tested apart.
HELD_ATTEMPTS = 3


def run_held(stub: Stub, tmp: Path, **plan: object) -> LoadResult:
    """`run`, again (a fresh directory each time) until the generator dropped nothing."""
    for attempt in range(HELD_ATTEMPTS):
        result = run(stub, tmp / f"attempt-{attempt}", **plan)
        if result.dropped == 0:
            break
    return result


@pytest.fixture(scope="module")
def fast(stub: Stub, tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadResult, int]:
    stub.set()
    tmp = tmp_path_factory.mktemp("fast")
    for attempt in range(HELD_ATTEMPTS):
        before = stub.count()
        result = run(stub, tmp / f"attempt-{attempt}", rate_per_second=40.0, duration_seconds=4.0)
        if result.dropped == 0:
            break
    return result, stub.count() - before


@pytest.fixture(scope="module")
def slow_open(stub: Stub, tmp_path_factory: pytest.TempPathFactory) -> LoadResult:
    stub.set(delay=0.2)
    return run_held(
        stub, tmp_path_factory.mktemp("slow-open"), rate_per_second=20.0, duration_seconds=3.0
    )


@pytest.fixture(scope="module")
def slow_closed(stub: Stub, tmp_path_factory: pytest.TempPathFactory) -> LoadResult:
    stub.set(delay=0.2)
    return run(stub, tmp_path_factory.mktemp("slow-closed"), users=1, duration_seconds=3.0)


def test_the_open_model_holds_the_planned_rate(fast: tuple[LoadResult, int]) -> None:
    result, served = fast
    assert result.requests == 160, "40/s for 4 s, every one sent"
    assert result.throughput == pytest.approx(40.0, rel=0.05)
    assert result.errors == 0
    assert result.valid
    assert served == result.completed, "the server saw exactly what the client recorded"
    per_second = [second.requests for second in result.timeline]
    assert per_second == [40, 40, 40, 40], "by intended send time"
    assert result.generator.send_lag_max < result.plan.send_tolerance_seconds


def test_slow_answers_do_not_delay_later_arrivals_in_the_open_model(
    slow_open: LoadResult, slow_closed: LoadResult
) -> None:
    # Open model: 20/s due, each answer 200 ms: about 4 requests in flight at once, each
    # sent at its own time, so latency from the intended time is the 200 ms service time.
    assert slow_open.requests == 60
    assert slow_open.valid, slow_open.summary()
    assert 0.19 <= slow_open.p95 <= 0.30
    assert 3 <= slow_open.generator.peak_in_flight <= 8
    # Closed model, 1 user: it waits for each answer, sends ~5/s and never notices that
    # more were due (coordinated omission): its latencies look the same, its rate does not.
    assert 0.19 <= slow_closed.p95 <= 0.30
    assert slow_closed.throughput == pytest.approx(5.0, rel=0.2)


def test_a_generator_too_small_for_the_target_makes_the_run_invalid_not_the_target_bad(
    stub: Stub, tmp_path: Path
) -> None:
    stub.set(delay=0.2)
    result = run(stub, tmp_path, rate_per_second=20.0, duration_seconds=3.0, max_in_flight=2)
    assert result.dropped > 20
    assert result.generator.dropped == {CAP: result.dropped}
    assert result.errors == 0, "no dropped arrival is counted as the target's error"
    assert result.p95 < 0.3, "nor as the target's latency"
    assert result.requests + result.dropped == 60
    for gate in (
        Gate("latency", 1.5, "graph_query", percentile=95),
        Gate("error_rate", 0.01, "graph_query"),
    ):
        outcome = evaluate(gate, result)
        assert outcome.verdict is Verdict.INVALID
        assert "the load generator dropped" in outcome.message
        assert "all 2 VUs were busy" in outcome.message
        assert "raise max_in_flight or add processes" in outcome.message


def test_a_p95_gate_fails_naming_the_value_when_slow_and_passes_when_fast(
    fast: tuple[LoadResult, int], slow_open: LoadResult, tmp_path: Path
) -> None:
    gate = Gate("latency", 0.15, "graph_query", percentile=95)
    slow = evaluate(gate, slow_open)
    assert slow.verdict is Verdict.FAIL
    assert slow.message.startswith("P95 0.2")
    assert "> bound 0.15 s (scenario graph_query, n=60" in slow.message
    with pytest.raises(GateFailedError, match=r"P95 0\.2\d s > bound 0\.15 s"):
        require(slow_open, [gate])
    result, _ = fast
    outcomes = require(result, [gate, Gate("error_rate", 0.05, "graph_query")])
    assert all(outcome.passed for outcome in outcomes)
    evidence = write_evidence(result, tmp_path, bound=0.15)
    assert all(path.exists() for path in evidence.paths())


def test_server_errors_fail_the_error_rate_gate(stub: Stub, tmp_path: Path) -> None:
    stub.set(status=500)
    result = run(stub, tmp_path, rate_per_second=50.0, duration_seconds=2.0)
    assert result.error_kinds == {"HTTP 500": result.requests}
    with pytest.raises(GateFailedError, match=r"error rate 100\.00% > bound 1\.00%"):
        require(result, [Gate("error_rate", 0.01, "graph_query")])


def test_two_load_processes_share_the_rate(stub: Stub, tmp_path: Path) -> None:
    stub.set()
    result = run(
        stub, tmp_path, scenario="mixed", processes=2, rate_per_second=40.0, duration_seconds=3.0
    )
    assert result.requests == pytest.approx(120, abs=2)
    assert result.errors == 0
    assert stub.count() == result.completed
    assert {route.route for route in result.routes} == {
        "GET /entities/{id}",
        "GET /graph/{id}/neighbors",
        "POST /entities",
    }
    assert [path.name for path in result.files.records] == ["records-0.tsv", "records-1.tsv"]


def test_a_run_in_the_background_can_be_cut_by_window_and_stopped_early(
    stub: Stub, tmp_path: Path
) -> None:
    stub.set()
    plan = reference_plan("entity_query", stub.url, duration_seconds=60.0, rate_per_second=50.0)
    started = time.monotonic()
    with start_load(plan, tmp_path) as load:
        t0 = load.wait_started().started_at
        time.sleep(max(0.0, t0 + 3.0 - time.time()))
        first = load.result(since=t0, until=t0 + 1.0)
        load.stop()
        whole = load.wait()
    assert time.monotonic() - started < 20, "stopped well before its 60 s"
    assert first.requests == 50
    assert whole.finished
    assert 140 <= whole.requests <= 200
    assert whole.load_seconds < 5
    sent = stub.count()
    time.sleep(0.5)
    assert stub.count() == sent, "nothing is sent after the stop"


def test_a_sequential_gate_decides_by_extending_the_run(stub: Stub, tmp_path: Path) -> None:
    # A true error rate of 0.2 % against a 1 % bound: 500 requests cannot show it (0
    # errors of 500 at 99 % is up to 1.1 %); the run goes on until they can (with the
    # stub's seeded errors, 2,000 requests: the fourth look).
    stub.set(error_share=0.002)
    looks = Looks(first_seconds=5, step_seconds=5, max_seconds=60, settle_seconds=1.0)
    plan = reference_plan("entity_query", stub.url, duration_seconds=60, rate_per_second=100.0)
    for attempt in range(HELD_ATTEMPTS):  # again if the host stalled the generator
        with start_load(plan, tmp_path / f"below-{attempt}") as load:
            decision = judge_sequentially(load, [Gate("error_rate", 0.01, "entity_query")], looks)
        if decision.outcomes[0].verdict is not Verdict.INVALID:
            break
    assert decision.passed, decision.outcomes[0].message
    assert decision.look > 1, "undecided at the first look"
    assert decision.elapsed_seconds < 60
    assert decision.describe().startswith(f"decided after {decision.elapsed_seconds:.0f} s")


def test_a_sequential_gate_that_reaches_its_cap_is_undecided(stub: Stub, tmp_path: Path) -> None:
    stub.set(error_share=0.01)
    looks = Looks(first_seconds=2, step_seconds=2, max_seconds=4, settle_seconds=1.0)
    plan = reference_plan("entity_query", stub.url, duration_seconds=4, rate_per_second=50.0)
    with start_load(plan, tmp_path / "at-bound") as load:
        decision = judge_sequentially(load, [Gate("error_rate", 0.01, "entity_query")], looks)
    (outcome,) = decision.outcomes
    assert outcome.verdict is Verdict.INCONCLUSIVE
    assert "undecided against bound 1.00%" in outcome.message
    assert decision.look == decision.looks == 2
    assert decision.describe().startswith("still undecided after 4 s")


def test_a_bad_plan_sends_nothing(stub: Stub, tmp_path: Path) -> None:
    stub.set()
    for bad in ({"scenario": ""}, {"rate_per_second": 0}, {"duration_seconds": 14401}):
        values: dict[str, object] = {
            "scenario": "graph_query",
            "base_url": stub.url,
            "duration_seconds": 2,
            "rate_per_second": 10.0,
            "traffic": traffic("graph_query"),
        }
        values.update(bad)
        with pytest.raises(LoadPlanError):
            LoadPlan(**values)  # type: ignore[arg-type]
    # The child checks the plan again: a tampered file is refused with one line.
    good = reference_plan("graph_query", stub.url, duration_seconds=2, rate_per_second=10.0)
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
    plan = reference_plan(
        "entity_query", stub.url, processes=2, duration_seconds=30, rate_per_second=20.0
    )
    started = time.monotonic()
    with pytest.raises(LoadRunError, match="did not finish within its deadline of 6 s"):
        run_load(plan, tmp_path, deadline_seconds=6.0)
    assert time.monotonic() - started < 15
    assert _processes_naming(tmp_path) == [], "both load processes are gone"
    sent = stub.count()
    assert sent > 0, "the run had started"
    time.sleep(0.5)
    assert stub.count() == sent, "and nothing is sent any more"


KILLED_PARENT = """
import sys, time
from pathlib import Path
from load.plan import LoadPlan
from load.runner import start_load
from tests.integration.load_stub_client import Stub, running_stub
from tests.reference import traffic
plan = LoadPlan("entity_query", sys.argv[1], duration_seconds=60, rate_per_second=20.0,
                traffic=traffic("entity_query"))
run = start_load(plan, Path(sys.argv[2]))
run.wait_started()
print("started", flush=True)
time.sleep(600)
"""


def test_a_load_child_ends_when_its_parent_is_killed(stub: Stub, tmp_path: Path) -> None:
    """SIGKILL of the process that started a run (pytest, say) ends the run by itself:
    the child sees its stdin close, drains and exits, even without a reaper."""
    stub.set()
    parent = subprocess.Popen(
        [sys.executable, "-c", KILLED_PARENT, stub.url, str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "started"
        parent.kill()
        parent.wait(timeout=10)
        wait_until(
            lambda: not (left := _processes_naming(tmp_path)) or NotYet(f"still there: {left}"),
            seconds=15,
            what="the load child gone with its parent",
            interval=0.2,
        )
    finally:
        parent.kill()
    footer = (tmp_path / "result" / "records-0.tsv").read_text().splitlines()[-1]
    assert footer.startswith("E\t")
    assert '"stopped_early": true' in footer


def _processes_naming(path: Path) -> list[Path]:
    return [
        proc
        for proc in (Path(f"/proc/{process}/cmdline") for process in process_ids())
        if str(path).encode() in _read(proc)
    ]


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
    wait_until(
        lambda: _scraped_after(prometheus, moment),
        seconds=10 * SCRAPE_SECONDS,
        what="Prometheus scraping the stub after the run",
        interval=0.2,
    )


def test_client_and_server_p95_are_compared_and_a_disagreement_fails_loudly(
    stub: Stub, prometheus_factory: Any, tmp_path: Path
) -> None:
    config = PROMETHEUS_CONFIG.replace("{target}", stub.url.removeprefix("http://"))
    prometheus: str = prometheus_factory(config=config).endpoint.url
    _wait_for_scrape(prometheus, time.time())  # the baseline scrape, before any load
    stub.set(delay=0.06)
    honest = run(stub, tmp_path / "honest", rate_per_second=40.0, duration_seconds=3.0)
    _wait_for_scrape(prometheus, honest.ended_at + SCRAPE_SECONDS)
    check = crosscheck(honest, prometheus, metrics=STUB_METRICS, extra_seconds=2 * SCRAPE_SECONDS)
    print(check.message)  # shown with the test's output when it fails
    http, db = check.comparisons
    assert http.agreement is Agreement.AGREE, check.message
    assert http.server_p95 is not None
    assert 0.05 < http.server_p95 <= 0.075, "in the stub's (0.05, 0.075] bucket"
    assert db.agreement is Agreement.AGREE, check.message
    check.require()
    # Now the server's metrics say every request took 5x what the client measured.
    stub.set(delay=0.06, report_factor=5.0)
    lying = run(stub, tmp_path / "lying", rate_per_second=40.0, duration_seconds=3.0)
    _wait_for_scrape(prometheus, lying.ended_at + SCRAPE_SECONDS)
    check = crosscheck(lying, prometheus, metrics=STUB_METRICS, extra_seconds=2 * SCRAPE_SECONDS)
    print(check.message)
    assert [c.agreement for c in check.comparisons] == [Agreement.DISAGREE, Agreement.DISAGREE]
    with pytest.raises(CrossCheckFailedError, match="http_request_duration_seconds: client P95"):
        check.require()


# What counts as a success ------------------------------------------------------------
@pytest.mark.parametrize(
    ("knobs", "kind"),
    [
        ({"status": 302}, "HTTP 302"),
        ({"status": 404}, "HTTP 404"),
        ({"html": True}, "not application/json (text/html)"),
    ],
    ids=["redirect-to-login", "not-found", "html-not-json"],
)
def test_answers_that_are_not_the_workloads_successes_fail_as_errors(
    stub: Stub, tmp_path: Path, knobs: dict[str, Any], kind: str
) -> None:
    """A target that answers every request with a redirect to its login page (or 404s, or
    HTML where JSON is declared) fails the gates as errors: its fast answers never pass."""
    stub.set(**knobs)
    result = run(stub, tmp_path, scenario="entity_query", rate_per_second=50.0, duration_seconds=2)
    assert result.error_kinds == {kind: result.requests}, result.summary()
    outcomes = evaluate_all_gates(result, "entity_query")
    assert outcomes["error_rate"] is Verdict.FAIL
    assert outcomes["latency"] is Verdict.PASS, "fast errors: the P95 gate alone would pass"


def test_a_redirect_is_a_success_only_when_the_workload_says_so(stub: Stub, tmp_path: Path) -> None:
    stub.set(status=302)
    base = traffic("entity_query")
    followed = Traffic(mix=base.mix, values=base.values, expect=base.expect, follow_redirects=True)
    result = run(
        stub, tmp_path, scenario="entity_query", traffic=followed, rate_per_second=50.0,
        duration_seconds=2,
    )  # fmt: skip
    # followed to the login page: a 200, but HTML where the workload declares JSON
    assert result.error_kinds == {"not application/json (text/html)": result.requests}
    lenient = Traffic(mix=base.mix, values=base.values, follow_redirects=True)
    result = run(
        stub, tmp_path / "lenient", scenario="entity_query", traffic=lenient,
        rate_per_second=50.0, duration_seconds=2,
    )  # fmt: skip
    assert result.errors == 0, "a workload that allows it: the login page counts"


def evaluate_all_gates(result: LoadResult, scenario: str) -> dict[str, Verdict]:
    gates = [Gate("latency", 1.5, scenario, percentile=95), Gate("error_rate", 0.01, scenario)]
    return {gate.metric: evaluate(gate, result).verdict for gate in gates}


PLAIN_LOCUSTFILE = """\
from locust import {base}, task


class GraphReader({base}):
    @task
    def traverse(self):
        self.client.get("/graph/7/neighbors?depth=1", name="/graph/{{id}}/neighbors")
"""

TWO_REQUESTS = """\
from locust import HttpUser, task


class ReadThenWrite(HttpUser):
    @task
    def read_then_write(self):
        self.client.get("/entities/3", name="/entities/{id}")
        self.client.post("/entities", json={"name": "x", "kind": "y", "links": []})
"""


@pytest.mark.parametrize("base", ["HttpUser", "FastHttpUser"])
def test_a_plain_locust_user_runs_in_the_open_model_like_the_shipped_workloads(
    stub: Stub, tmp_path: Path, base: str
) -> None:
    """A user class written the standard Locust way (`self.client.get`) gets the same
    arrivals, records, results and verdicts as the declarative workload it mirrors."""
    locustfile = tmp_path / "plain.py"
    locustfile.write_text(PLAIN_LOCUSTFILE.format(base=base))
    plain_traffic = Traffic(locustfile=str(locustfile))
    stub.set(delay=0.05)
    shape: dict[str, Any] = {"rate_per_second": 40.0, "duration_seconds": 3.0}
    plain = run_held(stub, tmp_path / "plain", scenario="plain", traffic=plain_traffic, **shape)
    shipped = run_held(stub, tmp_path / "shipped", scenario="graph_query", **shape)
    for result in (plain, shipped):
        assert result.requests == 120, result.summary()
        assert result.errors == 0
        assert [route.route for route in result.routes] == ["GET /graph/{id}/neighbors"]
        assert 0.045 <= result.p95 <= 0.15
        assert [second.requests for second in result.timeline] == [40, 40, 40]
    for bound, verdict in ((0.2, Verdict.PASS), (0.03, Verdict.FAIL)):
        verdicts = {
            evaluate(Gate("latency", bound, result.scenario, percentile=95), result).verdict
            for result in (plain, shipped)
        }
        assert verdicts == {verdict}


def test_a_plain_task_with_two_requests_is_one_arrival_measured_as_a_whole(
    stub: Stub, tmp_path: Path
) -> None:
    """Like a k6 iteration: one record per arrival, from its intended time to the end of
    its last request, under its first request's route; failed if any request failed."""
    locustfile = tmp_path / "two.py"
    locustfile.write_text(TWO_REQUESTS)
    two = Traffic(locustfile=str(locustfile))
    stub.set(delay=0.05)
    result = run_held(
        stub, tmp_path / "two", scenario="two", traffic=two, rate_per_second=20.0,
        duration_seconds=2.0,
    )  # fmt: skip
    assert result.requests == 40
    assert stub.count() == 80, "both requests of every arrival were sent"
    assert [route.route for route in result.routes] == ["GET /entities/{id}"]
    assert result.p50 >= 0.1, "two 50 ms requests in a row"
    stub.set(status=500)
    failing = run(
        stub, tmp_path / "failing", scenario="two", traffic=two, rate_per_second=20.0,
        duration_seconds=1.0,
    )  # fmt: skip
    assert failing.errors == failing.requests == 20

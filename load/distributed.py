"""The open model on Locust's distributed runners: one master, N workers (issue 25).

    result = run_distributed(plan, workdir, workers=2, reaper=reaper)      # from pytest
    with start_distributed(plan, workdir, workers=2) as run:               # in the background
        run.kill_worker("w1")                                              # a generator fault
        result = run.wait()

    python -m load.distributed PLAN_JSON RESULT_JSON --workers N --bind 127.0.0.1:PORT
    python -m load.worker --master 127.0.0.1:PORT --name w0      # N times, anywhere: the
                                                                   # master sends the plan

Coordination is Locust's: a `MasterRunner` and N `WorkerRunner`s (ZeroMQ), its users
dispatched by the master, its heartbeats, and its custom messages for what the harness adds:

    worker -> master  harness_hello   {name, host, pid}                  on connecting
    master -> worker  harness_assign  {index, workers, plan}             the plan, its share
    worker -> master  harness_ready   {name, vus}                        its VUs have joined
    master -> all     harness_go                                         start together
    worker -> master  harness_report  {name, intervals, generator, done} every second, and last
    master -> all     harness_stop                                       stop together (early)
    master -> all     harness_finish                                     the run is over: quit
    worker -> master  harness_failed  {name, error}                      it cannot run

The open model split (`worker_schedule`, `worker_vus`): worker i of N takes the plan's
intended arrivals i, i+N, i+2N, ... (disjoint, interleaved; their union is the plan's
schedule) on its own monotonic clock from its own t0 (the moment `harness_go` reached it),
so no two clocks have to agree; Locust's dispatcher gives it about 1/N of the VUs.
Latency (`load.histograms`) is measured from the intended time on the worker's clock.

Which figures come from where: every latency percentile and count of a distributed run
comes from the merged interval histograms (exact sums, 3 significant digits); there is no
per-request record. The generator figures (CPU, lag, dropped arrivals, VUs) are each
worker's own report.

A run is `invalid` (never a target failure) when a worker is missing at start (fewer than
N joined within the join wait), lost mid-run (Locust's heartbeat marks it missing, or it
quit before its last report), failed, or dropped more than the plan's `max_dropped_ratio`
of its arrivals; the reason names the worker.

Nothing at module level imports Locust or gevent: the master's code imports them inside
`_master`, which runs only in its own process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fixtures.lifecycle.closing import Closing
from fixtures.lifecycle.ports import PortAllocator
from fixtures.lifecycle.reaper import Reaper, kill_process_group
from load.errors import LoadPlanError, LoadRunError
from load.histograms import FAILURE, MergedHistograms, Summary, merge, summarize
from load.pacing import ArrivalSchedule
from load.plan import LoadPlan, is_local
from load.runner import child_env, log_tail
from system.deadline import Deadline

REPO_ROOT = Path(__file__).resolve().parents[1]
VALID, INVALID = "valid", "invalid"
EXIT_OK, EXIT_BAD_PLAN, EXIT_FAILED = 0, 2, 3
JOIN_SECONDS = 30.0  # from the master's start to N workers having said hello
READY_SECONDS = 30.0  # from the spawn to every worker's VUs having joined
REPORT_SECONDS = 1.0  # a worker's report interval
DRAIN_SECONDS = 5.0  # load.child's drain
END_MARGIN_SECONDS = 10.0  # after duration + drain, for the last reports
STOP_WAIT_SECONDS = DRAIN_SECONDS + 3.0  # for the others' last reports after a loss
POLL_SECONDS = 0.05
DEFAULT_WORKER_NAME = "w{index}"


# the split ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class InterleavedSchedule(ArrivalSchedule):
    """Worker `part` of `parts`: the plan's arrivals part, part+parts, ... (`rate` is the
    plan's whole rate; index k here is the plan's arrival part + k * parts)."""

    part: int = 0
    parts: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.part < self.parts:
            raise LoadPlanError(f"worker {self.part} is not in 0..{self.parts - 1}")

    def plan_index(self, index: int) -> int:
        return self.part + index * self.parts

    def time_of(self, index: int) -> float:
        return self.plan_index(index) / self.rate

    def count_before(self, offset: float) -> int:
        """This worker's arrivals intended strictly before `offset`."""
        everyone = super().count_before(offset)
        return max(0, math.ceil((everyone - self.part) / self.parts))


def worker_schedule(plan: LoadPlan, worker: int, workers: int) -> InterleavedSchedule:
    """Worker `worker`'s share (0-based) of `plan`'s arrival schedule among `workers`."""
    if plan.rate_per_second is None:
        raise LoadPlanError(
            "distributed load runs the open model only: give the plan a rate_per_second"
        )
    return InterleavedSchedule(plan.rate_per_second, plan.duration_seconds, worker, workers)


def worker_vus(plan: LoadPlan, worker: int, workers: int) -> int:
    """Worker `worker`'s VUs: an even split, the first ones take the rest (`vus_of`)."""
    share, rest = divmod(plan.vus, workers)
    return share + (1 if worker < rest else 0)


def check_workers(plan: LoadPlan, workers: int) -> None:
    """`LoadPlanError` unless `plan` can run on `workers` workers."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise LoadPlanError(f"workers={workers!r} must be an integer >= 1")
    worker_schedule(plan, 0, workers)
    if workers > plan.vus:
        raise LoadPlanError(
            f"workers={workers} > {plan.vus} VUs: every worker needs at least one; lower "
            "workers or raise max_in_flight"
        )


def refuse_target(plan: LoadPlan, allow_remote: bool) -> str | None:
    """Why this worker will not send to the plan's target, or None."""
    host = urlsplit(plan.base_url).hostname or ""
    if allow_remote or is_local(host):
        return None
    return (
        f"target {plan.base_url} is not on this machine (loopback or the harness's network "
        "namespaces); a worker sends elsewhere only when started with --allow-remote"
    )


# the verdict on the generator --------------------------------------------------------------
@dataclass
class WorkerState:
    """What the master knows of one worker."""

    name: str
    node_id: str = ""
    host: str = ""
    pid: int = 0
    index: int = -1
    vus: int = 0
    ready: bool = False
    done: bool = False
    lost: str | None = None  # why it is lost: missing heartbeat, quit early, failed
    generator: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        generator = self.generator
        return {
            "name": self.name,
            "index": self.index,
            "host": self.host,
            "pid": self.pid,
            "vus": self.vus,
            "done": self.done,
            "lost": self.lost,
            "scheduled": int(generator.get("scheduled", 0)),
            "dispatched": int(generator.get("dispatched", 0)),
            "dropped": dict(generator.get("dropped", {})),
            "errors": dict(generator.get("errors", {})),
            "cpu": float(generator.get("cpu", 0.0)),
            "host_busy": float(generator.get("host_busy", 0.0)),
            "lag_seconds": float(generator.get("lag_seconds", 0.0)),
            "peak_in_flight": int(generator.get("peak_in_flight", 0)),
            "unfinished": int(generator.get("unfinished", 0)),
        }


def judge(
    plan: LoadPlan, expected: int, workers: Sequence[WorkerState], problem: str | None = None
) -> tuple[str, str | None]:
    """(`valid`, None) or (`invalid`, why, naming the worker): the generator's verdict."""
    if problem is not None:
        return INVALID, problem
    if len(workers) < expected:
        joined = ", ".join(worker.name for worker in workers) or "none"
        return INVALID, (
            f"worker missing at start: {len(workers)} of {expected} workers joined ({joined})"
        )
    reasons = []
    for worker in workers:
        if worker.lost is not None:
            reasons.append(f"worker {worker.name} lost mid-run: {worker.lost}")
        elif not worker.done:
            reasons.append(f"worker {worker.name} sent no final report")
    for worker in workers:
        generator = worker.generator
        scheduled = int(generator.get("scheduled", 0))
        dropped = sum(int(count) for count in dict(generator.get("dropped", {})).values())
        if scheduled and dropped / scheduled > plan.max_dropped_ratio:
            reasons.append(
                f"worker {worker.name} dropped {dropped} of {scheduled} arrivals "
                f"({dropped / scheduled:.2%} > {plan.max_dropped_ratio:.2%}): "
                f"{generator.get('dropped')}, CPU {float(generator.get('cpu', 0.0)):.0%}, "
                f"lag {float(generator.get('lag_seconds', 0.0)) * 1e3:.0f} ms"
            )
    if reasons:
        return INVALID, "; ".join(reasons)
    return VALID, None


# the result ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RouteSummary:
    route: str
    requests: int
    failures: int
    p50: float
    p95: float
    p99: float

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def route_summaries(merged: MergedHistograms) -> dict[str, RouteSummary]:
    """Per route: requests, failures, and the percentiles of all its requests' latencies."""
    summaries = {}
    for route in merged.routes():
        every = summarize(merged.histogram(route=route))
        failures = int(merged.histogram(route=route, outcome=FAILURE).get_total_count())
        summaries[route] = RouteSummary(
            route, every.count, failures, every.p50, every.p95, every.p99
        )
    return summaries


@dataclass(frozen=True)
class DistributedResult:
    """The master's result file, read back: the merged view and each worker's report."""

    validity: str
    reason: str | None
    workers: tuple[dict[str, Any], ...]
    merged: MergedHistograms
    per_worker: Mapping[str, MergedHistograms]
    data: Mapping[str, Any]

    @property
    def valid(self) -> bool:
        return self.validity == VALID

    @property
    def requests(self) -> int:
        return int(self.merged.histogram().get_total_count())

    @property
    def failures(self) -> int:
        return int(self.merged.histogram(outcome=FAILURE).get_total_count())

    @property
    def dropped(self) -> int:
        return sum(sum(worker["dropped"].values()) for worker in self.workers)

    def summary(self, route: str | None = None) -> Summary:
        """Counts and percentiles of every request (or one route's), from the merged view."""
        return summarize(self.merged.histogram(route=route))

    def routes(self) -> dict[str, RouteSummary]:
        return route_summaries(self.merged)

    def union_of_workers(self, route: str | None = None) -> Any:
        """The sum of the workers' own histograms (a check of the master's merge)."""
        return merge(
            text
            for histograms in self.per_worker.values()
            for text in histograms.select(route=route)
        )

    def describe(self) -> str:
        if not self.valid:
            return f"invalid run: {self.reason}"
        every = self.summary()
        return (
            f"valid run: {every.count} requests, {self.failures} failed, P50 "
            f"{every.p50 * 1e3:.1f} ms, P95 {every.p95 * 1e3:.1f} ms, P99 {every.p99 * 1e3:.1f} ms "
            f"on {len(self.workers)} workers"
        )

    @classmethod
    def read(cls, path: Path) -> DistributedResult:
        data = json.loads(path.read_text())
        return cls(
            validity=str(data["validity"]),
            reason=data.get("reason"),
            workers=tuple(data["workers"]),
            merged=MergedHistograms.from_json(data["histograms"]),
            per_worker={
                name: MergedHistograms.from_json(rows)
                for name, rows in data["worker_histograms"].items()
            },
            data=data,
        )


def result_json(  # noqa: PLR0917 - the master's whole state, once
    plan: LoadPlan,
    expected: int,
    workers: Sequence[WorkerState],
    merged: MergedHistograms,
    per_worker: Mapping[str, MergedHistograms],
    problem: str | None = None,
    timing: Mapping[str, float] | None = None,
    finished: bool = True,
) -> dict[str, Any]:
    """The result file (`finished`), or the progress file the master rewrites every second
    of the run (its verdict then says only what is already wrong: a worker lost)."""
    if finished:
        validity, reason = judge(plan, expected, workers, problem)
    else:
        lost = [f"worker {w.name} lost mid-run: {w.lost}" for w in workers if w.lost is not None]
        reason = problem or "; ".join(lost) or None
        validity = VALID if reason is None else INVALID
    every = summarize(merged.histogram())
    return {
        "validity": validity,
        "reason": reason,
        "finished": finished,
        # the master's clock at the go (wall and monotonic) and the end of the load window
        # (seconds after the go: the plan's duration, or when it was asked to stop)
        "timing": dict(timing or {}),
        "scenario": plan.scenario,
        "rate_per_second": plan.rate_per_second,
        "duration_seconds": plan.duration_seconds,
        "expected_workers": expected,
        "workers": [worker.to_json() for worker in workers],
        "total": {
            **every.to_json(),
            "failures": int(merged.histogram(outcome=FAILURE).get_total_count()),
        },
        "routes": {
            route: {
                "count": summary.requests,
                "failures": summary.failures,
                "p50": summary.p50,
                "p95": summary.p95,
                "p99": summary.p99,
            }
            for route, summary in route_summaries(merged).items()
        },
        "sources": {
            "latency, counts": "merged interval HDR histograms (exact sums of the workers')",
            "cpu, lag, dropped, vus": "each worker's own report",
        },
        "histograms": merged.to_json(),
        "worker_histograms": {name: rows.to_json() for name, rows in per_worker.items()},
    }


# pytest's side: start master and workers, read the result ----------------------------------
def deadline_for(plan: LoadPlan, join_seconds: float = JOIN_SECONDS) -> float:
    """Seconds master and workers may take before they are killed."""
    return (
        join_seconds
        + READY_SECONDS
        + plan.duration_seconds
        + plan.ramp_seconds
        + DRAIN_SECONDS
        + END_MARGIN_SECONDS
        + STOP_WAIT_SECONDS
        + 15.0  # Python + Locust import, writing the result
    )


class DistributedRun(Closing):
    """A master and `workers` workers, each in its own process group with a stdin pipe
    (closing it ends it); `close` kills every group; the reaper, when given, kills them if
    this process dies first.

    On 127.0.0.1 by default. Elsewhere: `wrap(role, argv)` returns the command that runs
    `argv` where `role` ("master", "w0", "w1", ...) is to run (e.g. inside a network
    namespace: `chaos.netns.Namespace.exec_argv`), and the master listens on
    `master_host`, the address its workers connect to (its own address there)."""

    def __init__(
        self,
        plan: LoadPlan,
        workdir: Path,
        *,
        workers: int = 2,
        port: int | None = None,
        join_seconds: float = JOIN_SECONDS,
        start_workers: int | None = None,
        reaper: Reaper | None = None,
        deadline_seconds: float | None = None,
        wrap: Callable[[str, list[str]], list[str]] | None = None,
        master_host: str = "127.0.0.1",
    ) -> None:
        check_workers(plan, workers)
        self.wrap = wrap
        self.master_host = master_host
        self.plan = plan
        self.workdir = workdir
        self.workers = workers
        self.start_workers = workers if start_workers is None else start_workers
        self.join_seconds = join_seconds
        self.port = port
        self.reaper = reaper
        self.deadline = (
            deadline_for(plan, join_seconds) if deadline_seconds is None else deadline_seconds
        )
        self.result_path = workdir / "result.json"
        self.master: subprocess.Popen[bytes] | None = None
        self.worker_processes: dict[str, subprocess.Popen[bytes]] = {}
        self._deadline = Deadline(0.0)

    def start(self) -> DistributedRun:
        self.workdir.mkdir(parents=True, exist_ok=True)
        plan_path = self.workdir / "plan.json"
        plan_path.write_text(self.plan.to_json())
        port = self.port if self.port is not None else PortAllocator().reserve()
        self.port = port
        self._deadline = Deadline(self.deadline)
        host = f"[{self.master_host}]" if ":" in self.master_host else self.master_host
        address = f"{host}:{port}"
        try:
            self.master = self._spawn(
                "master",
                [
                    "load.distributed",
                    str(plan_path),
                    str(self.result_path),
                    "--workers",
                    str(self.workers),
                    "--bind",
                    address,
                    "--join-seconds",
                    str(self.join_seconds),
                    "--watch-stdin",
                ],
                self.workdir / "master.log",
            )
            for index in range(self.start_workers):
                name = DEFAULT_WORKER_NAME.format(index=index)
                argv = ["load.worker", "--master", address, "--name", name]  # plan: the master's
                self.worker_processes[name] = self._spawn(
                    name, [*argv, "--watch-stdin"], self.workdir / f"worker-{name}.log"
                )
        except BaseException:
            self.close()
            raise
        return self

    def _spawn(self, role: str, argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", *argv]
        with log_path.open("ab") as log:
            child = subprocess.Popen(
                command if self.wrap is None else self.wrap(role, command),
                cwd=REPO_ROOT,
                env=child_env(),
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.reaper is not None:
            self.reaper.track_process_group(child.pid)
        return child

    def kill_worker(self, name: str) -> None:
        """SIGKILL worker `name`'s process group (a generator host lost)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker_processes[name].pid, signal.SIGKILL)

    def expired(self) -> bool:
        """The run's deadline (from `start`) has passed."""
        return self._deadline.expired

    def master_log(self) -> str:
        return log_tail(self.workdir / "master.log", 8)

    def wait(self) -> DistributedResult:
        """Until the master exits; its result, or `LoadRunError` (all are killed then)."""
        assert self.master is not None, "start() first"
        try:
            while self.master.poll() is None:
                if self._deadline.expired:
                    raise LoadRunError(
                        f"distributed load master did not finish within {self.deadline:.0f} s; "
                        f"killed; master.log ends with: {self.master_log()}"
                    )
                time.sleep(POLL_SECONDS)
            code = self.master.returncode
            if code != EXIT_OK or not self.result_path.exists():
                what = "rejected the plan" if code == EXIT_BAD_PLAN else "failed"
                raise LoadRunError(
                    f"distributed load master {what} (exit {code}); master.log ends with: "
                    f"{self.master_log()}"
                )
            return DistributedResult.read(self.result_path)
        finally:
            self.close()

    def close(self) -> None:
        """Terminate, then kill, every process group; idempotent."""
        children = [*self.worker_processes.values()]
        if self.master is not None:
            children.append(self.master)
        for child in children:
            if child.stdin is not None:
                with contextlib.suppress(OSError):
                    child.stdin.close()
        for child in children:
            kill_process_group(child.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
            if self.reaper is not None:
                self.reaper.untrack_process_group(child.pid)


def start_distributed(plan: LoadPlan, workdir: Path, **options: Any) -> DistributedRun:
    """Start master and workers in the background; use the run as a context manager."""
    return DistributedRun(plan, workdir, **options).start()


def run_distributed(plan: LoadPlan, workdir: Path, **options: Any) -> DistributedResult:
    """Run `plan` on a master and workers (`DistributedRun`'s options: `workers`, `wrap`
    and `master_host` place them, `start_workers` says how many it starts); the result."""
    with start_distributed(plan, workdir, **options) as run:
        return run.wait()


# the master process ----------------------------------------------------------------------
def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets) -> (host, port)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise LoadPlanError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.distributed", description=__doc__)
    parser.add_argument("plan", help="the plan, as written by LoadPlan.to_json")
    parser.add_argument("result", help="where to write the merged result (JSON)")
    parser.add_argument("--workers", type=int, required=True, help="workers to wait for")
    parser.add_argument("--bind", default="127.0.0.1:5557", help="HOST:PORT to listen on")
    parser.add_argument("--join-seconds", type=float, default=JOIN_SECONDS)
    parser.add_argument("--watch-stdin", action="store_true", help="end on EOF on stdin")
    args = parser.parse_args(argv)
    try:
        plan = LoadPlan.from_json(Path(args.plan).read_text())
        check_workers(plan, args.workers)
        bind = parse_address(args.bind)
    except (LoadPlanError, OSError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return EXIT_BAD_PLAN
    return _master(plan, args.workers, bind, Path(args.result), args)


def _master(  # noqa: PLR0915 - one sequence of phases, read top to bottom
    plan: LoadPlan, expected: int, bind: tuple[str, int], result: Path, args: argparse.Namespace
) -> int:
    # Locust patches the process for gevent: imported in the master's process only
    import gevent  # type: ignore[import-untyped]  # noqa: PLC0415
    from gevent.fileobject import FileObjectPosix  # type: ignore[import-untyped]  # noqa: PLC0415
    from locust.env import Environment  # noqa: PLC0415

    from load.child import load_user_classes  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    journal = logging.getLogger("load.distributed")
    environment = Environment(user_classes=load_user_classes(plan), host=plan.base_url)
    runner = environment.create_master_runner(master_bind_host=bind[0], master_bind_port=bind[1])
    states: dict[str, WorkerState] = {}  # by node id, in the order they said hello
    merged = MergedHistograms()
    per_worker: dict[str, MergedHistograms] = {}
    aborted: list[str] = []
    stop_requested: list[float] = []
    timing: dict[str, float] = {}
    roster: list[WorkerState] = []  # the N workers assigned a share, in index order

    def state_of(msg: Any) -> WorkerState | None:
        return states.get(msg.node_id)

    def on_hello(msg: Any, **_: Any) -> None:
        data = msg.data or {}
        name = str(data.get("name") or msg.node_id)
        for node, state in list(states.items()):  # a worker connecting again after leaving
            if state.name == name and state not in roster and runner.clients.get(node) is None:
                del states[node]
        if any(state.name == name for state in states.values()):
            name = f"{name}@{msg.node_id}"
        states[msg.node_id] = WorkerState(
            name, msg.node_id, str(data.get("host", "")), int(data.get("pid", 0))
        )
        per_worker[name] = MergedHistograms()
        journal.info("worker %s (%s) joined", name, msg.node_id)

    def on_ready(msg: Any, **_: Any) -> None:
        state = state_of(msg)
        if state is not None:
            state.ready, state.vus = True, int((msg.data or {}).get("vus", 0))

    def on_report(msg: Any, **_: Any) -> None:
        state = state_of(msg)
        if state is None:
            return
        data = msg.data or {}
        for second, route, outcome, text in data.get("intervals", []):
            merged.add(second, route, outcome, text)
            per_worker[state.name].add(0, route, outcome, text)
        state.generator = dict(data.get("generator", {}))
        state.done = state.done or bool(data.get("done"))

    def on_failed(msg: Any, **_: Any) -> None:
        state = state_of(msg)
        if state is not None and state.lost is None:
            state.lost = f"failed: {(msg.data or {}).get('error')}"

    for kind, handler in (
        ("harness_hello", on_hello),
        ("harness_ready", on_ready),
        ("harness_report", on_report),
        ("harness_failed", on_failed),
    ):
        runner.register_message(kind, handler)

    def watch_stdin() -> None:
        """A line `stop` on stdin ends the load early (the gates have decided); EOF aborts."""
        stdin = FileObjectPosix(sys.stdin.fileno(), "rb", close=False)
        while line := stdin.readline():
            if line.strip() == b"stop":
                stop_requested.append(time.monotonic())
        aborted.append("the master was asked to stop (its parent closed stdin)")

    if args.watch_stdin:
        gevent.spawn(watch_stdin)

    def connected() -> list[WorkerState]:
        ids = {client.id for client in runner.clients.all}
        return [state for node, state in states.items() if node in ids]

    def check_lost() -> None:
        for node, state in states.items():
            client = runner.clients.get(node)
            if state.done or state.lost is not None:
                continue
            if client is None:
                state.lost = "it quit before its last report"
            elif client.state == "missing":
                state.lost = "no heartbeat (Locust marked it missing)"

    def wait(condition: Any, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not aborted:
            if condition():
                return True
            gevent.sleep(POLL_SECONDS)
        return bool(condition())

    def write(path: Path, problem: str | None, *, finished: bool) -> dict[str, Any]:
        # once assigned, the run is its N workers': an extra one never counts
        workers = roster or sorted(states.values(), key=lambda state: state.name)
        data = result_json(
            plan, expected, workers, merged, per_worker, problem, timing, finished=finished
        )
        data["extra_workers"] = sorted(
            s.name for s in states.values() if roster and s not in roster
        )
        data["written_at"] = time.time()
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(data))
        partial.replace(path)
        return data

    def write_progress() -> None:
        while True:
            write(progress_path(result), _first(aborted), finished=False)
            gevent.sleep(REPORT_SECONDS)

    def leave(extras: Iterable[WorkerState]) -> None:
        """More workers than the plan's N: told to leave before Locust dispatches the VUs
        (it would give them some); one that joins later gets none (no rebalancing)."""
        told = {state.node_id: state.name for state in extras}
        for node, name in told.items():
            journal.info("worker %s: %d workers joined already; told to leave", name, expected)
            runner.send_message("harness_finish", {}, client_id=node)
        wait(lambda: not told.keys() & {client.id for client in runner.clients.all}, 5.0)

    def finish(problem: str | None = None) -> int:
        data = write(result, problem or _first(aborted), finished=True)
        journal.info("%s: %s", data["validity"], data["reason"] or "all workers held the plan")
        for node in list(states):
            with contextlib.suppress(Exception):
                runner.send_message("harness_finish", {}, client_id=node)
        gevent.sleep(0.2)
        runner.quit()
        return EXIT_OK

    # 1. N workers join (Locust's --expect-workers, bounded)
    journal.info("waiting up to %.0f s for %d workers on %s:%d", args.join_seconds, expected, *bind)
    if not wait(lambda: len(connected()) >= expected, args.join_seconds):
        return finish(
            f"worker missing at start: {len(connected())} of {expected} workers joined "
            f"within {args.join_seconds:g} s ({', '.join(s.name for s in connected()) or 'none'})"
        )
    joined = sorted(connected(), key=lambda state: state.name)[:expected]
    roster.extend(joined)
    leave(state for state in connected() if state not in joined)
    for index, state in enumerate(joined):
        state.index = index
        runner.send_message(
            "harness_assign",
            {"index": index, "workers": expected, "plan": plan.to_json()},
            client_id=state.node_id,
        )
    # 2. Locust dispatches the VUs; every worker's VUs join
    runner.start(plan.vus, spawn_rate=float(plan.vus))

    def ready_or_lost() -> bool:
        check_lost()
        return all(s.ready for s in joined) or any(s.lost is not None for s in joined)

    wait(ready_or_lost, READY_SECONDS + plan.ramp_seconds)
    if any(state.lost is not None for state in joined):  # failed or refused the plan: named
        return finish()
    if not all(state.ready for state in joined):
        late = ", ".join(state.name for state in joined if not state.ready)
        return finish(f"worker(s) {late} did not get their VUs ready within the start wait")
    # 3. go together; the run until every worker's last report, or a loss
    timing.update(go_wall=time.time(), go_monotonic=time.monotonic())
    timing["window_end"] = plan.duration_seconds
    for state in joined:
        runner.send_message("harness_go", {}, client_id=state.node_id)
    journal.info("go: %s", ", ".join(f"{s.name}={s.vus} VUs" for s in joined))
    progress = gevent.spawn(write_progress)

    def over() -> bool:
        check_lost()
        return bool(stop_requested) or all(s.done or s.lost is not None for s in joined)

    wait(over, plan.duration_seconds + DRAIN_SECONDS + END_MARGIN_SECONDS)
    if stop_requested:
        at = stop_requested[0] - timing["go_monotonic"]
        timing["window_end"] = min(plan.duration_seconds, max(0.0, at))
        journal.info("asked to stop at %.2f s", at)
    if any(state.lost is not None for state in joined) or aborted or stop_requested:
        for state in joined:
            if not state.done and state.lost is None:
                runner.send_message("harness_stop", {}, client_id=state.node_id)
        wait(lambda: all(s.done or s.lost is not None for s in joined), STOP_WAIT_SECONDS)
    progress.kill()
    return finish()


def progress_path(result: Path) -> Path:
    """Where the master rewrites its state every second of the run, beside its result."""
    return result.with_name(f"{result.stem}.progress.json")


def _first(items: Sequence[str]) -> str | None:
    return items[0] if items else None


if __name__ == "__main__":
    sys.exit(main())

"""A load worker: its share of a plan's open model, on a Locust `WorkerRunner`.

    python -m load.worker --master HOST:PORT [--name NAME] [--allow-remote]
                          [--runs N] [--wait-seconds S] [PLAN_JSON]

Started anywhere that reaches the master (`load.distributed`, which says the protocol):
it connects with Locust's own runner, gets the plan and its index from the master (a
PLAN_JSON given here must be the master's, else it refuses), runs the Locust
users the master dispatches to it, and feeds them its interleaved share of the plan's
arrivals (`load.distributed.worker_schedule`) with the load child's engine
(`load.locust_user.Engine`), from its own t0 on its own monotonic clock. Instead of one
record per request it sends, every second, the interval HDR histograms recorded since the
last report (`load.histograms`) with its CPU, its lag behind the schedule and the arrivals
it dropped.

It refuses a target that is not on this machine (loopback or the harness's namespaces)
unless started with `--allow-remote`; the master then marks the run invalid, naming it.
It serves `--runs` runs (default 1; 0: until stopped), one master after another at the
same address (a suite's workloads), waiting up to `--wait-seconds` for each. With
`--watch-stdin` it stops when stdin closes.

Exit codes: 0 done, 2 the plan or the target is refused (nothing was sent), 3 the run failed.
Locust patches this process for gevent: never import this module from pytest.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from gevent.event import Event  # type: ignore[import-untyped]
from gevent.fileobject import FileObjectPosix  # type: ignore[import-untyped]
from locust.env import Environment
from locust.runners import WorkerRunner

from load.child import DRAIN_SECONDS, RunFailedError, equip
from load.distributed import (
    EXIT_BAD_PLAN,
    EXIT_FAILED,
    EXIT_OK,
    READY_SECONDS,
    REPORT_SECONDS,
    check_workers,
    parse_address,
    refuse_target,
    worker_schedule,
)
from load.errors import LoadPlanError
from load.histograms import IntervalRecorder
from load.locust_user import Engine
from load.pacing import IN_FLIGHT, NOT_SENT_ROUTE
from load.plan import LoadPlan
from load.records import SUCCESS, RecordWriter
from system.deadline import Deadline, NotYet, WaitTimeoutError, wait_until

journal = logging.getLogger("load.worker")
GO_SECONDS = 120.0  # from connecting to the master's go: its join and start waits
SILENT_MASTER_SECONDS = 5.0  # no heartbeat for this long: no master there, connect again
BETWEEN_RUNS_SECONDS = 1.0  # for the last run's master to quit before connecting again
FINISH_SECONDS = 30.0  # after the last report, for the master's finish
POLL_SECONDS = 0.02


class HistogramWriter(RecordWriter):
    """The engine's record writer, recording into interval histograms instead of a file."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.recorder = IntervalRecorder()
        self.dropped_by_reason: Counter[str] = Counter()
        self.errors_by_kind: Counter[str] = Counter()
        self.max_lag = 0.0
        self.sent = 0

    def header(self, meta: dict[str, Any]) -> None:
        journal.info("t0: %s", meta)

    def completed(
        self, index: int, intended: float, sent: float, end: float, *, route: str, kind: str
    ) -> None:
        self.sent += 1
        self.max_lag = max(self.max_lag, sent - intended)
        self.recorder.record(int(intended), route, kind == SUCCESS, end - intended)
        self.recorder.record_service(int(intended), route, end - sent)
        if kind != SUCCESS:
            self.errors_by_kind[kind] += 1

    def unfinished(self, index: int, intended: float, sent: float, end: float, route: str) -> None:
        self.sent += 1  # the target's: an error with its latency's lower bound (IN_FLIGHT)
        self.max_lag = max(self.max_lag, sent - intended)
        self.recorder.record(int(intended), route, False, end - intended)
        self.errors_by_kind[IN_FLIGHT] += 1

    def dropped(self, index: int, intended: float, route: str, reason: str) -> None:
        self.dropped_by_reason[reason if route == NOT_SENT_ROUTE else f"{reason} ({route})"] += 1

    def tick(self, meta: dict[str, Any]) -> None:
        pass

    def footer(self, meta: dict[str, Any]) -> None:
        journal.info("end: %s", meta)


class PlanRefusedError(Exception):
    """The master's plan is not one this worker runs: nothing was sent."""


class NoMasterError(Exception):
    """No master assigned this worker a share in time."""


class Worker:
    """The worker's side of the protocol in `load.distributed`, for one run.

    The plan comes from the master (`harness_assign`), so a worker started elsewhere needs
    only the master's address; one given on the command line must be the master's."""

    def __init__(
        self,
        name: str,
        master: tuple[str, int],
        *,
        plan: LoadPlan | None = None,
        allow_remote: bool = False,
    ) -> None:
        self.own_plan = plan
        self.allow_remote = allow_remote
        self.name = name
        self.writer = HistogramWriter()
        self._engine: Engine | None = None  # from the master's assignment
        self.refused: str | None = None
        self.environment = Environment(user_classes=[])
        self.assigned = Event()
        self.go = Event()
        self.finish = Event()
        self.runner: WorkerRunner = self.environment.create_worker_runner(*master)
        for kind, handler in (
            ("harness_assign", self._on_assign),
            ("harness_go", self._on_go),
            ("harness_stop", self._on_stop),
            ("harness_finish", self._on_finish),
        ):
            self.runner.register_message(kind, handler)
        self.send("harness_hello", {"name": name, "host": socket.gethostname(), "pid": os.getpid()})

    @property
    def engine(self) -> Engine:
        assert self._engine is not None, "assigned by the master first"
        return self._engine

    @property
    def plan(self) -> LoadPlan:
        return self.engine.plan

    @property
    def had_share(self) -> bool:
        """A master assigned this worker a share (not: told it to leave, or ended first)."""
        return self._engine is not None

    def send(self, kind: str, data: dict[str, Any]) -> None:
        self.runner.send_message(kind, data)

    # messages from the master --------------------------------------------------------
    def _on_assign(self, msg: Any, **_: Any) -> None:
        try:
            index, workers = int(msg.data["index"]), int(msg.data["workers"])
            plan = self._checked(LoadPlan.from_json(str(msg.data["plan"])))
            check_workers(plan, workers)
            engine = Engine(plan, 0, self.writer)
            engine.process = index
            engine.schedule = worker_schedule(plan, index, workers)
            equip(self.environment, plan, engine)
            self._engine = engine
            journal.info("assigned: worker %d of %d, %s", index, workers, plan.describe())
        except (LoadPlanError, RunFailedError, KeyError, ValueError) as error:
            self.refused = str(error)
        self.assigned.set()

    def _checked(self, plan: LoadPlan) -> LoadPlan:
        """The master's plan, if this worker may run it (its own plan, its traffic rules)."""
        if self.own_plan is not None and self.own_plan.to_json() != plan.to_json():
            raise LoadPlanError(
                f"the master's plan ({plan.scenario}: {plan.describe()}, {plan.base_url}) "
                f"is not this worker's PLAN_JSON ({self.own_plan.scenario}: "
                f"{self.own_plan.describe()}, {self.own_plan.base_url})"
            )
        refused = refuse_target(plan, self.allow_remote)
        if refused is not None:
            raise LoadPlanError(refused)
        return plan

    def _on_go(self, msg: Any, **_: Any) -> None:
        self.go.set()

    def _on_stop(self, msg: Any, **_: Any) -> None:
        if self._engine is None:
            return
        journal.info("asked to stop at %.2f s", self.engine.offset())
        self.engine.asked_to_stop = True
        self.engine.stop_requested.set()

    def _on_finish(self, msg: Any, **_: Any) -> None:
        self.finish.set()
        self.assigned.set()  # a run ended before it began (a worker missing at start)
        self.go.set()
        self._on_stop(msg)

    # the run ---------------------------------------------------------------------------
    def run(self, assign_seconds: float = GO_SECONDS) -> None:
        """One run; `NoMasterError` if no master assigned a share within `assign_seconds`
        or none is heard (no heartbeat) for `SILENT_MASTER_SECONDS`; `PlanRefusedError` if
        the master's plan is not for this worker."""
        self._await_assignment(assign_seconds)
        if self.refused is not None:
            raise PlanRefusedError(self.refused)
        if self.finish.is_set():
            return
        self._ready()
        self.send("harness_ready", {"name": self.name, "vus": self.engine.vus})
        if not self.go.wait(timeout=GO_SECONDS):
            raise RuntimeError(f"no go from the master within {GO_SECONDS:g} s")
        if self.finish.is_set():
            return
        self.engine.start()
        reporter = gevent.spawn(self._report_every_second)
        gevent.spawn(self.engine.dispatch).join()
        if self.engine.asked_to_stop:
            self.engine.window_end = min(self.plan.duration_seconds, self.engine.offset())
        self._drain()
        self.engine.finish(stopped_early=self.engine.asked_to_stop)
        reporter.kill()
        self.report(done=True)

    def _await_assignment(self, seconds: float) -> None:
        """A master waiting for more workers heartbeats; a dead one (the last run's, just
        quitting) or none at all does not: then `NoMasterError`, to connect again."""
        waiting, connected = Deadline(seconds), time.time()
        while not self.assigned.wait(timeout=POLL_SECONDS * 10):
            heard = self.runner.last_heartbeat_timestamp or connected
            if time.time() - heard > SILENT_MASTER_SECONDS:
                raise NoMasterError(f"no master heard for {SILENT_MASTER_SECONDS:g} s")
            if waiting.expired:
                raise NoMasterError(f"no assignment from a master within {seconds:g} s")

    def _ready(self) -> None:
        """Until Locust has spawned this worker's users and every one has joined."""

        def joined() -> bool | NotYet:
            count = self.runner.user_count
            if self.runner.worker_state != "running" or count == 0:
                return NotYet(f"Locust spawning ({count} users so far)")
            if self.engine.joined < count:
                return NotYet(f"{self.engine.joined} of {count} VUs joined")
            return True

        wait_until(
            joined,
            seconds=READY_SECONDS + self.plan.ramp_seconds,
            what="this worker's VUs joining",
            interval=POLL_SECONDS,
            sleep=gevent.sleep,
        )
        self.engine.vus = self.runner.user_count
        if self.environment.host != self.plan.base_url:  # Locust's spawn sets it
            raise RuntimeError(
                f"the master sent target {self.environment.host}, the plan says "
                f"{self.plan.base_url}: refused"
            )

    def _drain(self) -> None:
        engine = self.engine
        try:
            wait_until(
                lambda: not engine.busy() or NotYet(f"{len(engine.in_flight)} in flight"),
                seconds=DRAIN_SECONDS,
                what="the requests in flight after the load window to end",
                interval=POLL_SECONDS,
                sleep=gevent.sleep,
            )
        except WaitTimeoutError as timeout:
            journal.info("drain: %s; recorded as unfinished", timeout)

    def _report_every_second(self) -> None:
        while True:
            gevent.sleep(REPORT_SECONDS)
            self.report(done=False)

    def report(self, *, done: bool) -> None:
        engine, writer = self.engine, self.writer
        progress = engine.progress()
        lag = writer.max_lag
        if engine.schedule is not None and engine.next_index < engine.schedule.count and not done:
            due = engine.t0 + engine.schedule.time_of(engine.next_index)
            lag = max(lag, time.monotonic() - due)
        generator = {
            "scheduled": 0 if engine.schedule is None else engine.schedule.count,
            "dispatched": engine.next_index,
            "sent": writer.sent,
            "dropped": dict(writer.dropped_by_reason),
            "errors": dict(writer.errors_by_kind),
            "cpu": progress["cpu"],
            "host_busy": progress["host_busy"],
            "lag_seconds": round(lag, 6),
            "peak_in_flight": engine.peak_in_flight,
            "unfinished": len(engine.in_flight) if done else 0,
            "vus": engine.vus,
        }
        self.send(
            "harness_report",
            {
                "name": self.name,
                "intervals": writer.recorder.drain(),
                "generator": generator,
                "done": done,
            },
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.worker", description=__doc__)
    parser.add_argument(
        "plan", nargs="?", help="the plan the master must send (default: whatever it sends)"
    )
    parser.add_argument("--master", required=True, help="the master's HOST:PORT")
    parser.add_argument("--name", default=socket.gethostname(), help="this worker's name")
    parser.add_argument("--allow-remote", action="store_true", help="send to a remote target")
    parser.add_argument("--runs", type=int, default=1, help="runs to serve, 0: until stopped")
    parser.add_argument(
        "--wait-seconds", type=float, default=GO_SECONDS, help="for each run's master"
    )
    parser.add_argument("--watch-stdin", action="store_true", help="end on EOF on stdin")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    journal.setLevel(logging.INFO)
    try:
        plan = None if args.plan is None else LoadPlan.from_json(Path(args.plan).read_text())
        if plan is not None:
            worker_schedule(plan, 0, 1)
        master = parse_address(args.master)
    except (LoadPlanError, OSError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return EXIT_BAD_PLAN
    if args.runs < 0 or args.wait_seconds <= 0:
        print("ERROR: --runs must be >= 0 and --wait-seconds > 0", file=sys.stderr)
        return EXIT_BAD_PLAN
    refused = None if plan is None else refuse_target(plan, args.allow_remote)
    if refused is not None:
        print(f"ERROR: {refused}", file=sys.stderr)
        return EXIT_BAD_PLAN
    stdin_closed = Event()
    if args.watch_stdin:
        gevent.spawn(_watch_stdin, stdin_closed)
    served = 0
    while (args.runs == 0 or served < args.runs) and not stdin_closed.is_set():
        code = _serve_one(args, plan, master, stdin_closed, first=served == 0)
        if code != EXIT_OK:
            return code
        served += 1
    return EXIT_OK


def _serve_one(
    args: argparse.Namespace,
    plan: LoadPlan | None,
    master: tuple[str, int],
    stdin_closed: Event,
    *,
    first: bool,
) -> int:
    """One run for the next master at `master`, connecting again while none answers, or
    one ends without giving it a share (more workers than it needs), until `--wait-seconds`."""
    waiting = Deadline(args.wait_seconds)
    while True:
        if not first:  # the last master (or this one, ending) quits before we connect again
            gevent.sleep(BETWEEN_RUNS_SECONDS)
        first = False
        worker = Worker(args.name, master, plan=plan, allow_remote=args.allow_remote)
        watcher = gevent.spawn(_finish_on, stdin_closed, worker)
        try:
            worker.run(assign_seconds=max(0.1, waiting.remaining()))
            worker.finish.wait(timeout=FINISH_SECONDS)
        except NoMasterError as error:
            if waiting.expired or stdin_closed.is_set():
                journal.error("%s", error)
                return EXIT_FAILED
            journal.info("no master yet at %s:%d: connecting again", *master)
        except PlanRefusedError as error:  # told to the master: the run is invalid, naming it
            journal.error("plan refused: %s", error)
            worker.send("harness_failed", {"name": args.name, "error": str(error)})
            gevent.sleep(0.2)
            return EXIT_BAD_PLAN
        except Exception as error:  # told to the master, then the exit code
            journal.error("run failed: %s", error)
            worker.send("harness_failed", {"name": args.name, "error": str(error)})
            gevent.sleep(0.2)
            return EXIT_FAILED
        else:
            if worker.had_share or stdin_closed.is_set():
                return EXIT_OK
            journal.info("the master ended before giving this worker a share: connecting again")
        finally:
            watcher.kill()
            worker.runner.quit()


def _watch_stdin(closed: Event) -> None:
    stdin = FileObjectPosix(sys.stdin.fileno(), "rb", close=False)
    while stdin.readline():
        pass
    journal.info("stdin closed: stopping")
    closed.set()


def _finish_on(closed: Event, worker: Worker) -> None:
    closed.wait()
    worker._on_finish(None)  # the same as the master's finish


if __name__ == "__main__":
    sys.exit(main())

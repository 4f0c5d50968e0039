"""A load worker: its share of a plan's open model, on a Locust `WorkerRunner`.

    python -m load.worker PLAN_JSON --master HOST:PORT [--name NAME] [--allow-remote]

Started anywhere that reaches the master (`load.distributed`, which says the protocol):
it connects with Locust's own runner, gets its index from the master, runs the Locust
users the master dispatches to it, and feeds them its interleaved share of the plan's
arrivals (`load.distributed.worker_schedule`) with the load child's engine
(`load.locust_user.Engine`), from its own t0 on its own monotonic clock. Instead of one
record per request it sends, every second, the interval HDR histograms recorded since the
last report (`load.histograms`) with its CPU, its lag behind the schedule and the arrivals
it dropped.

It refuses a target that is not on this machine (loopback or the harness's namespaces)
unless started with `--allow-remote`. With `--watch-stdin` it stops when stdin closes.

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
from locust.runners import WorkerRunner

from load.child import DRAIN_SECONDS, new_environment
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
from system.deadline import NotYet, WaitTimeoutError, wait_until

journal = logging.getLogger("load.worker")
GO_SECONDS = 120.0  # from connecting to the master's go: its join and start waits
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


class Worker:
    """The worker's side of the protocol in `load.distributed`."""

    def __init__(self, plan: LoadPlan, name: str, master: tuple[str, int]) -> None:
        self.plan = plan
        self.name = name
        self.writer = HistogramWriter()
        self.engine = Engine(plan, 0, self.writer)
        self.engine.schedule = None  # until the master assigns this worker its share
        self.environment = new_environment(plan, self.engine)
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

    def send(self, kind: str, data: dict[str, Any]) -> None:
        self.runner.send_message(kind, data)

    # messages from the master --------------------------------------------------------
    def _on_assign(self, msg: Any, **_: Any) -> None:
        index, workers = int(msg.data["index"]), int(msg.data["workers"])
        check_workers(self.plan, workers)
        self.engine.process = index
        self.engine.schedule = worker_schedule(self.plan, index, workers)
        journal.info("assigned: worker %d of %d", index, workers)
        self.assigned.set()

    def _on_go(self, msg: Any, **_: Any) -> None:
        self.go.set()

    def _on_stop(self, msg: Any, **_: Any) -> None:
        journal.info("asked to stop at %.2f s", self.engine.offset())
        self.engine.asked_to_stop = True
        self.engine.stop_requested.set()

    def _on_finish(self, msg: Any, **_: Any) -> None:
        self.finish.set()
        self.assigned.set()  # a run ended before it began (a worker missing at start)
        self.go.set()
        self._on_stop(msg)

    # the run ---------------------------------------------------------------------------
    def run(self) -> None:
        if not self.assigned.wait(timeout=GO_SECONDS):
            raise RuntimeError(f"no assignment from the master within {GO_SECONDS:g} s")
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
    parser.add_argument("plan", help="the plan, as written by LoadPlan.to_json")
    parser.add_argument("--master", required=True, help="the master's HOST:PORT")
    parser.add_argument("--name", default=socket.gethostname(), help="this worker's name")
    parser.add_argument("--allow-remote", action="store_true", help="send to a remote target")
    parser.add_argument("--watch-stdin", action="store_true", help="end on EOF on stdin")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    journal.setLevel(logging.INFO)
    try:
        plan = LoadPlan.from_json(Path(args.plan).read_text())
        worker_schedule(plan, 0, 1)
        master = parse_address(args.master)
    except (LoadPlanError, OSError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return EXIT_BAD_PLAN
    refused = refuse_target(plan, args.allow_remote)
    if refused is not None:
        print(f"ERROR: {refused}", file=sys.stderr)
        return EXIT_BAD_PLAN
    worker = Worker(plan, args.name, master)
    if args.watch_stdin:
        gevent.spawn(_watch_stdin, worker)
    code = EXIT_OK
    try:
        worker.run()
        worker.finish.wait(timeout=FINISH_SECONDS)
    except Exception as error:  # told to the master, then the exit code
        journal.error("run failed: %s", error)
        worker.send("harness_failed", {"name": args.name, "error": str(error)})
        gevent.sleep(0.2)
        code = EXIT_FAILED
    finally:
        worker.runner.quit()
    return code


def _watch_stdin(worker: Worker) -> None:
    stdin = FileObjectPosix(sys.stdin.fileno(), "rb", close=False)
    while stdin.readline():
        pass
    journal.info("stdin closed: stopping")
    worker._on_finish(None)  # the same as the master's finish


if __name__ == "__main__":
    sys.exit(main())

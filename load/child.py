"""The load child: runs one `LoadPlan` with Locust's library API and writes its result.

    python -m load.child PLAN_JSON RESULT_DIR

Locust patches the standard library for gevent when imported, so this runs in its own
process (started by `load.runner.run_load`, which also enforces its deadline), never in
pytest's. With `processes == 0` one `LocalRunner` runs every user in this process. With
`processes == N` this process is Locust's master (on 127.0.0.1, a free port) and starts
N worker processes of itself:

    python -m load.child --worker PLAN_JSON --master-host HOST --master-port PORT \
        --worker-index I

Remote workers (load beyond one machine) run that same command on other machines, with
the repository checked out, the same plan file, the master's address, and a distinct
index; the master must then bind an address they can reach, and the plan must say
`allow_remote=True` if its target is not on loopback. Each worker records its own
latencies and sends them to the master at the end (a custom Locust message); the master
merges them and writes the files described in `load.recorder`.

Every latency goes into the child's own records (`events.request` listener), not
Locust's rounded statistics. Exit codes: 0 done, 2 the plan is invalid (nothing was
sent), 3 the run failed (workers did not connect, no user started, ...).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust.env import Environment  # importing Locust patches this process for gevent
from locust.runners import MasterRunner, WorkerRunner

from fixtures.lifecycle.ports import LOOPBACK, PortAllocator
from load.errors import LoadPlanError
from load.locust_user import ORIGIN, SENT, Engine, PacedUser, attach
from load.pacing import Pacer
from load.plan import REPO_ROOT, LoadPlan
from load.recorder import Recorder, merge_snapshots, write_results

journal = logging.getLogger("load.child")  # what the child did, for the run's log
EXIT_OK, EXIT_BAD_PLAN, EXIT_FAILED = 0, 2, 3
DRAIN_SECONDS = 5.0  # the longest wait for in-flight requests after the load window
WORKER_CONNECT_SECONDS = 30.0
START_SECONDS = 15.0  # from runner start to the first user joining
RESULT_MESSAGE = "reliability_load_result"
POLL_SECONDS = 0.02


class RunFailedError(Exception):
    """The run cannot go on; the message says why."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    journal.setLevel(logging.INFO)
    try:
        plan = LoadPlan.from_json(Path(args.plan).read_text())
    except (LoadPlanError, OSError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return EXIT_BAD_PLAN
    journal.info("plan: %s", plan)
    try:
        if args.worker:
            run_worker(plan, args.master_host, args.master_port, args.worker_index)
        elif plan.processes > 0:
            run_master(plan, Path(args.plan), Path(args.result_dir))
        else:
            run_local(plan, Path(args.result_dir))
    except RunFailedError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m load.child", description=__doc__)
    parser.add_argument("plan", help="the plan, as written by LoadPlan.to_json")
    parser.add_argument("result_dir", nargs="?", default=".", help="where to write results")
    parser.add_argument("--worker", action="store_true", help="run as a Locust worker")
    parser.add_argument("--master-host", default=LOOPBACK)
    parser.add_argument("--master-port", type=int, default=5557)
    parser.add_argument("--worker-index", type=int, default=0)
    return parser.parse_args(argv)


def load_user_classes(plan: LoadPlan) -> list[type[PacedUser]]:
    """Import the plan's locustfile and return its concrete `PacedUser` classes."""
    path = plan.locustfile
    spec = importlib.util.spec_from_file_location(f"locustfile_{plan.scenario}", path)
    if spec is None or spec.loader is None:
        raise RunFailedError(f"cannot import locustfile {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, PacedUser) and not value.abstract
    ]
    if not classes:
        raise RunFailedError(f"{path} defines no PacedUser subclass; subclass load.locust_user")
    return classes


def new_environment(
    plan: LoadPlan, process_index: int, local_users: Callable[[], int]
) -> tuple[Environment, Engine]:
    """An Environment with the plan's users, a pacer and a recorder listening to requests."""
    random.seed(f"{plan.seed}:{process_index}")  # Locust picks weighted tasks with `random`
    environment = Environment(user_classes=list(load_user_classes(plan)), host=plan.base_url)
    pacer = Pacer(plan.rate_per_second, plan.users, plan.duration_seconds, local_users)
    engine = Engine(plan, pacer, Recorder(), process_index)
    attach(environment, engine)
    environment.events.request.add_listener(_listener(engine.recorder))  # type: ignore[no-untyped-call]
    return environment, engine


def _listener(recorder: Recorder) -> Callable[..., None]:
    def on_request(
        request_type: str,
        name: str,
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        response: Any = None,
        **_: Any,
    ) -> None:
        end = time.perf_counter()
        if not context or ORIGIN not in context:
            return  # not a paced request
        kind = error_kind(exception, response)
        recorder.record(f"{request_type} {name}", context[ORIGIN], context[SENT], end, kind)

    return on_request


def error_kind(exception: BaseException | None, response: Any) -> str | None:
    """None for success; else "HTTP <status>" or the exception's class name."""
    if exception is None:
        return None
    status = getattr(response, "status_code", None)
    if isinstance(status, int) and status >= 400:
        return f"HTTP {status}"
    return type(exception).__name__


def finish(engine: Engine, give_up_at: float) -> dict[str, Any]:
    """Wait for the load window and the drain, record what is unfinished, snapshot."""
    pacer = engine.pacer
    _wait_until(lambda: pacer.started, give_up_at, "no user started")
    end = pacer.end
    gevent.sleep(max(0.0, end - time.perf_counter()))
    drain_until = end + DRAIN_SECONDS
    while not pacer.idle() and time.perf_counter() < drain_until:
        gevent.sleep(POLL_SECONDS)
    now = time.perf_counter()
    recorder = engine.recorder
    completed = len(recorder.records)
    recorder.record_unfinished(pacer.unfinished(now), now)
    recorder.stop(engine.plan.duration_seconds, now, time.process_time())
    snapshot = recorder.snapshot()  # no yield since the accounting: nothing counted twice
    journal.info(
        "process %d: %d users, %d requests completed, %d unfinished after a %.2f s drain",
        engine.process_index,
        len(pacer.users),
        completed,
        len(recorder.records) - completed,
        now - end,
    )
    return snapshot


def _wait_until(condition: Callable[[], bool], give_up_at: float, what: str) -> None:
    while not condition():
        if time.perf_counter() > give_up_at:
            raise RunFailedError(f"{what} within the child's deadline")
        gevent.sleep(POLL_SECONDS)


def _finish_deadline(plan: LoadPlan) -> float:
    return time.perf_counter() + START_SECONDS + plan.ramp_seconds + plan.duration_seconds


def run_local(plan: LoadPlan, out: Path) -> None:
    environment, engine = new_environment(plan, 0, lambda: plan.users)
    runner = environment.create_local_runner()
    runner.start(plan.users, spawn_rate=plan.effective_spawn_rate)
    try:
        snapshot = finish(engine, _finish_deadline(plan))
    finally:
        runner.quit()
    _write(plan, [snapshot], out)


def run_master(plan: LoadPlan, plan_path: Path, out: Path) -> None:
    environment, _ = new_environment(plan, 0, lambda: 0)
    port = PortAllocator().reserve()
    runner = environment.create_master_runner(LOOPBACK, port)
    results: dict[str, dict[str, Any]] = {}
    runner.register_message(RESULT_MESSAGE, _collect(results))
    workers = _start_workers(plan, plan_path, port, out)
    try:
        _wait_for_workers(runner, workers, plan.processes)
        runner.start(plan.users, spawn_rate=plan.effective_spawn_rate)
        give_up_at = _finish_deadline(plan) + DRAIN_SECONDS + 10.0
        _wait_until(lambda: len(results) >= plan.processes, give_up_at, "not all workers reported")
    finally:
        runner.quit()
        _stop_workers(workers)
    _write(plan, list(results.values()), out)


def _collect(results: dict[str, dict[str, Any]]) -> Callable[..., None]:
    def on_result(msg: Any, **_: Any) -> None:
        results[str(msg.node_id)] = msg.data

    return on_result


def _start_workers(
    plan: LoadPlan, plan_path: Path, port: int, out: Path
) -> list[subprocess.Popen[bytes]]:
    workers = []
    for index in range(plan.processes):
        argv = [sys.executable, "-m", "load.child", "--worker", str(plan_path)]
        argv += ["--master-port", str(port), "--worker-index", str(index + 1)]
        with (out / f"worker-{index + 1}.log").open("ab") as worker_log:
            workers.append(
                subprocess.Popen(argv, cwd=REPO_ROOT, stdout=worker_log, stderr=subprocess.STDOUT)
            )
    return workers


def _wait_for_workers(
    runner: MasterRunner, workers: list[subprocess.Popen[bytes]], count: int
) -> None:
    give_up_at = time.perf_counter() + WORKER_CONNECT_SECONDS
    while runner.worker_count < count:
        exited = [w for w in workers if w.poll() is not None]
        if exited:
            code = exited[0].returncode
            raise RunFailedError(
                f"a worker exited with code {code} before the run; see worker-*.log"
            )
        if time.perf_counter() > give_up_at:
            raise RunFailedError(
                f"{runner.worker_count} of {count} workers connected within "
                f"{WORKER_CONNECT_SECONDS:g} s; see worker-*.log"
            )
        gevent.sleep(0.1)


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def run_worker(plan: LoadPlan, master_host: str, master_port: int, index: int) -> None:
    runner: WorkerRunner | None = None

    def local_users() -> int:
        return 0 if runner is None else runner.target_user_count

    environment, engine = new_environment(plan, index, local_users)
    runner = environment.create_worker_runner(master_host, master_port)
    give_up_at = _finish_deadline(plan) + WORKER_CONNECT_SECONDS
    snapshot = finish(engine, give_up_at)
    runner.send_message(RESULT_MESSAGE, snapshot)
    runner.greenlet.join(timeout=DRAIN_SECONDS + 30.0)  # until the master says quit


def _write(plan: LoadPlan, snapshots: list[dict[str, Any]], out: Path) -> None:
    try:
        records, window = merge_snapshots(snapshots)
    except RuntimeError as error:
        raise RunFailedError(str(error)) from None
    meta = {
        "scenario": plan.scenario,
        "open_model": plan.open_model,
        "processes": plan.processes,
    }
    path = write_results(records, window, out, meta)
    journal.info("wrote %s: %d requests", path, len(records))


if __name__ == "__main__":
    sys.exit(main())

"""The load child: one load process of a `LoadPlan`, run with Locust's library API.

    python -m load.child PLAN_JSON RESULT_DIR [--process I] [--watch-stdin]

Locust patches the standard library for gevent when imported, so this runs in its own
process (started by `load.runner`, which also enforces its deadline), never in pytest's.
Process I of a plan with N processes runs its share of the VUs and of the rate
(`LoadPlan.vus_of`, `rate_of`) in one `LocalRunner` and streams its records to
`RESULT_DIR/records-I.tsv` (`load.records`). With `--watch-stdin` it ends the run early
(a drain, then the footer) when a line `stop` arrives on stdin or stdin closes, so a load
child never outlives the process that started it.

Exit codes: 0 done, 2 the plan is invalid (nothing was sent), 3 the run failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
from gevent.fileobject import FileObjectPosix  # type: ignore[import-untyped]
from locust import User
from locust.env import Environment  # importing Locust patches this process for gevent

from load.errors import LoadPlanError
from load.locust_user import CONTEXT_KEY, ITERATION_KEY, Engine, attach, mix_user, paced
from load.plan import LoadPlan
from load.records import RecordWriter
from load.traffic import Expectation
from system.deadline import NotYet, WaitTimeoutError, wait_until

journal = logging.getLogger("load.child")  # what the child did, for the run's log
EXIT_OK, EXIT_BAD_PLAN, EXIT_FAILED = 0, 2, 3
DRAIN_SECONDS = 5.0  # the longest wait for in-flight requests after the load window
START_SECONDS = 30.0  # from runner start to every VU having joined
FLUSH_SECONDS = 0.25
POLL_SECONDS = 0.02


class RunFailedError(Exception):
    """The run cannot go on; the message says why."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    journal.setLevel(logging.INFO)
    try:
        plan = _read_plan(Path(args.plan), args.process)
    except (LoadPlanError, OSError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return EXIT_BAD_PLAN
    journal.info("plan: %s", plan)
    out = Path(args.result_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        run(plan, args.process, out / f"records-{args.process}.tsv", watch_stdin=args.watch_stdin)
    except RunFailedError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _read_plan(path: Path, process: int) -> LoadPlan:
    plan = LoadPlan.from_json(path.read_text())
    if not 0 <= process < plan.processes:
        raise LoadPlanError(f"--process {process} is not in 0..{plan.processes - 1}")
    return plan


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m load.child", description=__doc__)
    parser.add_argument("plan", help="the plan, as written by LoadPlan.to_json")
    parser.add_argument("result_dir", nargs="?", default=".", help="where to write records")
    parser.add_argument("--process", type=int, default=0, help="which load process this is")
    parser.add_argument(
        "--watch-stdin", action="store_true", help="stop early on 'stop' or EOF on stdin"
    )
    return parser.parse_args(argv)


def load_user_classes(plan: LoadPlan) -> list[type[User]]:
    """The plan's users: a `MixUser` for a request mix, else the Locust file's concrete user
    classes (plain ones wrapped by `paced` to take the engine's arrivals)."""
    traffic = plan.traffic
    if traffic.mix:
        return [mix_user(traffic.mix)]
    assert traffic.locustfile is not None
    path = Path(traffic.locustfile)
    spec = importlib.util.spec_from_file_location(f"locustfile_{plan.scenario}", path)
    if spec is None or spec.loader is None:
        raise RunFailedError(f"cannot import locustfile {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, User) and not value.abstract
    ]
    if not classes:
        raise RunFailedError(
            f"{path} defines no Locust user class (HttpUser, FastHttpUser or PacedUser)"
        )
    try:
        return [paced(user_class) for user_class in classes]
    except TypeError as error:
        raise RunFailedError(f"{path}: {error}") from None


def new_environment(plan: LoadPlan, engine: Engine) -> Environment:
    """An Environment with the plan's users and the engine listening to their requests."""
    return equip(Environment(user_classes=[], host=plan.base_url), plan, engine)


def equip(environment: Environment, plan: LoadPlan, engine: Engine) -> Environment:
    """Give `environment` the plan's users and the engine listening to their requests: at
    once here, when the master's plan arrives in a worker (`load.worker`)."""
    random.seed(f"{plan.seed}:{engine.process}")  # Locust picks weighted tasks with `random`
    environment.user_classes = list(load_user_classes(plan))
    environment.host = plan.base_url
    attach(environment, engine)
    environment.events.request.add_listener(_listener(engine))  # type: ignore[no-untyped-call]
    return environment


def _listener(engine: Engine) -> Callable[..., None]:
    expect = engine.plan.traffic.expect

    def on_request(
        request_type: str = "",
        name: str = "",
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        response: Any = None,
        **_: Any,
    ) -> None:
        end = time.monotonic()
        if not context or CONTEXT_KEY not in context:
            return
        kind = error_kind(exception, response, expect, f"{request_type} {name}")
        if context.get(ITERATION_KEY):
            engine.note(int(context[CONTEXT_KEY]), kind)
        else:
            engine.complete(int(context[CONTEXT_KEY]), end, kind)

    return on_request


def error_kind(
    exception: BaseException | None,
    response: Any,
    expect: Expectation | None = None,
    route: str = "",
) -> str | None:
    """None for success; else "HTTP <status>", what the answer lacks, or the exception.

    The workload's statuses decide (2xx unless declared; a redirect is an error): a 404 a
    workload declares a success is one, though Locust calls it a failure. A user's own
    check that failed an answer (`catch_response`) keeps the answer failed."""
    status = getattr(response, "status_code", None)
    if not isinstance(status, int) or status <= 0:
        return None if exception is None else type(exception).__name__
    expect = expect or Expectation()
    body = getattr(response, "content", None) if expect.reads_body(route) else None
    problem = expect.problem(status, _content_type(response), route, body)
    if problem is not None:
        return problem
    if exception is not None and status < 400:
        return _short(exception)
    return None


def _content_type(response: Any) -> str | None:
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    found = headers.get("Content-Type") or headers.get("content-type")
    return None if found is None else str(found)


def _short(exception: BaseException) -> str:
    text = str(exception).strip().splitlines()[0] if str(exception).strip() else ""
    return f"{type(exception).__name__}: {text[:80]}" if text else type(exception).__name__


def run(plan: LoadPlan, process: int, path: Path, *, watch_stdin: bool) -> None:
    with path.open("w", encoding="utf-8") as stream:
        engine = Engine(plan, process, RecordWriter(stream))
        environment = new_environment(plan, engine)
        runner = environment.create_local_runner()
        runner.start(engine.vus, spawn_rate=plan.effective_spawn_rate)
        try:
            _joined(engine, START_SECONDS + plan.ramp_seconds)
            engine.start()
            helpers = [gevent.spawn(_flush, engine)]
            if watch_stdin:
                helpers.append(gevent.spawn(_watch_stdin, engine))
            _load_window(engine)
            _drain(engine)
            engine.finish(stopped_early=engine.asked_to_stop)
            gevent.killall(helpers)
        finally:
            runner.quit()
    journal.info("process %d: wrote %s (%s)", process, path, engine.progress())


def _load_window(engine: Engine) -> None:
    """Until the plan's duration ends or a stop is asked for; notes where the window ended."""
    if engine.schedule is not None:
        gevent.spawn(engine.dispatch).join()
    else:
        end = engine.t0 + engine.plan.duration_seconds
        engine.stop_requested.wait(timeout=max(0.0, end - time.monotonic()))
        engine.stop_requested.set()  # the closed model's users stop taking work
    if engine.asked_to_stop:
        engine.window_end = min(engine.plan.duration_seconds, engine.offset())


def _joined(engine: Engine, seconds: float) -> None:
    """Until every VU (the open model) or the first (the closed one) has joined."""
    wanted = engine.vus if engine.plan.open_model else 1
    try:
        wait_until(
            lambda: engine.joined >= wanted or NotYet(f"{engine.joined} joined"),
            seconds=seconds,
            what=f"{wanted} of {engine.vus} VUs joining",
            interval=POLL_SECONDS,
            sleep=gevent.sleep,
        )
    except WaitTimeoutError as timeout:
        raise RunFailedError(f"VUs did not join within the child's deadline: {timeout}") from None


def _drain(engine: Engine) -> None:
    """Until nothing is in flight; what still is after `DRAIN_SECONDS` is written down as
    unfinished by `Engine.finish`."""
    try:
        wait_until(
            lambda: not engine.busy() or NotYet(_busy(engine)),
            seconds=DRAIN_SECONDS,
            what="the requests in flight after the load window to end",
            interval=POLL_SECONDS,
            sleep=gevent.sleep,
        )
    except WaitTimeoutError as timeout:
        journal.info("process %d: drain: %s; recorded as unfinished", engine.process, timeout)


def _busy(engine: Engine) -> str:
    return f"{len(engine.in_flight)} in flight, {len(engine.handed)} handed to a VU not yet sent"


def _flush(engine: Engine) -> None:
    while True:
        gevent.sleep(FLUSH_SECONDS)
        engine.writer.tick(engine.progress())


def _watch_stdin(engine: Engine) -> None:
    stdin = FileObjectPosix(sys.stdin.fileno(), "rb", close=False)
    while True:
        line = stdin.readline()
        if not line or line.strip() == b"stop":
            journal.info("process %d: asked to stop at %.2f s", engine.process, engine.offset())
            engine.asked_to_stop = True
            engine.stop_requested.set()
            return


if __name__ == "__main__":
    sys.exit(main())

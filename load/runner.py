"""Run a load plan from pytest: in a child process, with a hard deadline.

`run_load(plan, workdir)` writes the plan, starts `python -m load.child` in its own
process group, and waits. The deadline is the plan's duration plus a margin for
startup, ramp-up, the drain and writing the result (`deadline_for`); at the deadline,
on Ctrl-C or on any other error the whole process group (the child and its Locust
workers) is terminated, then killed. Nothing here imports Locust or gevent.

    result = run_load(LoadPlan("graph_query", target.url, users=50, duration_seconds=60,
                               rate_per_second=40), tmp_path)
    require(result, [Gate("latency", 1.5, "graph_query", percentile=95)])
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from fixtures.lifecycle.reaper import Reaper, kill_process_group
from load.errors import LoadRunError
from load.plan import REPO_ROOT, LoadPlan
from load.result import LoadResult, read_result

STARTUP_MARGIN_SECONDS = 30.0  # Python + Locust import, workers connecting
FINISH_MARGIN_SECONDS = 20.0  # drain (5 s) + merging + writing histograms
EXIT_BAD_PLAN = 2


def deadline_for(plan: LoadPlan) -> float:
    """Seconds the child may take before it is killed."""
    workers = 10.0 * plan.processes
    return (
        plan.duration_seconds
        + plan.ramp_seconds
        + STARTUP_MARGIN_SECONDS
        + FINISH_MARGIN_SECONDS
        + workers
    )


def run_load(
    plan: LoadPlan,
    workdir: Path,
    *,
    deadline_seconds: float | None = None,
    reaper: Reaper | None = None,
) -> LoadResult:
    """Run `plan` in a child process; return its result or raise `LoadRunError`."""
    workdir.mkdir(parents=True, exist_ok=True)
    plan_path = workdir / "plan.json"
    plan_path.write_text(plan.to_json())
    result_dir = workdir / "result"
    result_dir.mkdir(exist_ok=True)
    log_path = workdir / "child.log"
    deadline = deadline_for(plan) if deadline_seconds is None else deadline_seconds
    argv = [sys.executable, "-m", "load.child", str(plan_path), str(result_dir)]
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one group: the child and its workers stop together
        )
    if reaper is not None:
        reaper.track_process_group(child.pid)
    try:
        code = _wait(child, deadline, log_path)
    finally:
        kill_process_group(child.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)
        if reaper is not None:
            reaper.untrack_process_group(child.pid)
    if code != 0:
        raise LoadRunError(_failure(plan, code, log_path))
    return read_result(plan, result_dir, log_path)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO_ROOT) if not path else f"{REPO_ROOT}{os.pathsep}{path}"
    return env


def _wait(child: subprocess.Popen[bytes], deadline: float, log_path: Path) -> int:
    give_up_at = time.monotonic() + deadline
    while (code := child.poll()) is None:
        if time.monotonic() > give_up_at:
            raise LoadRunError(
                f"load child did not finish within its deadline of {deadline:.0f} s; its "
                f"process group was killed; {log_path} ends with: {log_tail(log_path, 3)}"
            )
        time.sleep(0.05)
    return code


def _failure(plan: LoadPlan, code: int, log_path: Path) -> str:
    what = "rejected the plan (nothing was sent)" if code == EXIT_BAD_PLAN else "failed"
    return (
        f"load child for scenario {plan.scenario!r} {what} with exit code {code}; "
        f"{log_path} ends with: {log_tail(log_path, 5)}"
    )


def log_tail(path: Path, lines: int) -> str:
    try:
        with path.open(errors="replace") as log:
            return " | ".join(line.rstrip() for line in deque(log, maxlen=lines))
    except OSError:
        return "(no log written)"

"""Run a load plan from pytest: child processes in the background, or to the end.

    with start_load(plan, workdir, reaper=reaper) as run:   # non-blocking
        ...                                                  # inject a fault, wait
        during = run.result(since=a, until=b)                # a window, mid-run
        run.stop()                                           # end early (drain, then exit)
        result = run.wait()                                  # the whole run

    result = run_load(plan, workdir)                         # start and wait

Each load process is `python -m load.child` in its own process group, with stdin a pipe:
closing it (stop, or the death of this process, even by SIGKILL) ends the child's run.
`close()` (on leaving the `with`, on Ctrl-C, on any error) terminates, then kills, every
process group; the reaper, when given, kills them if this process dies first. The
deadline (`deadline_for`) is the plan's duration plus margins for start-up and drain.
Nothing here imports Locust or gevent.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from fixtures.lifecycle.closing import Closing
from fixtures.lifecycle.reaper import Reaper, kill_process_group
from load.errors import LoadRunError
from load.plan import LoadPlan
from load.records import RunRecords, read_run
from load.result import LoadResult, ResultFiles, summarize
from system.deadline import Deadline

REPO_ROOT = Path(__file__).resolve().parents[1]  # where `python -m load.child` runs
STARTUP_MARGIN_SECONDS = 30.0  # Python + Locust import, VUs joining
FINISH_MARGIN_SECONDS = 15.0  # drain (5 s) + the footer
EXIT_BAD_PLAN = 2
POLL_SECONDS = 0.05


def deadline_for(plan: LoadPlan) -> float:
    """Seconds the children may take before they are killed."""
    return (
        plan.duration_seconds + plan.ramp_seconds + STARTUP_MARGIN_SECONDS + FINISH_MARGIN_SECONDS
    )


class LoadRun(Closing):
    """The load processes of one plan, and their records as they are written."""

    def __init__(
        self,
        plan: LoadPlan,
        workdir: Path,
        *,
        deadline_seconds: float | None = None,
        reaper: Reaper | None = None,
    ) -> None:
        self.plan = plan
        self.workdir = workdir
        self.reaper = reaper
        self.deadline = deadline_for(plan) if deadline_seconds is None else deadline_seconds
        self.result_dir = workdir / "result"
        self._children: list[subprocess.Popen[bytes]] = []
        self._deadline = Deadline(0.0)  # the run's, from start(): checked by check()

    @property
    def files(self) -> ResultFiles:
        count = self.plan.processes
        return ResultFiles(
            directory=self.result_dir,
            records=tuple(self.result_dir / f"records-{i}.tsv" for i in range(count)),
            logs=tuple(self.workdir / f"child-{i}.log" for i in range(count)),
        )

    def start(self) -> LoadRun:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.result_dir.mkdir(exist_ok=True)
        plan_path = self.workdir / "plan.json"
        plan_path.write_text(self.plan.to_json())
        self._deadline = Deadline(self.deadline)
        try:
            for index, log_path in enumerate(self.files.logs):
                self._children.append(self._spawn(plan_path, index, log_path))
        except BaseException:
            self.close()
            raise
        return self

    def _spawn(self, plan_path: Path, index: int, log_path: Path) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "load.child", str(plan_path), str(self.result_dir)]
        argv += ["--process", str(index), "--watch-stdin"]
        with log_path.open("ab") as log:
            child = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                env=child_env(),
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: one signal stops it whole
            )
        if self.reaper is not None:
            self.reaper.track_process_group(child.pid)
        return child

    # while it runs --------------------------------------------------------------------
    def check(self) -> None:
        """`LoadRunError` if a child failed or the deadline passed (then all are killed)."""
        for index, child in enumerate(self._children):
            code = child.poll()
            if code is not None and code != 0:
                self.close()
                raise LoadRunError(self._failure(index, code))
        if self._deadline.expired:
            self.close()
            raise LoadRunError(
                f"load child did not finish within its deadline of {self.deadline:.0f} s; its "
                f"process group was killed; {self.files.logs[0]} ends with: "
                f"{log_tail(self.files.logs[0], 3)}"
            )

    def wait_started(self) -> RunRecords:
        """Block until every process has written its header; their records so far."""
        while True:
            self.check()
            if all(path.exists() and path.stat().st_size > 0 for path in self.files.records):
                with contextlib.suppress(LoadRunError):
                    return read_run(self.files.records)
            time.sleep(POLL_SECONDS)

    def t0_monotonic(self) -> float:
        """The earliest process's t0 on this machine's monotonic clock."""
        return min(float(log.header["t0_monotonic"]) for log in self.wait_started().processes)

    def started(self) -> tuple[float, float]:
        """When the load began: the earliest t0 on the wall and the monotonic clock."""
        return self.wait_started().started_at, self.t0_monotonic()

    def records(self) -> RunRecords:
        self.check()
        return read_run(self.files.records)

    def result(
        self, *, since: float | None = None, until: float | None = None, now: float | None = None
    ) -> LoadResult:
        """A window of the run by intended wall-clock time (default: all of it so far)."""
        records = self.wait_started()
        moment = time.time() if now is None else now
        return summarize(self.plan, records, self.files, since=since, until=until, now=moment)

    def finished(self) -> bool:
        return bool(self._children) and all(child.poll() is not None for child in self._children)

    def stop(self) -> None:
        """Ask every child to end its run now (it drains, writes its footer, exits)."""
        for child in self._children:
            if child.stdin is not None and not child.stdin.closed:
                with contextlib.suppress(OSError):
                    child.stdin.write(b"stop\n")
                    child.stdin.close()

    def wait(self) -> LoadResult:
        """Wait for every child to exit; the whole run's result, or `LoadRunError`."""
        try:
            while not self.finished():
                self.check()
                time.sleep(POLL_SECONDS)
            self.check()
            return summarize(self.plan, read_run(self.files.records), self.files)
        finally:
            self.close()

    def close(self) -> None:
        """Terminate, then kill, every child's process group; idempotent."""
        for child in self._children:
            if child.stdin is not None:
                with contextlib.suppress(OSError):
                    child.stdin.close()
            kill_process_group(child.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
            if self.reaper is not None:
                self.reaper.untrack_process_group(child.pid)

    def _failure(self, index: int, code: int) -> str:
        what = "rejected the plan (nothing was sent)" if code == EXIT_BAD_PLAN else "failed"
        log = self.files.logs[index]
        return (
            f"load child {index} for scenario {self.plan.scenario!r} {what} with exit code "
            f"{code}; {log} ends with: {log_tail(log, 5)}"
        )


def start_load(
    plan: LoadPlan,
    workdir: Path,
    *,
    deadline_seconds: float | None = None,
    reaper: Reaper | None = None,
) -> LoadRun:
    """Start `plan`'s load processes in the background; use the run as a context manager."""
    return LoadRun(plan, workdir, deadline_seconds=deadline_seconds, reaper=reaper).start()


def run_load(
    plan: LoadPlan,
    workdir: Path,
    *,
    deadline_seconds: float | None = None,
    reaper: Reaper | None = None,
) -> LoadResult:
    """Run `plan` to its end; return its result or raise `LoadRunError`."""
    with start_load(plan, workdir, deadline_seconds=deadline_seconds, reaper=reaper) as run:
        return run.wait()


def child_env() -> dict[str, str]:
    """This environment with the repository on PYTHONPATH, for `python -m load.…` children."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO_ROOT) if not path else f"{REPO_ROOT}{os.pathsep}{path}"
    return env


def log_tail(path: Path, lines: int) -> str:
    try:
        with path.open(errors="replace") as log:
            return " | ".join(line.rstrip() for line in deque(log, maxlen=lines))
    except OSError:
        return "(no log written)"

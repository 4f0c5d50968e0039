"""A distributed run judged like a local one: its merged histograms as a `LoadResult`.

The gates (`load.gates`), the sequential looks (`load.sequential`), the evidence
(`load.evidence`) and the cross-check read a `LoadResult`. A local run's comes from one
record per request (`load.result.summarize`); a distributed run's (`load.distributed`)
from the master's merged interval HDR histograms, here. Which figures come from where:

- latency of every sent request (from its intended time), per route and per second,
  counts and failures: the merged histograms (exact sums, 3 significant digits; a
  percentile here equals the local run's to that precision);
- service time (send to response end, for the cross-check's queueing allowance): the
  merged `service` histograms of the answered requests;
- error kinds, VUs, peak in flight, CPU, lag, dropped arrivals: each worker's own report,
  summed (counts) or the worst of them (CPU, lag); the lag's P99 is not sent, its max is;
- a worker missing, lost or failed: the master's verdict (`GeneratorStats.workers_problem`),
  which makes the run invalid, never a target failure.

A look during the run (`DistributedLoadRun.result`) reads the progress file the master
rewrites every second. What the workers have not reported yet is *pending*: the plan's
arrivals due before the look minus those recorded and dropped; their latency is at least
the time from the look to the workers' last report, which is all the gates assume.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fixtures.lifecycle.closing import Closing
from load.distributed import (
    EXIT_OK,
    REPORT_SECONDS,
    DistributedResult,
    DistributedRun,
    progress_path,
)
from load.errors import LoadRunError
from load.histograms import FAILURE, SERVICE, MergedHistograms, encode
from load.pacing import ArrivalSchedule
from load.plan import LoadPlan
from load.result import (
    GeneratorStats,
    LoadResult,
    ResultFiles,
    RouteStats,
    SecondStats,
    to_us,
)
from load.stats import LatencyDistribution
from system.deadline import NotYet, WaitTimeoutError, wait_until

STARTED_POLL_SECONDS = 0.1


def distribution(histogram: Any) -> LatencyDistribution:
    """An HDR histogram's recorded values (each bucket's highest equivalent value, as HDR's
    own percentiles give them) with their counts."""
    return LatencyDistribution(
        tuple(
            (int(item.value_iterated_to), int(item.count_at_value_iterated_to))
            for item in histogram.get_recorded_iterator()
        )
    )


def merged_result(
    plan: LoadPlan,
    run: DistributedResult,
    files: ResultFiles,
    *,
    until: float | None = None,
    pending_latency: float = 0.0,
) -> LoadResult:
    """The window [0, `until`) seconds after the master's go (default: the whole run)."""
    timing = run.data.get("timing", {})
    finished = bool(run.data.get("finished", True))
    go_wall = float(timing.get("go_wall", run.data.get("written_at", 0.0)))
    end = float(timing.get("window_end", plan.duration_seconds)) if until is None else until
    merged = run.merged
    every = merged.histogram(until=end)
    recorded = int(every.get_total_count())
    generator = _generator(plan, run, end)
    pending = 0 if finished else max(0, generator.arrivals - recorded - generator.dropped_total)
    latency = distribution(every).added(to_us(pending_latency), pending)
    failures = int(merged.histogram(outcome=FAILURE, until=end).get_total_count())
    return LoadResult(
        plan=plan,
        started_at=go_wall,
        ended_at=go_wall + end,
        latency=latency,
        service=distribution(merged.histogram(outcome=SERVICE, until=end)),
        requests=recorded + pending,
        completed=recorded - _unfinished(run.workers),
        errors=failures,
        error_kinds=_error_kinds(run.workers),
        pending=pending,
        routes=_routes(merged, end),
        timeline=_timeline(merged, end),
        generator=generator,
        files=files,
        finished=finished,
        pending_latency=pending_latency,
        intervals=tuple((s, encode(_second(merged, s))) for s in _seconds(merged, end)),
    )


def _seconds(merged: MergedHistograms, end: float) -> list[int]:
    return [second for second in merged.seconds() if second < end]


def _second(merged: MergedHistograms, second: int) -> Any:
    return merged.histogram(since=second, until=second + 1)


def _routes(merged: MergedHistograms, end: float) -> tuple[RouteStats, ...]:
    routes = []
    for route in merged.routes():
        every = merged.histogram(route=route, until=end)
        if every.get_total_count() == 0:
            continue
        failures = merged.histogram(route=route, outcome=FAILURE, until=end).get_total_count()
        routes.append(
            RouteStats(route, int(every.get_total_count()), int(failures), distribution(every))
        )
    return tuple(routes)


def _timeline(merged: MergedHistograms, end: float) -> tuple[SecondStats, ...]:
    rows = []
    for second in _seconds(merged, end):
        every = _second(merged, second)
        failures = merged.histogram(outcome=FAILURE, since=second, until=second + 1)
        latency = distribution(every)
        rows.append(
            SecondStats(
                second=second,
                requests=latency.n,
                errors=int(failures.get_total_count()),
                dropped=0,  # the workers report their drops per run, not per second
                p50=latency.quantile(0.50),
                p95=latency.quantile(0.95),
                max=latency.max,
            )
        )
    return tuple(rows)


def _generator(plan: LoadPlan, run: DistributedResult, end: float) -> GeneratorStats:
    """The workers' reports as one generator's; the arrivals are the plan's due before `end`
    (drops are counted per run: a look counts those just after it too, the worst case)."""
    workers = run.workers
    dropped: Counter[str] = Counter()
    for worker in workers:
        dropped.update({str(k): int(v) for k, v in dict(worker.get("dropped", {})).items()})
    arrivals = ArrivalSchedule(float(plan.rate_per_second or 0.0), plan.duration_seconds)
    lag = max((float(worker.get("lag_seconds", 0.0)) for worker in workers), default=0.0)
    return GeneratorStats(
        vus=sum(int(worker.get("vus", 0)) for worker in workers) or plan.vus,
        peak_in_flight=sum(int(worker.get("peak_in_flight", 0)) for worker in workers),
        cpu=max((float(worker.get("cpu", 0.0)) for worker in workers), default=0.0),
        dropped=dict(dropped.most_common()),
        tolerance=plan.send_tolerance_seconds,
        send_lag_p99=lag,  # the workers send their lag's max only
        send_lag_max=lag,
        arrivals=arrivals.count_before(end),
        max_dropped_ratio=plan.max_dropped_ratio,
        host_busy=max((float(worker.get("host_busy", 0.0)) for worker in workers), default=0.0),
        workers_problem=None if run.valid else run.reason,
        workers=int(run.data.get("expected_workers", len(workers))),
        rate=plan.rate_per_second or 0.0,
        window=end,
        generators=max(1, len(workers)),
    )


def _error_kinds(workers: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    kinds: Counter[str] = Counter()
    for worker in workers:
        kinds.update({str(k): int(v) for k, v in dict(worker.get("errors", {})).items()})
    return dict(kinds.most_common())


def _unfinished(workers: Iterable[Mapping[str, Any]]) -> int:
    return sum(int(worker.get("unfinished", 0)) for worker in workers)


class DistributedLoadRun(Closing):
    """A master and its workers with `load.runner.LoadRun`'s face (`load.sequential.Judged`):
    started, looked at during the run, stopped early, waited for."""

    def __init__(self, plan: LoadPlan, workdir: Path, **options: Any) -> None:
        self.plan = plan
        self.run = DistributedRun(plan, workdir, **options)
        names = [f"w{index}" for index in range(self.run.workers)]
        self.files = ResultFiles(
            directory=workdir,
            records=(self.run.result_path,),
            logs=(workdir / "master.log", *(workdir / f"worker-{name}.log" for name in names)),
        )
        self._started: tuple[float, float] | None = None
        self._final: LoadResult | None = None

    def start(self) -> DistributedLoadRun:
        self.run.start()
        return self

    def check(self) -> None:
        """`LoadRunError` if the master failed or the run's deadline passed."""
        master = self.run.master
        code = None if master is None else master.poll()
        if code is not None and code != EXIT_OK:
            self.run.close()
            raise LoadRunError(f"distributed load master exited {code}: {self.run.master_log()}")
        if self.run.expired():
            self.run.close()
            raise LoadRunError(
                f"distributed load did not finish within {self.run.deadline:.0f} s; killed; "
                f"master.log ends with: {self.run.master_log()}"
            )

    def started(self) -> tuple[float, float]:
        """The master's go, on the wall and the monotonic clock (it runs on this machine)."""
        if self._started is None:

            def go() -> tuple[float, float] | NotYet:
                self.check()
                timing = self._progress().data.get("timing", {}) if self._has_progress() else {}
                if "go_wall" not in timing:
                    if self.finished():  # ended before the go: a worker missing at start
                        return (self.wait().started_at, time.monotonic())
                    return NotYet("no go from the master yet")
                return float(timing["go_wall"]), float(timing["go_monotonic"])

            try:
                self._started = wait_until(
                    go, seconds=self.run.deadline, what="the master's go", interval=0.1
                )
            except WaitTimeoutError as timeout:
                raise LoadRunError(f"{timeout}: {self.run.master_log()}") from None
        return self._started

    def result(
        self, *, since: float | None = None, until: float | None = None, now: float | None = None
    ) -> LoadResult:
        """The window [go, `until`) (wall clock) from the master's last progress file."""
        if since is not None:
            raise LoadRunError("a distributed run's window starts at the master's go")
        if self._final is not None:
            return self._final
        go_wall, _ = self.started()
        progress = self._progress()
        cut = None if until is None else max(0.0, until - go_wall)
        written = float(progress.data.get("written_at", go_wall))
        # unreported requests of the window were in flight at the workers' last reports,
        # at most two report intervals before the file was written
        seen = written - 2 * REPORT_SECONDS
        pending_latency = 0.0 if until is None else max(0.0, seen - until)
        return merged_result(
            self.plan, progress, self.files, until=cut, pending_latency=pending_latency
        )

    def finished(self) -> bool:
        master = self.run.master
        return master is not None and master.poll() is not None

    def stop(self) -> None:
        """Ask the master to end the load now (it stops every worker, then writes)."""
        master = self.run.master
        if master is not None and master.stdin is not None and not master.stdin.closed:
            try:
                master.stdin.write(b"stop\n")
                master.stdin.flush()
            except OSError:
                pass

    def wait(self) -> LoadResult:
        """Until the master has written its result; the whole run's, or `LoadRunError`."""
        if self._final is None:
            self._final = merged_result(self.plan, self.run.wait(), self.files)
        return self._final

    def close(self) -> None:
        self.run.close()

    def _has_progress(self) -> bool:
        return progress_path(self.run.result_path).exists()

    def _progress(self) -> DistributedResult:
        return DistributedResult.read(progress_path(self.run.result_path))


def start_merged(plan: LoadPlan, workdir: Path, **options: Any) -> DistributedLoadRun:
    """Start `plan` on a master and workers (`DistributedRun`'s options); a context manager."""
    return DistributedLoadRun(plan, workdir, **options).start()

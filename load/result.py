"""The result of a load run, or of a time window of it, computed from its records.

`summarize` cuts the merged records (`load.records`) by each request's intended send time:
[since, until). A result of a run still going counts what it cannot know yet apart:
`pending` requests are due in the window and not answered; their latency is at least the
time since the window's end, and whether they fail is open (`load.gates` judges both ways).

"Latency" is measured from each request's origin (`load.pacing`): the intended send time
in the open model, the send time in the closed model. Everything sent is the target's:
answered, failed, or still in flight when the run ended (an error, with the lower bound
of its latency). Arrivals the generator dropped are counted apart (`GeneratorStats`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from load.pacing import CAP, LATE
from load.plan import LoadPlan
from load.records import (
    COMPLETED,
    DROPPED,
    SUCCESS,
    UNFINISHED,
    Columns,
    ProcessLog,
    RunRecords,
)
from load.stats import LatencyDistribution

SATURATED_CPU = 0.9
LOWEST_US, HIGHEST_US = 1, 3_600_000_000  # one hour: anything slower is recorded as one hour
# The one precision of every HDR histogram of the harness (evidence, workers, merges):
# histograms of one precision add exactly.
SIGNIFICANT_DIGITS = 3


def to_us(seconds: float) -> int:
    return min(max(round(seconds * 1_000_000), LOWEST_US), HIGHEST_US)


@dataclass(frozen=True)
class RouteStats:
    """One route template (e.g. "GET /items/{id}") of a run."""

    route: str
    requests: int
    errors: int
    latency: LatencyDistribution

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class SecondStats:
    """One second of the window (by intended send time): counts and exact P50/P95/max in s."""

    second: int
    requests: int
    errors: int
    dropped: int
    p50: float
    p95: float
    max: float


@dataclass(frozen=True)
class GeneratorStats:
    """How well the load generator held its plan: what it dropped, how busy it was."""

    vus: int
    peak_in_flight: int
    cpu: float  # the busiest load process's CPU share (1.0 = one core all the time)
    dropped: Mapping[str, int]
    tolerance: float
    send_lag_p99: float
    send_lag_max: float
    arrivals: int = 0  # due in the window: sent, pending or dropped
    max_dropped_ratio: float = 0.0
    host_busy: float = 0.0  # the machine's CPU over the run (all cores; 1.0 = all busy)
    host_steal: float = 0.0  # the share of it the hypervisor took for other guests
    # a distributed run's master: a worker missing at start, lost or failed (`load.merged`)
    workers_problem: str | None = None
    workers: int = 0  # a distributed run's workers (0: this machine's load processes)
    rate: float = 0.0  # the plan's arrival rate (0: the closed model)
    window: float = 0.0  # seconds of the window the arrivals are due in
    generators: int = 1  # the load processes or workers the rate was spread over

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def saturated(self) -> bool:
        return self.cpu >= SATURATED_CPU

    @property
    def dropped_ratio(self) -> float:
        return self.dropped_total / self.arrivals if self.arrivals else 0.0

    def problem(self) -> str | None:
        """Why this run does not measure the target at its planned rate, or None.

        A few drops (at most `max_dropped_ratio` of the arrivals: a GC pause) are not a
        problem: the gates count them against the target for a pass.
        """
        parts = [] if self.workers_problem is None else [self.workers_problem]
        if self.dropped_total and self.dropped_ratio > self.max_dropped_ratio:
            reasons = ", ".join(f"{reason}: {count}" for reason, count in self.dropped.items())
            parts.append(
                f"the load generator dropped {self.dropped_total} of {self.arrivals} arrivals "
                f"({self.dropped_ratio:.2%} > {self.max_dropped_ratio:.2%}; {reasons}); "
                + self._advice()
            )
        if self.saturated:
            parts.append(
                f"the load generator's CPU was {self.cpu:.0%} busy (>= {SATURATED_CPU:.0%}): its "
                "own queueing is in the latencies; add processes or lower the rate"
            )
        if parts:  # what spoiled it is this machine, not the target: say how it was
            parts.append(self.host())
        return "; ".join(parts) or None

    def host(self) -> str:
        """The machine's CPU over the run: what an invalid run names as its cause."""
        return (
            f"the host's CPU was {self.host_busy:.0%} busy, {self.host_steal:.1%} stolen by "
            f"the hypervisor; the generator's send lag P99 {self.send_lag_p99 * 1e3:.0f} ms, "
            f"max {self.send_lag_max * 1e3:.0f} ms"
        )

    def _advice(self) -> str:
        advice = []
        if self.dropped.get(CAP):
            advice.append(
                f"all {self.vus} VUs were busy (peak in flight {self.peak_in_flight}): raise "
                "max_in_flight or add processes"
            )
        if any(reason.startswith(LATE) for reason in self.dropped):
            advice.append(
                f"it could not send within {self.tolerance * 1e3:.0f} ms of the intended time "
                f"(the sent ones' lag max {self.send_lag_max * 1e3:.0f} ms): give it CPU "
                "(processes, a quieter machine) or lower the rate"
            )
            advice += [needed] if (needed := self.generators_needed()) else []
        return "; ".join(advice) or "see the run's records"

    def generators_needed(self) -> str | None:
        """How many generators the planned rate needs, at the rate each held here."""
        if self.rate <= 0 or self.window <= 0 or self.arrivals <= self.dropped_total:
            return None
        held = (self.arrivals - self.dropped_total) / self.window / self.generators
        needed = max(self.generators + 1, math.ceil(self.rate / held))
        return (
            f"each of its {self.generators} generator(s) held about {held:.0f}/s: "
            f"{self.rate:g}/s needs about {needed} on machines of their own "
            f"(a profile's [load] workers = {needed}, docs/distributed-load.md)"
        )


@dataclass(frozen=True)
class ResultFiles:
    directory: Path
    records: tuple[Path, ...]
    logs: tuple[Path, ...]


@dataclass(frozen=True)
class LoadResult:
    """Latencies, counts and timeline of one window of a run of `plan`."""

    plan: LoadPlan
    started_at: float  # wall clock: the window [started_at, ended_at) of intended times
    ended_at: float
    latency: LatencyDistribution  # sent requests, from their origin (pending: lower bounds)
    service: LatencyDistribution  # answered requests, send to response end
    requests: int  # sent (answered, failed, unfinished, pending)
    completed: int  # answered (successfully or not)
    errors: int  # the target's: error answers, exceptions, unfinished
    error_kinds: Mapping[str, int]
    pending: int  # due in the window, not answered yet (only while a run goes on)
    routes: tuple[RouteStats, ...]
    timeline: tuple[SecondStats, ...]
    generator: GeneratorStats
    files: ResultFiles
    finished: bool = True
    pending_latency: float = 0.0  # the lower bound the pending requests are counted with
    # (second of the window by intended time, latency in us) of every sent request
    samples: tuple[tuple[int, int], ...] = ()
    # a distributed run's merged histogram per second of the window, encoded (no samples)
    intervals: tuple[tuple[int, str], ...] = ()

    @property
    def scenario(self) -> str:
        return self.plan.scenario

    @property
    def load_seconds(self) -> float:
        return self.ended_at - self.started_at

    @property
    def throughput(self) -> float:
        """Answered requests per second of the window."""
        return self.completed / self.load_seconds if self.load_seconds > 0 else 0.0

    @property
    def successes(self) -> int:
        """Answered without error (what the workload declares a success)."""
        return max(0, self.requests - self.pending - self.errors)

    @property
    def good_throughput(self) -> float:
        """Successful answers per second of the window."""
        return self.successes / self.load_seconds if self.load_seconds > 0 else 0.0

    @property
    def dropped(self) -> int:
        return self.generator.dropped_total

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def valid(self) -> bool:
        return self.generator.problem() is None

    @property
    def p50(self) -> float:
        return self.latency.quantile(0.50)

    @property
    def p95(self) -> float:
        return self.latency.quantile(0.95)

    @property
    def p99(self) -> float:
        return self.latency.quantile(0.99)

    @property
    def max(self) -> float:
        return self.latency.max

    def route(self, name: str) -> RouteStats:
        for stats in self.routes:
            if stats.route == name:
                return stats
        raise KeyError(name)

    def summary(self) -> str:
        """One line for logs and reports."""
        generator = self.generator
        dropped = f", {self.dropped} dropped by the generator" if self.dropped else ""
        pending = f", {self.pending} pending" if self.pending else ""
        return (
            f"{self.scenario}: n={self.requests} in {self.load_seconds:.1f} s "
            f"({self.throughput:.1f}/s){dropped}{pending}, errors {self.error_rate:.2%}, "
            f"P50 {self.p50:.4f} s, P95 {self.p95:.4f} s, P99 {self.p99:.4f} s, "
            f"max {self.max:.4f} s; load generator: {self.generated_by}, peak in flight "
            f"{generator.peak_in_flight}, CPU {generator.cpu:.0%}, send lag max "
            f"{generator.send_lag_max * 1e3:.1f} ms"
        )

    @property
    def generated_by(self) -> str:
        """The plan and what generated it: this machine's processes, or N workers."""
        if not self.generator.workers:
            return self.plan.describe()
        model = self.plan.describe().rpartition(", ")[0]
        return f"{model}, on {self.generator.workers} workers (merged histograms)"


def summarize(
    plan: LoadPlan,
    records: RunRecords,
    files: ResultFiles,
    *,
    since: float | None = None,
    until: float | None = None,
    now: float | None = None,
) -> LoadResult:
    """The result of the window [since, until) of intended times (default: the whole run)."""
    start = records.started_at if since is None else since
    end = default_end(records, now) if until is None else until
    window = _Window(records, start, end)
    pending = 0 if records.finished else max(0, window.expected() - window.present)
    pending_latency = 0.0 if now is None else max(0.0, now - end)
    latency = [*window.latencies, *[to_us(pending_latency)] * pending]
    return LoadResult(
        plan=plan,
        started_at=start,
        ended_at=end,
        latency=LatencyDistribution.from_values(latency),
        service=LatencyDistribution.from_values(window.service),
        requests=window.sent + pending,
        completed=window.completed,
        errors=sum(window.errors.values()),
        error_kinds=dict(window.errors.most_common()),
        pending=pending,
        routes=window.routes(),
        timeline=window.timeline(),
        generator=_generator(plan, records, window, pending),
        files=files,
        finished=records.finished,
        pending_latency=pending_latency,
        samples=window.samples(),
    )


def default_end(records: RunRecords, now: float | None) -> float:
    """The end of the load window: each process's t0 + its window (or `now`, mid-run)."""
    ends = []
    for log in records.processes:
        if log.footer is not None:
            ends.append(log.t0_wall + float(log.footer.get("window_end", log.header["duration"])))
        elif now is not None:
            ends.append(min(now, log.t0_wall + float(log.header["duration"])))
        else:
            ends.append(log.t0_wall + float(log.latest.get("at", 0.0)))
    return max(ends)


class _Window:
    """One pass over the records of [start, end): what every summary needs."""

    def __init__(self, records: RunRecords, start: float, end: float) -> None:
        self.records, self.start, self.end = records, start, end
        columns = records.columns
        self.rows = [i for i, t in enumerate(columns.intended) if start <= t < end]
        self.present = len(self.rows)
        self.latencies: list[int] = []
        self.service: list[int] = []
        self.lags: list[float] = []
        self.errors: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.sent = self.completed = 0
        for i in self.rows:
            self._count(i)

    def _count(self, i: int) -> None:
        columns = self.records.columns
        status, kind = columns.status[i], columns.kinds[columns.kind[i]]
        if status == DROPPED:
            self.dropped[kind] += 1
            return
        self.sent += 1
        self.latencies.append(to_us(columns.end[i] - columns.intended[i]))
        self.lags.append(max(0.0, columns.sent[i] - columns.intended[i]))
        if status == COMPLETED:
            self.completed += 1
            self.service.append(to_us(columns.end[i] - columns.sent[i]))
            if kind != SUCCESS:
                self.errors[kind] += 1
        elif status == UNFINISHED:
            self.errors[kind or "in flight at end of run"] += 1

    def expected(self) -> int:
        return sum(_due(log, self.end) - _due(log, self.start) for log in self.records.processes)

    def routes(self) -> tuple[RouteStats, ...]:
        columns = self.records.columns
        by_route: dict[str, list[int]] = {}
        for i in self.rows:
            if columns.status[i] != DROPPED:
                by_route.setdefault(columns.routes[columns.route[i]], []).append(i)
        return tuple(
            RouteStats(
                route=name,
                requests=len(rows),
                errors=sum(1 for i in rows if _is_error(columns, i)),
                latency=LatencyDistribution.from_values(
                    to_us(columns.end[i] - columns.intended[i]) for i in rows
                ),
            )
            for name, rows in sorted(by_route.items())
        )

    def samples(self) -> tuple[tuple[int, int], ...]:
        columns = self.records.columns
        return tuple(
            (
                math.floor(columns.intended[i] - self.start),
                to_us(columns.end[i] - columns.intended[i]),
            )
            for i in self.rows
            if columns.status[i] != DROPPED
        )

    def timeline(self) -> tuple[SecondStats, ...]:
        columns = self.records.columns
        seconds: dict[int, list[int]] = {}
        for i in self.rows:
            seconds.setdefault(math.floor(columns.intended[i] - self.start), []).append(i)
        return tuple(_second(second, rows, columns) for second, rows in sorted(seconds.items()))


def _due(log: ProcessLog, wall: float) -> int:
    return log.expected_before(wall)


def _is_error(columns: Columns, i: int) -> bool:
    status = columns.status[i]
    return status == UNFINISHED or (
        status == COMPLETED and columns.kinds[columns.kind[i]] != SUCCESS
    )


def _second(second: int, rows: Sequence[int], columns: Columns) -> SecondStats:
    sent = [i for i in rows if columns.status[i] != DROPPED]
    values = sorted(columns.end[i] - columns.intended[i] for i in sent)
    return SecondStats(
        second=second,
        requests=len(sent),
        errors=sum(1 for i in sent if _is_error(columns, i)),
        dropped=len(rows) - len(sent),
        p50=_nearest_rank(values, 0.50),
        p95=_nearest_rank(values, 0.95),
        max=values[-1] if values else 0.0,
    )


def _nearest_rank(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[max(1, math.ceil(q * len(sorted_values))) - 1]


def _generator(
    plan: LoadPlan, records: RunRecords, window: _Window, pending: int
) -> GeneratorStats:
    latest = [log.latest for log in records.processes]
    lags = sorted(window.lags)
    return GeneratorStats(
        vus=plan.vus,
        peak_in_flight=int(sum(float(meta.get("peak_in_flight", 0)) for meta in latest)),
        cpu=max((float(meta.get("cpu", 0.0)) for meta in latest), default=0.0),
        dropped=dict(window.dropped.most_common()),
        tolerance=plan.send_tolerance_seconds,
        send_lag_p99=_nearest_rank(lags, 0.99),
        send_lag_max=lags[-1] if lags else 0.0,
        arrivals=window.present + pending,
        max_dropped_ratio=plan.max_dropped_ratio,
        host_busy=max((float(meta.get("host_busy", 0.0)) for meta in latest), default=0.0),
        host_steal=max((float(meta.get("host_steal", 0.0)) for meta in latest), default=0.0),
        rate=plan.rate_per_second or 0.0,
        window=window.end - window.start,
        generators=plan.processes,
    )


__all__ = ["LATE", "GeneratorStats", "LoadResult", "ResultFiles", "RouteStats", "summarize"]

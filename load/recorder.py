"""Every latency of a run, kept exactly, and the files the pytest side reads back.

Runs inside the load child (and its workers), but imports neither Locust nor gevent, so
its logic is testable from pytest. Each process keeps one `Recorder`; a worker ships its
`snapshot()` to the master, which merges them; `write_results` then writes:

- `latency.hdr` / `service.hdr`: the HDR histograms (microseconds, 3 significant
  digits, base64 V2 encoding) of latency from the origin (`load.pacing`) and of service
  time (send to response end, completed requests only);
- `intervals.hlog`: the HDR interval log, one latency histogram per second;
- `result.json`: counts, error kinds, per-route histograms, the per-second timeline
  (count, errors and exact P50/P95/max of that second) and the run's wall-clock window.
"""

from __future__ import annotations

import base64
import json
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from load.pacing import Unfinished

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: anything slower is recorded as one hour
SIGNIFICANT_DIGITS = 3
RESULT_FORMAT = 1
NO_ERROR = -1
NOT_COMPLETED = -1


def new_histogram() -> Any:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def to_us(seconds: float) -> int:
    return min(max(round(seconds * 1_000_000), LOWEST_US), HIGHEST_US)


@dataclass
class Records:
    """Column-wise records of one process, or of several merged."""

    routes: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    second: array[int] = field(default_factory=lambda: array("q"))
    latency_us: array[int] = field(default_factory=lambda: array("q"))
    service_us: array[int] = field(default_factory=lambda: array("q"))
    route: array[int] = field(default_factory=lambda: array("l"))
    error: array[int] = field(default_factory=lambda: array("l"))

    def __len__(self) -> int:
        return len(self.latency_us)

    def add(
        self, second: int, latency_us: int, service_us: int, route: str, kind: str | None
    ) -> None:
        self.second.append(second)
        self.latency_us.append(latency_us)
        self.service_us.append(service_us)
        self.route.append(_index(self.routes, route))
        self.error.append(NO_ERROR if kind is None else _index(self.kinds, kind))

    def extend(self, other: Records) -> None:
        for i in range(len(other)):
            kind = other.error[i]
            self.add(
                other.second[i],
                other.latency_us[i],
                other.service_us[i],
                other.routes[other.route[i]],
                None if kind == NO_ERROR else other.kinds[kind],
            )

    def to_wire(self) -> dict[str, Any]:
        """A msgpack- and JSON-friendly form (arrays as base64 of their bytes)."""
        columns = ("second", "latency_us", "service_us", "route", "error")
        data: dict[str, Any] = {"routes": self.routes, "kinds": self.kinds}
        for name in columns:
            column: array[int] = getattr(self, name)
            data[name] = base64.b64encode(column.tobytes()).decode()
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Records:
        records = cls(routes=list(data["routes"]), kinds=list(data["kinds"]))
        for name in ("second", "latency_us", "service_us", "route", "error"):
            column: array[int] = getattr(records, name)
            column.frombytes(base64.b64decode(data[name]))
        return records


def _index(names: list[str], name: str) -> int:
    try:
        return names.index(name)
    except ValueError:
        names.append(name)
        return len(names) - 1


class Recorder:
    """Records each completed request, and the unfinished ones at the end, of one process."""

    def __init__(self) -> None:
        self.records = Records()
        self.t0: float | None = None  # monotonic origin of the timeline (the pacer's t0)
        self.started_at: float | None = None  # wall clock at t0
        self.ended_at: float | None = None  # wall clock at the end of the load window
        self.cpu_share: float | None = None  # CPU time / wall time of this process, t0 to stop
        self._cpu_at_t0 = 0.0

    def start(self, t0: float, wall: float, cpu: float = 0.0) -> None:
        if self.t0 is None:
            self.t0, self.started_at, self._cpu_at_t0 = t0, wall, cpu

    def stop(self, duration: float, now: float, cpu: float) -> None:
        """Close the window (`duration` after t0) and note how busy this process was."""
        if self.t0 is None or self.started_at is None:
            return
        self.ended_at = self.started_at + duration
        if now > self.t0:
            self.cpu_share = (cpu - self._cpu_at_t0) / (now - self.t0)

    def record(self, route: str, origin: float, sent: float, end: float, kind: str | None) -> None:
        """One completed request: latency from `origin`, service time from `sent`."""
        second = 0 if self.t0 is None else max(0, math.floor(end - self.t0))
        self.records.add(second, to_us(end - origin), to_us(end - sent), route, kind)

    def record_unfinished(self, owed: Iterable[Unfinished], now: float) -> None:
        second = 0 if self.t0 is None else max(0, math.floor(now - self.t0))
        for item in owed:
            self.records.add(second, to_us(item.latency), NOT_COMPLETED, item.route, item.kind)

    def snapshot(self) -> dict[str, Any]:
        return {
            "records": self.records.to_wire(),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "cpu_share": self.cpu_share,
        }


@dataclass(frozen=True)
class RunWindow:
    """The wall-clock window of the load (t0 to t0 + duration, over all processes), and
    the busiest load process's CPU share (1.0 = one core all the time)."""

    started_at: float
    ended_at: float
    generator_cpu: float = 0.0

    @property
    def seconds(self) -> float:
        return self.ended_at - self.started_at


def merge_snapshots(snapshots: Sequence[dict[str, Any]]) -> tuple[Records, RunWindow]:
    """Merge the snapshots of several processes into one set of records and one window."""
    records = Records()
    starts, ends, shares = [], [], [0.0]
    for snapshot in snapshots:
        if snapshot.get("cpu_share") is not None:
            shares.append(float(snapshot["cpu_share"]))
        records.extend(Records.from_wire(snapshot["records"]))
        if snapshot["started_at"] is not None:
            starts.append(float(snapshot["started_at"]))
        if snapshot["ended_at"] is not None:
            ends.append(float(snapshot["ended_at"]))
    if not starts or not ends:
        raise RuntimeError("no process started its load: no user ever joined")
    return records, RunWindow(min(starts), max(ends), max(shares))


def write_results(records: Records, window: RunWindow, out: Path, meta: dict[str, Any]) -> Path:
    """Write the histograms, the interval log and result.json into `out`; return result.json."""
    out.mkdir(parents=True, exist_ok=True)
    latency = _histogram(records.latency_us)
    service = _histogram(v for v in records.service_us if v != NOT_COMPLETED)
    (out / "latency.hdr").write_text(_encode(latency))
    (out / "service.hdr").write_text(_encode(service))
    _write_interval_log(records, window, out / "intervals.hlog")
    errors = Counter(records.kinds[e] for e in records.error if e != NO_ERROR)
    result = {
        **meta,
        "format": RESULT_FORMAT,
        "started_at": window.started_at,
        "ended_at": window.ended_at,
        "load_seconds": window.seconds,
        "generator_cpu": window.generator_cpu,
        "requests": len(records),
        "completed": sum(1 for v in records.service_us if v != NOT_COMPLETED),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common()),
        "latency_histogram": "latency.hdr",
        "service_histogram": "service.hdr",
        "interval_log": "intervals.hlog",
        "routes": _routes(records),
        "timeline": _timeline(records),
    }
    path = out / "result.json"
    path.write_text(json.dumps(result, indent=1))
    return path


def _histogram(values: Iterable[int]) -> Any:
    histogram = new_histogram()
    for value in values:
        histogram.record_value(value)
    return histogram


def _encode(histogram: Any) -> str:
    encoded: bytes = histogram.encode()
    return encoded.decode("ascii")


def _routes(records: Records) -> dict[str, dict[str, Any]]:
    routes: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(records.routes):
        rows = [i for i, r in enumerate(records.route) if r == index]
        routes[name] = {
            "requests": len(rows),
            "errors": sum(1 for i in rows if records.error[i] != NO_ERROR),
            "histogram": _encode(_histogram(records.latency_us[i] for i in rows)),
        }
    return routes


def _by_second(records: Records) -> dict[int, list[int]]:
    seconds: dict[int, list[int]] = {}
    for i, second in enumerate(records.second):
        seconds.setdefault(second, []).append(i)
    return dict(sorted(seconds.items()))


def _timeline(records: Records) -> list[dict[str, Any]]:
    rows = []
    for second, indices in _by_second(records).items():
        values = sorted(records.latency_us[i] for i in indices)
        rows.append(
            {
                "second": second,
                "requests": len(values),
                "errors": sum(1 for i in indices if records.error[i] != NO_ERROR),
                "p50": nearest_rank(values, 0.50) / 1e6,
                "p95": nearest_rank(values, 0.95) / 1e6,
                "max": values[-1] / 1e6,
            }
        )
    return rows


def nearest_rank(sorted_values: Sequence[int], q: float) -> int:
    """The q-quantile by the nearest-rank rule: the ceil(q * n)-th smallest value."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def _write_interval_log(records: Records, window: RunWindow, path: Path) -> None:
    start = datetime.fromtimestamp(window.started_at, tz=UTC).isoformat()
    lines = [
        "#[Histogram log format version 1.2]",
        f"#[StartTime: {window.started_at:.3f} (seconds since epoch), {start}]",
        "#[values in microseconds; latency from each request's origin (load.pacing)]",
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"',
    ]
    for second, indices in _by_second(records).items():
        histogram = _histogram(records.latency_us[i] for i in indices)
        max_seconds = histogram.get_max_value() / 1e6
        lines.append(f"{second:.3f},1.000,{max_seconds:.6f},{_encode(histogram)}")
    path.write_text("\n".join(lines) + "\n")

"""Evidence of a load run, as files: two PNGs and a percentile table.

- `latency-histogram.png`: how many requests took how long (log-spaced bins), with
  P50/P95/P99 and the bound marked;
- `latency-over-time.png`: per second, P50/P95/max latency and requests/errors;
- `percentiles.md`: the percentile table (total and per route, P95 with its interval);
- `intervals.hlog`: the HDR interval log (one histogram per second of intended time);
- `capacity.png` (`plot_capacity`): P50/P95/P99 against the arrival rate of each step.

Figures
are drawn with matplotlib's object API on the Agg canvas: no pyplot, no global backend.
Attaching them to a report is the reporter's job; this returns the paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from load.histograms import decode, new_histogram
from load.result import LoadResult
from load.stats import LatencyDistribution

HISTOGRAM_BINS = 60
DPI = 110


@dataclass(frozen=True)
class Evidence:
    histogram_png: Path
    timeline_png: Path
    percentile_table: Path
    interval_log: Path

    def paths(self) -> tuple[Path, ...]:
        return (self.histogram_png, self.timeline_png, self.percentile_table, self.interval_log)


def write_evidence(result: LoadResult, out: Path, bound: float | None = None) -> Evidence:
    """Draw the plots and write the table for `result` into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    evidence = Evidence(
        histogram_png=out / "latency-histogram.png",
        timeline_png=out / "latency-over-time.png",
        percentile_table=out / "percentiles.md",
        interval_log=out / "intervals.hlog",
    )
    write_interval_log(result, evidence.interval_log)
    plot_histogram(result, evidence.histogram_png, bound)
    plot_timeline(result, evidence.timeline_png, bound)
    evidence.percentile_table.write_text(percentile_table(result))
    return evidence


def _log_bins(latency: LatencyDistribution) -> list[float]:
    low = max(latency.counts[0][0] / 1e3, 1e-3)
    high = max(latency.counts[-1][0] / 1e3, low * 1.01)
    step = (math.log10(high) - math.log10(low)) / HISTOGRAM_BINS
    return [10 ** (math.log10(low) + i * step) for i in range(HISTOGRAM_BINS + 1)]


def plot_histogram(result: LoadResult, path: Path, bound: float | None) -> None:
    figure = Figure(figsize=(8, 4.5), dpi=DPI)
    axes = figure.add_subplot()
    latency = result.latency
    if latency.counts:
        values = [value / 1e3 for value, _ in latency.counts]
        weights = [count for _, count in latency.counts]
        axes.hist(values, bins=_log_bins(latency), weights=weights, color="#4c72b0")
        axes.set_xscale("log")
        for q, style in ((0.50, ":"), (0.95, "--"), (0.99, "-.")):
            value = latency.quantile(q) * 1e3
            axes.axvline(
                value, color="black", linestyle=style, label=f"P{q * 100:g} {value:.1f} ms"
            )
    if bound is not None:
        axes.axvline(bound * 1e3, color="#c44e52", label=f"bound {bound * 1e3:.0f} ms")
    axes.set_xlabel("latency (ms, log scale)")
    axes.set_ylabel("requests")
    axes.set_title(_title(result))
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, format="png")


def plot_timeline(result: LoadResult, path: Path, bound: float | None) -> None:
    figure = Figure(figsize=(8, 5.5), dpi=DPI)
    latency_axes, count_axes = figure.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    seconds = [row.second for row in result.timeline]
    for name, color in (("max", "#dd8452"), ("p95", "#c44e52"), ("p50", "#4c72b0")):
        series = [getattr(row, name) * 1e3 for row in result.timeline]
        latency_axes.plot(seconds, series, color=color, marker=".", label=name.upper())
    if bound is not None:
        latency_axes.axhline(bound * 1e3, color="black", linestyle="--", label="bound")
    latency_axes.set_ylabel("latency (ms)")
    latency_axes.set_yscale("log")
    latency_axes.legend(loc="upper left", fontsize="small")
    latency_axes.set_title(_title(result))
    count_axes.bar(
        seconds, [row.requests for row in result.timeline], color="#8c8c8c", label="requests"
    )
    count_axes.bar(
        seconds, [row.errors for row in result.timeline], color="#c44e52", label="errors"
    )
    count_axes.bar(
        seconds,
        [row.dropped for row in result.timeline],
        bottom=[row.requests for row in result.timeline],
        color="#dd8452",
        label="dropped (generator)",
    )
    count_axes.set_xlabel("second of the run (by intended send time)")
    count_axes.set_ylabel("per second")
    count_axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, format="png")


def _title(result: LoadResult) -> str:
    plan = result.plan
    return f"{plan.scenario}: {plan.describe()}, n={result.requests}"


def percentile_table(result: LoadResult) -> str:
    """A markdown table: total and per route, latency from each request's origin."""
    origin = "intended send time" if result.plan.open_model else "send time"
    lines = [
        f"# {result.scenario}: latency percentiles",
        "",
        f"{result.summary()}",
        "",
        f"Latency is measured from each request's {origin} (load.pacing); "
        f"P95 interval: 95 % order-statistic confidence interval.",
        "",
        "| route | requests | errors | P50 (ms) | P95 (ms) | P95 95 % CI (ms) | P99 (ms) "
        "| max (ms) |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
        _row("all", result.requests, result.errors, result.latency),
    ]
    lines += [_row(r.route, r.requests, r.errors, r.latency) for r in result.routes]
    if result.error_kinds:
        lines += ["", "| error | count |", "|---|---:|"]
        lines += [f"| {kind} | {count} |" for kind, count in result.error_kinds.items()]
    return "\n".join(lines) + "\n"


def _row(name: str, requests: int, errors: int, latency: LatencyDistribution) -> str:
    if latency.n == 0:
        return f"| {name} | {requests} | {errors} | - | - | - | - | - |"
    interval = latency.quantile_interval(0.95)
    low = "0" if interval.low is None else f"{interval.low * 1e3:.1f}"
    high = "unbounded" if interval.high is None else f"{interval.high * 1e3:.1f}"
    cells = [latency.quantile(q) * 1e3 for q in (0.50, 0.95)]
    tail = [latency.quantile(0.99) * 1e3, latency.max * 1e3]
    return (
        f"| {name} | {requests} | {errors} | {cells[0]:.1f} | {cells[1]:.1f} | "
        f"[{low}, {high}] | {tail[0]:.1f} | {tail[1]:.1f} |"
    )


def write_interval_log(result: LoadResult, path: Path) -> None:
    """The HDR interval log: one latency histogram (microseconds) per second of the window."""
    start = datetime.fromtimestamp(result.started_at, tz=UTC).isoformat()
    lines = [
        "#[Histogram log format version 1.2]",
        f"#[StartTime: {result.started_at:.3f} (seconds since epoch), {start}]",
        "#[values in microseconds; latency from each request's origin (load.pacing)]",
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"',
    ]
    for row, histogram in _per_second_histograms(result):
        encoded = histogram.encode().decode("ascii")
        lines.append(f"{row:.3f},1.000,{histogram.get_max_value() / 1e6:.6f},{encoded}")
    path.write_text("\n".join(lines) + "\n")


def _per_second_histograms(result: LoadResult) -> list[tuple[int, Any]]:
    """One histogram per second: a distributed run's merged ones, else from the samples."""
    if result.intervals:
        return [(second, decode(text)) for second, text in result.intervals]
    seconds: dict[int, Any] = {}
    for second, latency_us in result.samples:
        histogram = seconds.get(second)
        if histogram is None:
            histogram = seconds[second] = new_histogram()
        histogram.record_value(latency_us)
    return sorted(seconds.items())


CapacityPoint = tuple[float, float, float, float, str]


def plot_capacity(points: list[CapacityPoint], path: Path, bound: float, title: str) -> None:
    """Latency against rate: (rate, P50, P95, P99 in s, verdict) per step, the bound marked."""
    figure = Figure(figsize=(8, 4.5), dpi=DPI)
    axes = figure.add_subplot()
    rates = [point[0] for point in points]
    series = (
        ("P50", "#4c72b0", [point[1] for point in points]),
        ("P95", "#c44e52", [point[2] for point in points]),
        ("P99", "#dd8452", [point[3] for point in points]),
    )
    for name, color, values in series:
        axes.plot(rates, [value * 1e3 for value in values], marker="o", color=color, label=name)
    for rate, _, p95, _, verdict in points:
        axes.annotate(
            verdict,
            (rate, p95 * 1e3),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize="x-small",
        )
    axes.axhline(bound * 1e3, color="black", linestyle="--", label=f"bound {bound * 1e3:.0f} ms")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("arrival rate (requests/s, log scale)")
    axes.set_ylabel("latency (ms, log scale)")
    axes.set_title(title)
    axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, format="png")

"""Evidence of a load run, as files: two PNGs and a percentile table.

- `latency-histogram.png`: how many requests took how long (log-spaced bins), with
  P50/P95/P99 and the bound marked;
- `latency-over-time.png`: per second, P50/P95/max latency and requests/errors;
- `percentiles.md`: the percentile table (total and per route, P95 with its interval).

The raw HDR interval log is the child's own file (`result.files.interval_log`). Figures
are drawn with matplotlib's object API on the Agg canvas: no pyplot, no global backend.
Attaching them to a report is the reporter's job; this returns the paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

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
        interval_log=result.files.interval_log,
    )
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
    count_axes.set_xlabel("second of the run (by response end)")
    count_axes.set_ylabel("per second")
    count_axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, format="png")


def _title(result: LoadResult) -> str:
    plan = result.plan
    model = f"open, {plan.rate_per_second:g}/s" if plan.rate_per_second else "closed"
    return f"{plan.scenario}: {model}, {plan.users} users, n={result.requests}"


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

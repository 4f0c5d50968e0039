"""RTO by database size: a Markdown table and a stacked bar plot of the phases."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

from dr.loss import RecoveryTime


def rto_table(rows: Sequence[tuple[int, RecoveryTime]], bound_seconds: float) -> str:
    phases = list(rows[0][1].phases) if rows else []
    header = "| database MB | " + " | ".join(phases) + " | RTO s | bound s |\n"
    header += "|---" * (len(phases) + 3) + "|\n"
    lines = [
        f"| {size} | "
        + " | ".join(f"{recovery.phases.get(phase, 0.0):.2f}" for phase in phases)
        + f" | {recovery.seconds:.2f} | {bound_seconds:g} |"
        for size, recovery in rows
    ]
    return header + "\n".join(lines) + "\n"


def plot_rto(rows: Sequence[tuple[int, RecoveryTime]], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7, 4))
    labels = [f"{size} MB" for size, _ in rows]
    bottoms = [0.0] * len(rows)
    for phase in rows[0][1].phases if rows else []:
        heights = [recovery.phases.get(phase, 0.0) for _, recovery in rows]
        axes.bar(labels, heights, bottom=bottoms, label=phase)
        bottoms = [bottom + height for bottom, height in zip(bottoms, heights, strict=True)]
    axes.set_ylabel("seconds from failure")
    axes.set_title("RTO by database size, by phase")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


@dataclass(frozen=True)
class Extrapolation:
    """The RTO at a size not measured: a least-squares line through the measured sizes
    (per phase, summed), and an upper bound on it (`upper_seconds`, see `extrapolate_rto`)."""

    size_mb: float
    seconds: float
    seconds_per_gb: float
    intercept_seconds: float
    upper_seconds: float
    phase_seconds: dict[str, float] = field(default_factory=dict)  # the line's, per phase

    def describe(self) -> str:
        growth = ", ".join(
            f"{name} {seconds:.0f} s" for name, seconds in self.phase_seconds.items()
        )
        return (
            f"RTO at {self.size_mb:g} MB extrapolated to {self.seconds:.0f} s "
            f"({self.intercept_seconds:.1f} s + {self.seconds_per_gb:.1f} s per GB, "
            f"a straight line through the sizes measured; by phase: {growth}), at most "
            f"{self.upper_seconds:.0f} s if the steepest growth measured towards the largest "
            "size goes on from it"
        )


def extrapolate_rto(rows: Sequence[tuple[int, RecoveryTime]], size_mb: float) -> Extrapolation:
    """A restore's time grows about linearly with the data it copies and replays; a line
    through three sizes says more about a production size than the largest one alone. Each
    phase gets its own line (which one grows is what an operator can act on); the RTO's is
    their sum. `ValueError` with fewer than two distinct sizes.

    The upper bound: three points give a Student-t prediction interval too wide to mean
    anything (t = 12.7 at one degree of freedom), so the bound is an envelope instead: the
    largest measured RTO plus the steepest growth from a smaller measured size to it (the
    widest spans: the least noise) times the distance to `size_mb`, never below the line.
    A growth that steepens with size (a cache that stops holding the data) raises it."""
    sizes = [float(size) for size, _ in rows]
    if len(set(sizes)) < 2:
        raise ValueError("extrapolating the RTO needs at least two database sizes")
    totals = [rto.seconds for _, rto in rows]
    slope, intercept = statistics.linear_regression(sizes, totals)
    phases = list(dict.fromkeys(name for _, rto in rows for name in rto.phases))
    phase_seconds = {}
    for name in phases:
        phase_slope, phase_intercept = statistics.linear_regression(
            sizes, [rto.phases.get(name, 0.0) for _, rto in rows]
        )
        phase_seconds[name] = phase_intercept + phase_slope * size_mb
    # A fit bent below the largest measurement by noise in the small ones would promise a
    # faster restore than the largest measured; never extrapolate below it.
    seconds = intercept + slope * size_mb
    largest_size, largest = max(rows, key=lambda row: row[0])
    steepest = max(
        (largest.seconds - rto.seconds) / (largest_size - size)
        for size, rto in rows
        if size < largest_size
    )
    if size_mb >= largest_size:
        seconds = max(seconds, largest.seconds)
    upper = max(seconds, largest.seconds + max(steepest, 0.0) * max(size_mb - largest_size, 0.0))
    return Extrapolation(size_mb, seconds, slope * 1024, intercept, upper, phase_seconds)


def plot_fit(
    rows: Sequence[tuple[int, RecoveryTime]], extrapolation: Extrapolation, bound: float, path: Path
) -> Path:
    """The measured RTOs, the line through them out to the production size, the prediction
    with its upper bound, and the RTO bound (log-scaled sizes)."""
    figure, axes = plt.subplots(figsize=(7, 4))
    sizes = [size for size, _ in rows]
    axes.plot(sizes, [rto.seconds for _, rto in rows], "o", label="measured RTO")
    ends = [min(sizes), extrapolation.size_mb]
    slope = extrapolation.seconds_per_gb / 1024
    axes.plot(ends, [extrapolation.intercept_seconds + slope * x for x in ends], "-", label="fit")
    axes.errorbar(
        [extrapolation.size_mb],
        [extrapolation.seconds],
        yerr=[[0.0], [extrapolation.upper_seconds - extrapolation.seconds]],
        fmt="s",
        capsize=4,
        label="prediction, upper bound",
    )
    axes.axhline(bound, color="red", linestyle="--", label=f"RTO bound {bound:g} s")
    axes.set_xscale("log")
    axes.set_xlabel("database MB")
    axes.set_ylabel("RTO seconds")
    axes.set_title("RTO against database size, extrapolated")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path

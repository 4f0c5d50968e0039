"""RTO by database size: a Markdown table and a stacked bar plot of the phases."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
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
    """The RTO at a size not measured: a least-squares line through the measured sizes."""

    size_mb: float
    seconds: float
    seconds_per_gb: float
    intercept_seconds: float

    def describe(self) -> str:
        return (
            f"RTO at {self.size_mb:g} MB extrapolated to {self.seconds:.0f} s "
            f"({self.intercept_seconds:.1f} s + {self.seconds_per_gb:.1f} s per GB, "
            "a straight line through the sizes measured)"
        )


def extrapolate_rto(rows: Sequence[tuple[int, RecoveryTime]], size_mb: float) -> Extrapolation:
    """A restore's time grows about linearly with the data it copies and replays; a line
    through three sizes says more about a production size than the largest one alone.
    `ValueError` with fewer than two distinct sizes."""
    sizes = [float(size) for size, _ in rows]
    if len(set(sizes)) < 2:
        raise ValueError("extrapolating the RTO needs at least two database sizes")
    slope, intercept = statistics.linear_regression(sizes, [rto.seconds for _, rto in rows])
    # A fit bent below the largest measurement by noise in the small ones would promise a
    # faster restore than the largest measured; never extrapolate below it.
    seconds = intercept + slope * size_mb
    largest_size, largest = max(rows, key=lambda row: row[0])
    if size_mb >= largest_size:
        seconds = max(seconds, largest.seconds)
    return Extrapolation(size_mb, seconds, slope * 1024, intercept)

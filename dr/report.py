"""RTO by database size: a Markdown table and a stacked bar plot of the phases."""

from __future__ import annotations

from collections.abc import Sequence
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

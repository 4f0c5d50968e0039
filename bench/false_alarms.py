"""How often the PR gate fails a healthy target: its false-alarm rate, measured.

    .venv/bin/python -m bench.false_alarms [--runs 20] [--suite load ...] [--system NAME]

Runs the PR gate (`python -m drill --quick`, optionally only some suites) `--runs` times
on the healthy local default, each run in a reports directory of its own (no run's
history judges the next one), and reads each run's verdict table (`summary.json`). Then
prints, per criterion, how many rows passed, failed, were undecided, invalid or skipped;
per run its wall time, verdict, the host's CPU (busy and stolen, from /proc/stat) and
what failed; and the false-alarm rate (runs whose verdict is a failure, on a target with
nothing wrong) with its 95 % Wilson interval. An invalid row that does not name the host
(the generator, the machine) is counted as a false alarm: an invalid run must say what
spoiled it. A benchmark, not a test: nothing here passes or fails, and it needs the
machine to itself (two cores; nothing else running).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from load.host import cpu_times

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
VERDICTS = ("pass", "fail", "undecided", "invalid", "skipped")
FALSE_ALARM = frozenset({"fail", "undecided"})
HOST_WORDS = ("host", "generator", "hypervisor", "machine")
Z95 = 1.959964


@dataclass
class Run:
    """One gate run: its verdict table and what the machine did meanwhile."""

    number: int
    seconds: float
    exit_code: int
    host_busy: float
    host_steal: float
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def false_alarms(self) -> list[str]:
        """Rows that failed a healthy target: failed, undecided, or invalid without naming
        the host; a run that produced no table at all is one too."""
        if not self.rows:
            return [f"no verdict table (exit {self.exit_code})"]
        return [
            f"{row['criterion']} {row['scope']}: {row['verdict']}"
            for row in self.rows
            if row["verdict"] in FALSE_ALARM
            or (row["verdict"] == "invalid" and not _names_the_host(row))
        ]

    @property
    def invalid(self) -> list[str]:
        return [
            f"{row['criterion']} {row['scope']}"
            for row in self.rows
            if row["verdict"] == "invalid" and _names_the_host(row)
        ]


def _names_the_host(row: dict[str, Any]) -> bool:
    text = json.dumps(row.get("details", {})) + str(row.get("reason", ""))
    return any(word in text for word in HOST_WORDS)


def wilson(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion: sound at 0 of n, unlike p +- z*se."""
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def gate_once(number: int, arguments: argparse.Namespace, reports: Path) -> Run:
    """One `python -m drill --quick` into `reports`, timed, with the host's CPU around it."""
    reports.mkdir(parents=True)
    argv = [PYTHON, "-m", "drill", "--quick"]
    for suite in arguments.suite or ():
        argv += ["--suite", suite]
    if arguments.system:
        argv += ["--system", arguments.system]
    environment = {**os.environ, "RELIABILITY_REPORTS_DIR": str(reports)}
    before, started = cpu_times(), time.monotonic()
    with (reports / "drill.log").open("w") as log:
        done = subprocess.run(
            argv, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    seconds = time.monotonic() - started
    busy, steal = cpu_times().since(before)
    summary = reports / "summary.json"
    rows = json.loads(summary.read_text()).get("criteria", []) if summary.exists() else []
    return Run(number, seconds, done.returncode, busy, steal, rows)


def per_criterion(runs: list[Run]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for run in runs:
        for row in run.rows:
            counts[row["criterion"]][row["verdict"]] += 1
    return dict(sorted(counts.items()))


def render(runs: list[Run], console: Console) -> None:
    criteria = Table(title="rows per criterion over every run")
    criteria.add_column("criterion")
    for verdict in VERDICTS:
        criteria.add_column(verdict, justify="right")
    for name, counts in per_criterion(runs).items():
        criteria.add_row(name, *(str(counts.get(verdict, 0)) for verdict in VERDICTS))
    console.print(criteria)
    table = Table(title="runs")
    for column in ("run", "seconds", "exit", "host busy", "host stolen", "false alarms"):
        table.add_column(column)
    table.add_column("invalid (the host named)")
    for run in runs:
        table.add_row(
            str(run.number),
            f"{run.seconds:.0f}",
            str(run.exit_code),
            f"{run.host_busy:.0%}",
            f"{run.host_steal:.1%}",
            "; ".join(run.false_alarms) or "-",
            "; ".join(run.invalid) or "-",
        )
    console.print(table)
    alarms = sum(1 for run in runs if run.false_alarms)
    low, high = wilson(alarms, len(runs))
    console.print(
        f"false alarms: {alarms} of {len(runs)} healthy gate runs "
        f"({alarms / len(runs):.0%}; 95 % Wilson interval {low:.0%}-{high:.0%}); "
        f"runs with a host-spoiled invalid row: {sum(1 for run in runs if run.invalid)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.false_alarms", description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="gate runs (default 20)")
    parser.add_argument("--suite", action="append", help="only this suite of the gate (repeatable)")
    parser.add_argument("--system", default=None, help="the system description")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep each run's reports under this directory"
    )
    arguments = parser.parse_args()
    if arguments.runs < 1:
        parser.error("--runs: at least 1")
    console = Console()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="false-alarms-") as scratch:
        base = arguments.keep or Path(scratch)
        for number in range(1, arguments.runs + 1):
            run = gate_once(number, arguments, base / f"run-{number:02d}")
            runs.append(run)
            state = "; ".join(run.false_alarms) or "no false alarm"
            console.print(f"run {number}/{arguments.runs}: {run.seconds:.0f} s, {state}")
    render(runs, console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

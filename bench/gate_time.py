"""The PR gate's and the drill's wall time, by phase, against their aims.

    .venv/bin/python -m bench.gate_time [--gate-only | --drill-only]

Runs the PR gate (`make gate`: bootstrap, then `python -m drill --quick`, the suites'
`pr_gate` tests on two xdist workers, the verdict and the report) and the full drill
(`python -m drill`) as a user would, times each with a monotonic clock, and prints the
time spent in each suite (summed over the workers, from the run's JUnit XML) beside the
wall time, against the aims (the gate under 5 minutes, the drill under 20) as ratios.
A benchmark, not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from xml.etree import ElementTree

from rich.console import Console
from rich.table import Table

from plugins.turns import WAITED

ROOT = Path(__file__).resolve().parents[1]
GATE_AIM_SECONDS = 300.0
DRILL_AIM_SECONDS = 1200.0
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def timed(argv: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, cwd=ROOT, check=False)
    return time.monotonic() - started


def folders(junit: Path) -> dict[str, float]:
    """Seconds per test folder (suites/load, tests/integration, ...), from JUnit XML, less
    the time each test waited for its turn beside other xdist workers (plugins/turns.py)."""
    seconds: dict[str, float] = defaultdict(float)
    if not junit.exists():
        return {}
    for case in ElementTree.parse(junit).iter("testcase"):  # noqa: S314 - our own pytest's file
        parts = (case.get("classname") or "").split(".")
        waited = sum(
            float(prop.get("value") or 0.0)
            for prop in case.iter("property")
            if prop.get("name") == WAITED
        )
        seconds["/".join(parts[:2])] += float(case.get("time") or 0.0) - waited
    return dict(sorted(seconds.items(), key=lambda item: -item[1]))


def gate() -> list[tuple[str, float]]:
    phases = [("bootstrap", timed(["scripts/bootstrap"]))]
    wall = timed([PYTHON, "-m", "drill", "--quick"])
    phases += [(f"  {name}", s) for name, s in folders(ROOT / "reports/junit/drill.xml").items()]
    return [*phases, ("drill --quick (wall)", wall)]


def drill() -> list[tuple[str, float]]:
    wall = timed([PYTHON, "-m", "drill"])
    phases = [(f"  {name}", s) for name, s in folders(ROOT / "reports/junit/drill.xml").items()]
    return [*phases, ("drill (wall)", wall)]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gate_time", description=__doc__)
    parser.add_argument("--gate-only", action="store_true")
    parser.add_argument("--drill-only", action="store_true")
    arguments = parser.parse_args()
    console = Console()
    for name, run, aim, skip in (
        ("PR gate (make gate)", gate, GATE_AIM_SECONDS, arguments.drill_only),
        ("drill (python -m drill)", drill, DRILL_AIM_SECONDS, arguments.gate_only),
    ):
        if skip:
            continue
        phases = run()
        total = sum(seconds for phase, seconds in phases if not phase.startswith("  "))
        table = Table(title=f"{name}: {total:.0f} s, {total / aim:.2f} x its aim of {aim:.0f} s")
        table.add_column("phase")
        table.add_column("seconds", justify="right")
        for phase, seconds in phases:
            table.add_row(phase, f"{seconds:.0f}")
        console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

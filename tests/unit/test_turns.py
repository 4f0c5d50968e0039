"""Turns across processes: an exclusive turn runs alone, and a waiting one is not starved."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from fixtures.lifecycle.turns import Turns

HOLD_SECONDS = 0.4


def _take(directory: str, kind: str, name: str, log: str, delay: float) -> None:
    time.sleep(delay)
    turns = Turns(Path(directory))
    with turns.exclusive() if kind == "exclusive" else turns.shared():
        started = time.monotonic()
        time.sleep(HOLD_SECONDS)
        with Path(log).open("a") as out:
            out.write(f"{name} {started} {time.monotonic()}\n")


def _run(tmp_path: Path, plan: list[tuple[str, str, float]]) -> dict[str, tuple[float, float]]:
    log = tmp_path / "log"
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_take, args=(str(tmp_path / "turns"), kind, name, str(log), delay))
        for kind, name, delay in plan
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    spans = {}
    for line in log.read_text().splitlines():
        name, start, end = line.split()
        spans[name] = (float(start), float(end))
    return spans


def test_shared_turns_overlap_and_an_exclusive_one_runs_alone(tmp_path: Path) -> None:
    spans = _run(
        tmp_path,
        [("shared", "a", 0.0), ("shared", "b", 0.0), ("exclusive", "x", 0.1)],
    )
    a, b, x = spans["a"], spans["b"], spans["x"]
    assert max(a[0], b[0]) < min(a[1], b[1]), "two shared turns should run side by side"
    for other in (a, b):
        assert x[1] <= other[0] or other[1] <= x[0], "the exclusive turn overlapped another"


def test_a_waiting_exclusive_turn_goes_before_later_shared_ones(tmp_path: Path) -> None:
    spans = _run(
        tmp_path,
        [("shared", "first", 0.0), ("exclusive", "x", 0.15), ("shared", "later", 0.3)],
    )
    assert spans["x"][0] >= spans["first"][1]
    assert spans["later"][0] >= spans["x"][1], "a shared turn jumped the waiting exclusive one"

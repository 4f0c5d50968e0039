"""What an experiment's activities run against, and what one run of it holds.

Chaos Toolkit calls each activity as a plain function with the experiment's
`configuration` (URLs, proxy names, the run directory). What an activity must keep for a
later one — the background load, the faults in effect, the writer's ledger, the times of
injection and removal — lives in a `RunState`, one per run directory, kept for the
process (`state_of`). When the harness runs an experiment from pytest it also binds a
`ChaosContext` for the duration (`bound`): the services it started (so a kill goes
through their provider, which restarts them) and the reaper (so every fault is undone if
the harness dies). Standalone (`chaos run`), activities fall back to the configuration:
pid files written by the stack command, and Chaos Toolkit's own rollbacks.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.errors import ExperimentError
from fixtures.launcher import RunningService
from fixtures.lifecycle.reaper import Reaper
from load.runner import LoadRun


@dataclass
class ChaosContext:
    """The harness's side of an experiment run from pytest."""

    services: Mapping[str, RunningService[Any]] = field(default_factory=dict)
    reaper: Reaper | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. the archiving primary


_CURRENT: ContextVar[ChaosContext | None] = ContextVar("chaos_context", default=None)


@contextlib.contextmanager
def bound(context: ChaosContext) -> Iterator[ChaosContext]:
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)


def current() -> ChaosContext:
    """The bound context, or an empty one (standalone runs)."""
    return _CURRENT.get() or ChaosContext()


@dataclass
class RunState:
    """One experiment run: its load, faults, writer and marks (wall-clock times)."""

    run_dir: Path
    load: LoadRun | None = None
    faults: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    fault_names: list[str] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    writer: Any = None
    ledger: Any = None
    measures: dict[str, Any] = field(default_factory=dict)

    def mark(self, name: str) -> float:
        now = time.time()
        self.marks[name] = now
        return now

    def since(self, name: str) -> float:
        if name not in self.marks:
            raise ExperimentError(
                f"no '{name}' mark in this run: the activity that sets it has not run "
                "(check the order of the experiment's method)"
            )
        return self.marks[name]


_STATES: dict[str, RunState] = {}
_LOCK = threading.Lock()


def state_of(configuration: Mapping[str, Any]) -> RunState:
    """The state of the run whose `run_dir` the configuration names (made on first use)."""
    run_dir = require(configuration, "run_dir")
    with _LOCK:
        state = _STATES.get(run_dir)
        if state is None:
            path = Path(run_dir)
            path.mkdir(parents=True, exist_ok=True)
            state = _STATES[run_dir] = RunState(path)
        return state


def forget(configuration: Mapping[str, Any]) -> RunState | None:
    with _LOCK:
        return _STATES.pop(str(configuration.get("run_dir", "")), None)


def require(configuration: Mapping[str, Any] | None, key: str) -> str:
    value = (configuration or {}).get(key)
    if value is None or value == "":
        raise ExperimentError(
            f"the experiment's configuration has no {key!r}: give it with --var {key}=... "
            "or in the --var-file the stack command wrote"
        )
    return str(value)

"""`@pytest.mark.exclusive`: under pytest-xdist, the test runs with no other test beside it.

Latency, throughput and chaos measurements take an exclusive turn (the machine's cores
are theirs) for its call, every other test and every setup and teardown a shared one
(`fixtures/lifecycle/turns.py`): servers start, seed and stop beside other tests, but
nothing runs beside a measurement. Without xdist there is one process: nothing to wait for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from pathlib import Path

import pytest

from fixtures.lifecycle.turns import Turns

TURNS = pytest.StashKey[Turns]()


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") and config.option.basetemp:
        # an xdist worker's basetemp is <the controller's>/gwN: the parent is the run's
        config.stash[TURNS] = Turns(Path(config.option.basetemp).parent / "turns")


def _turn(item: pytest.Item, *, measuring: bool) -> contextlib.AbstractContextManager[None]:
    turns = item.config.stash.get(TURNS, None)
    if turns is None:
        return contextlib.nullcontext()
    if measuring and item.get_closest_marker("exclusive") is not None:
        return turns.exclusive()
    return turns.shared()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with _turn(item, measuring=False):
        yield


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with _turn(item, measuring=True):
        yield


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    with _turn(item, measuring=False):
        yield

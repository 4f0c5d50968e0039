"""`@pytest.mark.exclusive`: under pytest-xdist, the test runs with no other test beside it.

Latency, throughput and chaos measurements take an exclusive turn (the machine's cores
are theirs), every other test a shared one (`fixtures/lifecycle/turns.py`); the turn
covers the test's setup and teardown, so a worker starting its session's servers does so
in a shared turn. Without xdist there is one process and nothing to wait for.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from fixtures.lifecycle.turns import Turns

TURNS = pytest.StashKey[Turns]()


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") and config.option.basetemp:
        # an xdist worker's basetemp is <the controller's>/gwN: the parent is the run's
        config.stash[TURNS] = Turns(Path(config.option.basetemp).parent / "turns")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    turns = item.config.stash.get(TURNS, None)
    if turns is None:
        return (yield)
    turn = turns.exclusive() if item.get_closest_marker("exclusive") else turns.shared()
    with turn:
        return (yield)

"""`@pytest.mark.exclusive`: under pytest-xdist, the test runs with no other test beside it.

Latency, throughput and chaos measurements take an exclusive turn (the machine's cores
are theirs) for its call, every other test and every setup and teardown a shared one
(`fixtures/lifecycle/turns.py`): servers start, seed and stop beside other tests, but
nothing heavy runs beside a measurement. Without xdist there is one process: nothing to
wait for.

`@pytest.mark.quiet`: a test that only waits on small servers of its own (a Prometheus,
an Alertmanager, a Pushgateway: an alert on pushed drill results) or runs promtool for a
moment takes no turn for its call: it may run beside a measurement (a scrape and a rule
evaluation a second). Its setup and teardown take a shared turn like any other's: starting
and stopping its servers costs a second of CPU, which spoiled a chaos steady state when it
landed beside one (three late arrivals of 200). A test whose fixtures start a database or a
target, or that sends traffic, is not quiet.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from fixtures.lifecycle.turns import Turns

TURNS = pytest.StashKey[Turns]()
MIN_REPORTED_WAIT_SECONDS = 0.1


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") and config.option.basetemp:
        # an xdist worker's basetemp is <the controller's>/gwN: the parent is the run's
        config.stash[TURNS] = Turns(Path(config.option.basetemp).parent / "turns")


WAITED = "reliability.turn_wait_s"  # a user property: seconds this test waited for turns


@contextlib.contextmanager
def _turn(item: pytest.Item, *, measuring: bool) -> Iterator[None]:
    """The item's turn for one phase. pytest times the phase with the wait inside it, so
    the wait is kept as a user property (JUnit, Allure) for whoever reads the durations."""
    turns = item.config.stash.get(TURNS, None)
    if turns is None or (measuring and item.get_closest_marker("quiet") is not None):
        yield
        return
    exclusive = measuring and item.get_closest_marker("exclusive") is not None
    asked = time.monotonic()
    with turns.exclusive() if exclusive else turns.shared():
        waited = time.monotonic() - asked
        if waited >= MIN_REPORTED_WAIT_SECONDS:
            item.user_properties.append((WAITED, round(waited, 1)))
        yield


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

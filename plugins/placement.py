"""Which pytest-xdist worker runs which tests, under `--dist loadfile`.

As with xdist's own `loadfile`, a file's tests stay together on one worker (its module
fixtures start once). On top of it, files that need the same expensive servers form one
unit (`UNITS`), so that one worker starts them once and the other is not made to:

- `measurements`: the chaos experiments and the load runs. They take exclusive turns
  (plugins/turns.py) and start their stacks (their own databases and targets); on one
  worker, the other worker does everything else while these stacks start.
- `session-databases`: the end-to-end alert tests and the RPO/RTO test, which start
  targets of their own on the session's Postgres, Neo4j and Redis (without seeding them).

xdist hands out the biggest units first, then one unit at a time to whichever worker runs
low; files not named here are units of their own. Quiet tests go last (below).

On a worker, the first test of a named unit to run also sets up the session fixtures of
every test of its unit (`pytest_runtest_setup`), in its setup's shared turn: the chaos
stack starts beside the other worker's tests, with the load's target, instead of between
two exclusive measurements, when the machine would otherwise wait for it. A fixture that
fails or skips there is not this test's concern: pytest keeps its outcome, and the tests
that need it report it. Only fixtures the first test can see are set up: those of plugins
(a suite's conftest is visible in its own folder only).
"""

from __future__ import annotations

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadFileScheduling

UNITS = {
    "suites/chaos/test_experiments.py": "measurements",
    "suites/load/test_p95_under_load.py": "measurements",
    "suites/load/test_capacity.py": "measurements",
    "suites/alerts/test_firing.py": "session-databases",
    "suites/alerts/test_no_false_alarms.py": "session-databases",
    "suites/dr/test_recovery.py": "session-databases",
}


def unit_of(nodeid: str) -> str:
    """The unit a test belongs to: its file's, or the named unit of its file."""
    path = nodeid.split("::", 1)[0]
    return UNITS.get(path, path)


# Run before the rest of their unit: the load runs, then the chaos experiments (the load
# measures a target no experiment has faulted yet; both stacks start with the first).
FIRST = ("suites/load/test_p95_under_load.py", "suites/load/test_capacity.py")


SET_UP = pytest.StashKey[set[str]]()  # the named units whose session fixtures are set up


class UnitScheduling(LoadFileScheduling):  # type: ignore[misc]  # xdist has no types
    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> UnitScheduling | None:
    if config.getvalue("dist") != "loadfile":
        return None
    return UnitScheduling(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker (each sorts the same way): the `FIRST` files first, `quiet` tests
    last. Within its unit a quiet test then runs after the ones that start servers, i.e.
    when it is likely to be what this worker does while the other one measures."""
    if hasattr(config, "workerinput"):
        items[:] = sorted(items, key=_order)


def _order(item: pytest.Item) -> tuple[bool, bool]:
    quiet = item.get_closest_marker("quiet") is not None
    return quiet, item.nodeid.split("::", 1)[0] not in FIRST


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> object:
    result = yield
    if hasattr(item.config, "workerinput") and item.session.items:
        _set_up_unit(item)
    return result


def _set_up_unit(item: pytest.Item) -> None:
    unit = unit_of(item.nodeid)
    done = item.config.stash.setdefault(SET_UP, set())
    if unit not in UNITS.values() or unit in done or not isinstance(item, pytest.Function):
        return
    if item.get_closest_marker("quiet") is not None:
        return  # its setup takes no turn: nothing heavy may start in it
    done.add(unit)
    for name in unit_session_fixtures(item.session.items, unit):
        try:
            item._request.getfixturevalue(name)
        except (Exception, pytest.skip.Exception, pytest.fail.Exception):  # noqa: S112
            continue  # kept by pytest for the tests that need it (see the module's doc)


def unit_session_fixtures(items: list[pytest.Item], unit: str) -> list[str]:
    """The session-scoped fixtures the tests of `unit` need, in the order they first ask."""
    names: dict[str, None] = {}
    for other in items:
        if unit_of(other.nodeid) != unit or not isinstance(other, pytest.Function):
            continue
        definitions = other._fixtureinfo.name2fixturedefs
        for name in other.fixturenames:
            if name in definitions and definitions[name][-1].scope == "session":
                names.setdefault(name, None)
    return list(names)

"""Under pytest-xdist: which tests share a worker, and a quiet test's call runs beside a
measurement while its setup does not (plugins/placement.py, plugins/turns.py; that a shared
one does not: tests/unit/test_turns.py)."""

from __future__ import annotations

import pytest

from plugins.placement import unit_of


def test_files_that_start_the_same_servers_are_one_unit_and_others_their_own() -> None:
    chaos = unit_of("suites/chaos/test_experiments.py::test_hypothesis_holds_under_the_fault[x]")
    load = unit_of("suites/load/test_p95_under_load.py::test_p95[mixed]")
    assert chaos == load == "measurements"
    assert unit_of("suites/alerts/test_firing.py::t[ServiceDown]") == unit_of(
        "suites/dr/test_recovery.py::test_rpo_and_rto_after_losing_the_primary"
    )
    assert unit_of("suites/dr/test_pitr.py::test_x[a]") == "suites/dr/test_pitr.py"


CONFTEST = """
pytest_plugins = ["plugins.turns", "plugins.placement"]

def pytest_configure(config):
    config.addinivalue_line("markers", "exclusive: alone")
    config.addinivalue_line("markers", "quiet: beside anything")
"""
MEASURING = """
import time, pathlib, pytest
SHARED = pathlib.Path({shared!r})

@pytest.fixture
def quiet_one_set_up():
    # the quiet test's setup first (a shared turn, as this one's): then the call below
    # waits for it to end, and the quiet test's call can only run beside this one's
    deadline = time.monotonic() + 10
    while not (SHARED / "quiet-set-up").exists() and time.monotonic() < deadline:
        time.sleep(0.05)

@pytest.mark.exclusive
def test_measures(quiet_one_set_up):
    (SHARED / "started").write_text(repr(time.time()))
    deadline = time.monotonic() + 10
    while not (SHARED / "quiet-ran").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    (SHARED / "seen" if (SHARED / "quiet-ran").exists() else SHARED / "not-seen").touch()
    (SHARED / "ended").write_text(repr(time.time()))

"""
BESIDE = """
import time, pathlib, pytest
SHARED = pathlib.Path({shared!r})

@pytest.fixture
def small_servers():
    (SHARED / "quiet-set-up").write_text(repr(time.time()))
    time.sleep(0.5)  # starting them: the measurement must not begin meanwhile
    (SHARED / "quiet-set-up-done").write_text(repr(time.time()))

@pytest.mark.quiet
def test_waits_on_small_servers(small_servers):
    deadline = time.monotonic() + 10
    while not (SHARED / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    (SHARED / "quiet-ran").touch()
"""


def test_a_quiet_tests_call_runs_beside_a_measurement_but_not_its_setup(
    pytester: pytest.Pytester,
) -> None:
    shared = pytester.path / "shared"
    shared.mkdir()
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_a=MEASURING.format(shared=str(shared)), test_b=BESIDE.format(shared=str(shared))
    )
    result = pytester.runpytest_subprocess(
        "-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2)
    assert (shared / "seen").exists(), "the quiet test did not run during the measurement"
    set_up_done = float((shared / "quiet-set-up-done").read_text())
    assert set_up_done <= float((shared / "started").read_text()), (
        "the quiet test's setup ran beside the measurement"
    )


UNIT_CONFTEST = (
    CONFTEST
    + """
import pathlib, pytest
SHARED = pathlib.Path({shared!r})

@pytest.fixture(scope="session")
def chaos_stack():
    (SHARED / "stack-up").touch()
    yield

@pytest.fixture(scope="session")
def unavailable():
    pytest.skip("not in this profile")
"""
)
LOAD = """
import pathlib
SHARED = pathlib.Path({shared!r})

def test_load():
    assert (SHARED / "stack-up").exists(), "the unit's stack was not set up with its first test"
"""
CHAOS = """
def test_experiment(chaos_stack):
    pass

def test_needs_what_skips(unavailable):
    pass
"""


def test_the_first_test_of_a_unit_sets_up_the_session_fixtures_of_the_whole_unit(
    pytester: pytest.Pytester,
) -> None:
    """So the chaos stack starts beside the other worker's tests, with the load's target;
    a fixture that skips there skips only the tests that need it."""
    shared = pytester.path / "shared"
    shared.mkdir()
    pytester.makeconftest(UNIT_CONFTEST.format(shared=str(shared)))
    for path, text in (
        ("suites/load/test_p95_under_load.py", LOAD),
        ("suites/chaos/test_experiments.py", CHAOS),
    ):
        (pytester.path / path).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / path).write_text(text.format(shared=str(shared)))
    result = pytester.runpytest_subprocess(
        "-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider", "-rs", "suites"
    )
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*test_experiments.py*not in this profile*"])

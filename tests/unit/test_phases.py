"""Phases an engine marks become Allure steps of the running test, nested, main thread only."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from fixtures.phases import OpenPhases, listen, phase


def test_phases_reach_every_listener_nested_and_only_from_the_main_thread() -> None:
    seen: list[str] = []

    @contextmanager
    def listener(name: str) -> Iterator[None]:
        seen.append(f"+{name}")
        yield
        seen.append(f"-{name}")

    stop = listen(listener)
    try:
        with phase("steady state"), phase("probe"):
            pass
        worker = threading.Thread(target=lambda: phase("background").__enter__())
        worker.start()
        worker.join()
        opened = OpenPhases()
        opened.begin("method")
        opened.begin("action")
        opened.close_all()
    finally:
        stop()
    with phase("after stop"):
        pass
    assert seen == [
        "+steady state", "+probe", "-probe", "-steady state",
        "+method", "+action", "-action", "-method",
    ]  # fmt: skip


def test_a_phase_is_an_allure_step_in_the_results(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["plugins.allure_meta"]')
    pytester.makepyfile(
        """
        from fixtures.phases import phase

        def test_restores():
            with phase("restore to xid=7"):
                with phase("compare with the ledger"):
                    pass
        """
    )
    results = pytester.path / "allure"
    outcome = pytester.runpytest_subprocess(f"--alluredir={results}", "-p", "no:cacheprovider")
    outcome.assert_outcomes(passed=1)
    (result,) = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    (step,) = result["steps"]
    assert step["name"] == "restore to xid=7"
    assert [inner["name"] for inner in step["steps"]] == ["compare with the ledger"]

"""The criteria API: one row per measurement, written as JSON lines at the end of the run."""

from __future__ import annotations

import json
import math

import pytest

from plugins.criteria import Criteria
from system.criteria import CriterionRow


def test_a_row_keeps_what_was_measured_and_drops_what_is_not_a_number() -> None:
    rows: list[CriterionRow] = []
    criteria = Criteria("suites/load/test_x.py::test_y", rows)
    row = criteria.record(
        criterion="p95_latency",
        scope="graph_query",
        bound=1.5,
        unit="s",
        measured=0.028,
        interval=(0.02, math.inf),
        verdict="pass",
        decided_after_s=15.0,
    )
    assert rows == [row]
    assert row.interval == (0.02, None)
    data = json.loads(json.dumps(row.to_json()))
    assert data["details"] == {"decided_after_s": 15.0}
    assert data["test"] == "suites/load/test_x.py::test_y"
    with pytest.raises(ValueError, match="verdict 'ok' is not one of fail, invalid, pass"):
        criteria.record(criterion="x", scope="y", bound=None, unit="", measured=None, verdict="ok")


def test_the_rows_of_a_run_reach_the_criteria_file(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["plugins.criteria"]')
    pytester.makepyfile(
        """
        def test_measures(criteria):
            criteria.record(criterion="rto", scope="postgres", bound=3600, unit="s",
                            measured=8.8, verdict="pass")
        """
    )
    out = pytester.path / "out" / "criteria.jsonl"
    result = pytester.runpytest_subprocess(f"--criteria-file={out}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["measured"] == 8.8


def test_under_xdist_the_controller_writes_every_worker_s_rows_once(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest('pytest_plugins = ["plugins.criteria"]')
    for name in ("one", "two", "three"):
        pytester.makepyfile(
            **{
                f"test_{name}": f"""
                def test_{name}(criteria):
                    criteria.record(criterion="rto", scope="{name}", bound=1, unit="s",
                                    measured=0.5, verdict="pass")
                """
            }
        )
    out = pytester.path / "criteria.jsonl"
    result = pytester.runpytest_subprocess(
        f"--criteria-file={out}", "-n", "2", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=3)
    scopes = sorted(json.loads(line)["scope"] for line in out.read_text().splitlines())
    assert scopes == ["one", "three", "two"]

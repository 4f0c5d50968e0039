"""The measurements behind each acceptance criterion, recorded by the suites (one small API).

A suite test takes the `criteria` fixture and records what it measured against what bound:

    criteria.record(criterion="p95_latency", scope="graph_query", bound=1.5, unit="s",
                    measured=0.028, interval=(0.02, 0.03), verdict="pass")

Rows go to the test's Allure result (as JSON) and, with `--criteria-file PATH`, to that
file as JSON lines at the end of the session: the drill's verdict per criterion is built
from them (design section 8), never from logs. Verdicts: pass, fail, undecided, invalid.

Each row travels in its test's report (a `user_properties` entry, so also in the JUnit
XML): under pytest-xdist the controller writes the file from the reports it receives, and
a test run again (a retry) replaces its earlier rows instead of adding to them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from plugins.evidence import attach_json
from system.criteria import CriterionRow, Verdict, measured_history

PROPERTY = "reliability.criterion"
CLAIMS = "reliability.claims"  # the criteria a test would measure (`criteria` marker)
VERDICTS = tuple(dict.fromkeys(member.value for member in Verdict))
EarlierRuns = Callable[[str, str], list[float]]
REPO_ROOT = Path(__file__).resolve().parents[1]


class Criteria:
    """Records rows for one test."""

    def __init__(
        self,
        test: str,
        sink: list[CriterionRow],
        on_record: Callable[[CriterionRow], None] | None = None,
    ) -> None:
        self.test = test
        self._sink = sink
        self._on_record = on_record

    def record(
        self,
        *,
        criterion: str,
        scope: str,
        bound: float | None,
        unit: str,
        measured: float | None,
        verdict: str,
        interval: Sequence[float | None] | None = None,
        **details: Any,
    ) -> CriterionRow:
        row = CriterionRow.of(
            criterion=criterion,
            scope=scope,
            bound=bound,
            unit=unit,
            measured=measured,
            verdict=verdict,
            test=self.test,
            interval=interval,
            details=details,
        )
        self._sink.append(row)
        if self._on_record is not None:
            self._on_record(row)
        attach_json(f"criterion {criterion} ({scope})", row.to_json())
        return row

    def within(
        self,
        *,
        criterion: str,
        scope: str,
        bound: float,
        unit: str,
        measured: float | None,
        **details: Any,
    ) -> CriterionRow:
        """A row against an upper bound: it passes when a value was measured and is at
        most `bound` (seconds, rows lost, alerts fired), else it fails."""
        held = measured is not None and measured <= bound
        return self.record(
            criterion=criterion,
            scope=scope,
            bound=bound,
            unit=unit,
            measured=measured,
            verdict="pass" if held else "fail",
            **details,
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reliability")
    group.addoption(
        "--criteria-file",
        default=None,
        metavar="PATH",
        help="write the measurements per acceptance criterion there (JSON lines)",
    )
    group.addoption(
        "--history-dir",
        default=None,
        metavar="DIR",
        help="the drill's earlier verdicts (baselines: throughput >= baseline); default "
        "$RELIABILITY_REPORTS_DIR/history, else reports/history",
    )


class RowCollector:
    """The rows of every finished test, from its teardown report (which holds them all),
    kept per test id; written once by the controller (or the only process)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            self.rows[report.nodeid] = [
                json.loads(str(value)) for name, value in report.user_properties if name == PROPERTY
            ]

    def pytest_sessionfinish(self) -> None:
        if self.path is None:
            return
        target = Path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(row) + "\n" for rows in self.rows.values() for row in rows]
        target.write_text("".join(lines))


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # xdist workers send their reports instead
        config.pluginmanager.register(RowCollector(config.getoption("--criteria-file")))


@pytest.fixture
def criteria(request: pytest.FixtureRequest) -> Criteria:
    """Record this test's measurements per acceptance criterion."""
    properties = request.node.user_properties

    def carry(row: CriterionRow) -> None:
        properties.append((PROPERTY, json.dumps(row.to_json())))

    return Criteria(request.node.nodeid, [], on_record=carry)


@pytest.fixture(scope="session")
def earlier_runs(request: pytest.FixtureRequest) -> EarlierRuns:
    """What earlier drills measured for a (criterion, scope), oldest first."""
    given = request.config.getoption("--history-dir")
    reports = os.environ.get("RELIABILITY_REPORTS_DIR") or str(REPO_ROOT / "reports")
    directory = Path(given) if given is not None else Path(reports) / "history"

    def measured(criterion: str, scope: str) -> list[float]:
        return measured_history(directory, criterion, scope)

    return measured


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """What the test would measure travels in its report (and JUnit XML), so that a test
    skipped or broken before it measured shows a row for each of its criteria."""
    claimed = [name for mark in item.iter_markers("criteria") for name in mark.args]
    if claimed:
        item.user_properties.append((CLAIMS, json.dumps(list(dict.fromkeys(claimed)))))

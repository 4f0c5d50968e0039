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
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from plugins.evidence import attach_json

PROPERTY = "reliability.criterion"
VERDICTS = ("pass", "fail", "undecided", "invalid", "skipped")


@dataclass(frozen=True)
class CriterionRow:
    criterion: str
    scope: str
    bound: float | None
    unit: str
    measured: float | None
    verdict: str
    test: str
    interval: tuple[float | None, float | None] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


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
        if verdict not in VERDICTS:
            raise ValueError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        row = CriterionRow(
            criterion=criterion,
            scope=scope,
            bound=_number(bound),
            unit=unit,
            measured=_number(measured),
            verdict=verdict,
            test=self.test,
            interval=None if interval is None else (_number(interval[0]), _number(interval[1])),
            details=details,
        )
        self._sink.append(row)
        if self._on_record is not None:
            self._on_record(row)
        attach_json(f"criterion {criterion} ({scope})", row.to_json())
        return row


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("reliability").addoption(
        "--criteria-file",
        default=None,
        metavar="PATH",
        help="write the measurements per acceptance criterion there (JSON lines)",
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

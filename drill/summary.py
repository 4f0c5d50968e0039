"""The drill's verdict per acceptance criterion (design section 8), and its trend.

Built from what the suites recorded (`plugins.criteria`, JSON lines) and the run's JUnit
XML — never from logs: a test of a suite that recorded nothing and failed (it broke
before it could measure) is a failed row of its suite's criterion; a skipped one is a
skipped row with its reason, never a pass.

`reports/summary.json` (schema below, versioned by `schema`) and `reports/summary.md`
(a GitHub job summary) hold the same rows. Each run is also kept under
`reports/history/` (the newest `HISTORY_KEPT`), and every row carries the criterion's
last measurements and whether this run regressed:

- `blocked`: P95 over its bound in this run and the one before (the requirements: block a
  release when P95 exceeds the SLO twice in a row);
- `below baseline`: a capacity under 90 % of the median of the earlier runs' (throughput
  must not fall below the baseline; 10 % is the noise of a 2-core machine's capacity steps);
- `regressed`: it passed last time and does not now.

    {"schema": 1, "target": "local", "backend": "native", "started": "2026-12-01T02:00:00Z",
     "commit": "abc123", "verdict": "pass" | "fail",
     "criteria": [{"criterion": "p95_latency", "scope": "graph_query", "bound": 1.5,
                   "unit": "s", "measured": 0.012, "interval": [0.011, 0.013],
                   "verdict": "pass", "test": "suites/load/...", "reason": "",
                   "details": {...}, "trend": [0.013, 0.012], "regression": ""}]}
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

SCHEMA = 1
HISTORY_KEPT = 24
TREND_LENGTH = 5
FAILING = frozenset({"fail", "undecided", "invalid"})
CAPACITY_NOISE = 0.9
# The criterion a suite's test stands for when it recorded none.
SUITE_CRITERION = {
    "load": "p95_latency",
    "chaos": "chaos_hypothesis",
    "dr": "pitr_exact",
    "alerts": "alert_time_to_fire",
}


def read_criteria(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def junit_outcomes(junit: Path) -> list[tuple[str, str, str]]:
    """(node id, outcome, reason) of every suite test in the JUnit XML."""
    if not junit.exists():
        return []
    found = []
    for case in ElementTree.parse(junit).iter("testcase"):  # noqa: S314 - our own pytest's file
        classname = case.get("classname") or ""
        if not classname.startswith("suites."):
            continue
        node = f"{classname.replace('.', '/')}.py::{case.get('name')}"
        outcome, reason = "pass", ""
        for child in case:
            if child.tag in {"failure", "error"}:
                outcome, reason = "fail", (child.get("message") or child.tag).splitlines()[0]
            elif child.tag == "skipped":
                outcome, reason = "skipped", child.get("message") or "skipped"
        found.append((node, outcome, reason[:300]))
    return found


def build(
    rows: list[dict[str, Any]],
    outcomes: Iterable[tuple[str, str, str]],
    run: Mapping[str, str],
) -> dict[str, Any]:
    """The summary document: the recorded rows, then a row for each suite test that
    recorded nothing and did not pass."""
    criteria = [{"reason": "", **row} for row in rows]
    measured_tests = {row.get("test") for row in rows}
    for node, outcome, reason in outcomes:
        if node in measured_tests or outcome == "pass":
            continue
        suite = node.split("/")[1] if node.count("/") >= 2 else ""
        criteria.append(
            {
                "criterion": SUITE_CRITERION.get(suite, suite),
                "scope": node.split("::", 1)[-1],
                "bound": None,
                "unit": "",
                "measured": None,
                "interval": None,
                "verdict": "skipped" if outcome == "skipped" else "fail",
                "test": node,
                "reason": reason,
                "details": {},
            }
        )
    verdict = "fail" if any(row["verdict"] in FAILING for row in criteria) else "pass"
    return {"schema": SCHEMA, **run, "verdict": verdict, "criteria": criteria}


def add_trend(summary: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """Each row's last measurements (oldest first, this run last) and its regression.

    A row is the same criterion of the same scope *measured by the same test*: the mixed
    workload's P95 is measured by the short runs and by the sustained one, which must not
    be one another's history (nor two PITR targets of one scope)."""
    earlier: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for past in history:
        for row in past.get("criteria", []):
            earlier.setdefault(_series(row), []).append(row)
    for row in summary["criteria"]:
        past_rows = earlier.get(_series(row), [])
        values = [past.get("measured") for past in past_rows] + [row.get("measured")]
        row["trend"] = values[-TREND_LENGTH:]
        row["regression"] = regression(row, past_rows)


def _series(row: Mapping[str, Any]) -> tuple[str, str, str]:
    return row["criterion"], row["scope"], row.get("test", "")


def regression(row: Mapping[str, Any], past_rows: list[dict[str, Any]]) -> str:
    if not past_rows or row["verdict"] == "skipped":
        return ""
    last = past_rows[-1]
    if row["criterion"] == "p95_latency" and row["verdict"] == "fail" and last["verdict"] == "fail":
        return "blocked: P95 over its bound twice in a row"
    if row["criterion"] == "capacity" and row.get("measured") is not None:
        baseline = [past["measured"] for past in past_rows if past.get("measured") is not None]
        if baseline and row["measured"] < CAPACITY_NOISE * statistics.median(baseline):
            return f"below baseline ({statistics.median(baseline):g} {row.get('unit', '')})"
    if last["verdict"] == "pass" and row["verdict"] in FAILING:
        return "regressed"
    return ""


def load_history(directory: Path) -> list[dict[str, Any]]:
    """Earlier summaries, oldest first (unreadable files are left out)."""
    found = []
    for path in sorted(directory.glob("summary-*.json")):
        try:
            document = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if document.get("schema") == SCHEMA:
            found.append(document)
    return found


def keep(summary: dict[str, Any], directory: Path) -> Path:
    """Add this run to the history; drop the oldest beyond `HISTORY_KEPT`."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = summary["started"].replace(":", "").replace("-", "")
    path = directory / f"summary-{stamp}.json"
    path.write_text(json.dumps(summary, indent=1) + "\n")
    for old in sorted(directory.glob("summary-*.json"))[:-HISTORY_KEPT]:
        old.unlink()
    return path


def _value(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.4g} {unit}".strip()


def _interval(row: Mapping[str, Any]) -> str:
    interval = row.get("interval")
    if not interval:
        return ""
    low, high = interval
    return f" [{'-' if low is None else f'{low:.3g}'}, {'-' if high is None else f'{high:.3g}'}]"


def cells(row: Mapping[str, Any]) -> list[str]:
    """criterion, scope, bound, measured (interval), verdict, trend, note."""
    unit = row.get("unit", "")
    trend = " → ".join("-" if value is None else f"{value:.3g}" for value in row.get("trend", []))
    note = "; ".join(part for part in (row.get("regression", ""), row.get("reason", "")) if part)
    return [
        row["criterion"],
        row["scope"],
        _value(row.get("bound"), unit),
        _value(row.get("measured"), unit) + _interval(row),
        row["verdict"],
        trend,
        note,
    ]


COLUMNS = ("criterion", "scope", "bound", "measured", "verdict", "trend", "note")


def markdown(summary: Mapping[str, Any]) -> str:
    lines = [
        f"## Reliability drill: {summary['verdict'].upper()}",
        "",
        f"target `{summary['target']}`, backend `{summary['backend']}`, started "
        f"{summary['started']}, commit `{summary.get('commit') or '-'}`",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in summary["criteria"]:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells(row)) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m drill.summary JUNIT CRITERIA`: the summary of a plain pytest run (the
    suites' run of `make test`), written beside the drill's and printed as Markdown."""
    parser = argparse.ArgumentParser(prog="python -m drill.summary", description=main.__doc__)
    parser.add_argument("junit", type=Path)
    parser.add_argument("criteria", type=Path)
    parser.add_argument("--target", default="local")
    parser.add_argument("--backend", default="-")
    parser.add_argument("--out", type=Path, default=Path("reports"))
    arguments = parser.parse_args(argv)
    if not arguments.junit.exists():
        print(f"summary: {arguments.junit} does not exist: run the tests first", file=sys.stderr)
        return 2
    run = {
        "target": arguments.target,
        "backend": arguments.backend,
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": "",
    }
    document = build(read_criteria(arguments.criteria), junit_outcomes(arguments.junit), run)
    arguments.out.mkdir(parents=True, exist_ok=True)
    (arguments.out / "summary.json").write_text(json.dumps(document, indent=1) + "\n")
    text = markdown(document)
    (arguments.out / "summary.md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

The system description's `[requires]` says which criteria each kind of run (pr_gate,
drill, staging) must measure: a required criterion with no measurement (only skipped
rows, or no row at all) is a failed row naming why it was skipped, so a drill that
skipped what it had to prove never headlines PASS. The headline counts the criteria
measured and passed, failed, and skipped.

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
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from system.criteria import FAILING as FAILING_VERDICTS
from system.criteria import SCHEMA, SUITE_CRITERION

HISTORY_KEPT = 24
TREND_LENGTH = 5
FAILING = frozenset(verdict.value for verdict in FAILING_VERDICTS)
CAPACITY_NOISE = 0.9
CLAIMS_PROPERTY = "reliability.claims"  # plugins.criteria: what a test would measure
Outcome = tuple[str, str, str, tuple[str, ...]]  # node id, outcome, reason, claimed criteria


def read_criteria(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def junit_outcomes(junit: Path) -> list[Outcome]:
    """(node id, outcome, reason, claimed criteria) of every suite test in the JUnit XML."""
    if not junit.exists():
        return []
    found: list[Outcome] = []
    for case in ElementTree.parse(junit).iter("testcase"):  # noqa: S314 - our own pytest's file
        classname = case.get("classname") or ""
        if not classname.startswith("suites."):
            continue
        node = f"{classname.replace('.', '/')}.py::{case.get('name')}"
        outcome, reason = "pass", ""
        claims: tuple[str, ...] = ()
        for child in case:
            if child.tag in {"failure", "error"}:
                outcome, reason = "fail", (child.get("message") or child.tag).splitlines()[0]
            elif child.tag == "skipped":
                outcome, reason = "skipped", child.get("message") or "skipped"
            elif child.tag == "properties":
                claims = _claims(child)
        found.append((node, outcome, reason[:300], claims))
    return found


def _claims(properties: ElementTree.Element) -> tuple[str, ...]:
    for item in properties.iter("property"):
        if item.get("name") == CLAIMS_PROPERTY:
            try:
                return tuple(json.loads(item.get("value") or "[]"))
            except ValueError:
                return ()
    return ()


def build(
    rows: list[dict[str, Any]],
    outcomes: Iterable[Sequence[Any]],
    run: Mapping[str, str],
    required: Sequence[str] = (),
    place: str = "",
) -> dict[str, Any]:
    """The summary document: the recorded rows, then a row for each criterion a suite test
    would have measured (its claims) when it recorded nothing and did not pass; then each
    `required` criterion of this kind of run (`place`) that was not measured fails."""
    criteria = [{"reason": "", **row} for row in rows]
    measured_tests = {row.get("test") for row in rows}
    for node, outcome, reason, *rest in outcomes:
        if node in measured_tests or outcome == "pass":
            continue
        suite = node.split("/")[1] if node.count("/") >= 2 else ""
        claims = tuple(rest[0]) if rest and rest[0] else (SUITE_CRITERION.get(suite, suite),)
        for claimed in claims:
            criteria.append(_unmeasured(claimed, node, outcome, reason))
    criteria += require(criteria, required, place)
    verdict = "fail" if any(row["verdict"] in FAILING for row in criteria) else "pass"
    return {
        "schema": SCHEMA,
        **run,
        "verdict": verdict,
        "counts": counts(criteria),
        "criteria": criteria,
    }


def _unmeasured(criterion: str, node: str, outcome: str, reason: str) -> dict[str, Any]:
    return {
        "criterion": criterion,
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


def require(
    criteria: list[dict[str, Any]], required: Sequence[str], place: str
) -> list[dict[str, Any]]:
    """Fail each required criterion that nothing measured: its skipped rows become failed
    rows saying why they were skipped; one with no row at all gets a row of its own."""
    added = []
    for name in required:
        rows = [row for row in criteria if row["criterion"] == name]
        if any(row["verdict"] != "skipped" for row in rows):
            continue
        for row in rows:
            row["verdict"] = "fail"
            row["reason"] = f"required in {place or 'this run'} but skipped: {row['reason']}"
        if not rows:
            added.append(
                {
                    **_unmeasured(name, "-", "fail", ""),
                    "scope": "-",
                    "reason": f"required in {place or 'this run'} but no test measured it",
                }
            )
    return added


def counts(criteria: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many criteria rows passed, failed (fail, undecided, invalid) and were skipped."""
    verdicts = [row["verdict"] for row in criteria]
    return {
        "passed": verdicts.count("pass"),
        "failed": sum(1 for verdict in verdicts if verdict in FAILING),
        "skipped": verdicts.count("skipped"),
    }


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
    tally = summary.get("counts") or counts(summary["criteria"])
    lines = [
        f"## Reliability drill: {summary['verdict'].upper()} ({headline(tally)})",
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


def headline(tally: Mapping[str, int]) -> str:
    """ "12 passed, 1 failed, 3 skipped": what the verdict stands on."""
    return f"{tally['passed']} passed, {tally['failed']} failed, {tally['skipped']} skipped"


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

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

No verdict is vacuous: a summary with no row at all is no pass (its headline says nothing
was measured), and a row recorded as a pass with no measured value is `invalid` (the
harness passed what it did not measure). Rows of one criterion and scope from different
tests are told apart in the table by the test's name. A criteria or JUnit file that is not
what pytest writes is one line naming the file (and the line), never a traceback.

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

from fixtures.errors import HarnessError
from system.criteria import FAILING as FAILING_VERDICTS
from system.criteria import SCHEMA, SUITE_CRITERION, Verdict

HISTORY_KEPT = 24
TREND_LENGTH = 5
FAILING = frozenset(verdict.value for verdict in FAILING_VERDICTS)
CAPACITY_NOISE = 0.9
CLAIMS_PROPERTY = "reliability.claims"  # plugins.criteria: what a test would measure
Outcome = tuple[str, str, str, tuple[str, ...]]  # node id, outcome, reason, claimed criteria
VERDICTS = tuple(sorted({verdict.value for verdict in Verdict}))
NO_MEASUREMENT = "passed with no measured value"
NOTHING_MEASURED = "nothing was measured: no test recorded a criterion"
RERUN = "run the tests again to write it"


class SummaryError(HarnessError):
    """A criteria or JUnit file the summary cannot read: one line, naming the file."""


def read_criteria(path: Path) -> list[dict[str, Any]]:
    """The rows pytest's `--criteria-file` wrote ([] when there is no file: a run that
    stopped early); `SummaryError` naming the file and the line of one that is no row."""
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SummaryError(
            f"criteria file {path}: not UTF-8 text (byte {error.start}); {RERUN}"
        ) from None
    except OSError as error:
        raise SummaryError(f"criteria file {path}: cannot be read ({error.strerror})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            problem: str | None = f"not JSON ({error.msg} at column {error.colno})"
        else:
            problem = row_problem(row)
        if problem is not None:
            raise SummaryError(f"criteria file {path} line {number}: {problem}; {RERUN}")
        rows.append(row)
    return rows


def row_problem(row: Any) -> str | None:
    """What keeps a JSON value from being a criterion row (`CriterionRow.to_json`)."""
    if not isinstance(row, dict):
        return f"a {type(row).__name__}, not a criterion row (a JSON object)"
    for key in ("criterion", "scope", "verdict"):
        if not isinstance(row.get(key), str):
            return f"key '{key}' must be a string, got {row.get(key)!r}"
    if row["verdict"] not in VERDICTS:
        return f"key 'verdict' is {row['verdict']!r}, not one of {', '.join(VERDICTS)}"
    for key in ("bound", "measured"):
        if not _number_or_none(row.get(key)):
            return f"key '{key}' must be a number or null, got {row.get(key)!r}"
    interval = row.get("interval")
    if interval is not None and not (
        isinstance(interval, list) and len(interval) == 2 and all(map(_number_or_none, interval))
    ):
        return f"key 'interval' must be [low, high] or null, got {interval!r}"
    return None


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def junit_outcomes(junit: Path) -> list[Outcome]:
    """(node id, outcome, reason, claimed criteria) of every suite test in the JUnit XML;
    `SummaryError` (one line) for a file that is not well-formed XML."""
    if not junit.exists():
        return []
    try:
        tree = ElementTree.parse(junit)  # noqa: S314 - our own pytest's file
    except ElementTree.ParseError as error:
        raise SummaryError(f"JUnit XML {junit}: not well-formed XML ({error}); {RERUN}") from None
    except OSError as error:
        raise SummaryError(f"JUnit XML {junit}: cannot be read ({error.strerror})") from None
    found: list[Outcome] = []
    for case in tree.iter("testcase"):
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
    `required` criterion of this kind of run (`place`) that was not measured fails. No
    row at all is no pass; a row passed with no measured value is `invalid`."""
    criteria = [_measured_or_invalid({"reason": "", **row}) for row in rows]
    measured_tests = {row.get("test") for row in rows}
    for node, outcome, reason, *rest in outcomes:
        if node in measured_tests or outcome == "pass":
            continue
        suite = node.split("/")[1] if node.count("/") >= 2 else ""
        claims = tuple(rest[0]) if rest and rest[0] else (SUITE_CRITERION.get(suite, suite),)
        for claimed in claims:
            criteria.append(_unmeasured(claimed, node, outcome, reason))
    criteria += require(criteria, required, place)
    measured = any(row["verdict"] != "skipped" for row in criteria)
    # Only skipped rows is no more a pass than no row at all: nothing was measured.
    failed = not measured or any(row["verdict"] in FAILING for row in criteria)
    verdict = "fail" if failed else "pass"
    return {
        "schema": SCHEMA,
        **run,
        "verdict": verdict,
        "counts": counts(criteria),
        "criteria": criteria,
    }


def _measured_or_invalid(row: dict[str, Any]) -> dict[str, Any]:
    """A pass with nothing measured is the harness's own bug: `invalid`, saying so."""
    if row["verdict"] == Verdict.PASS.value and row.get("measured") is None:
        row["verdict"] = Verdict.INVALID.value
        row["details"] = {**(row.get("details") or {}), "invalid": NO_MEASUREMENT}
        row["reason"] = "; ".join(part for part in (NO_MEASUREMENT, row["reason"]) if part)
    return row


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


def cells(row: Mapping[str, Any], scope: str | None = None) -> list[str]:
    """criterion, scope (or `scope` as shown), bound, measured (interval), verdict, trend,
    note."""
    unit = row.get("unit", "")
    trend = " → ".join("-" if value is None else f"{value:.3g}" for value in row.get("trend", []))
    note = "; ".join(part for part in (row.get("regression", ""), row.get("reason", "")) if part)
    return [
        row["criterion"],
        row["scope"] if scope is None else scope,
        _value(row.get("bound"), unit),
        _value(row.get("measured"), unit) + _interval(row),
        row["verdict"],
        trend,
        note,
    ]


COLUMNS = ("criterion", "scope", "bound", "measured", "verdict", "trend", "note")


def table(summary: Mapping[str, Any]) -> list[list[str]]:
    """The cells of every row; where rows of one criterion and scope come from different
    tests (the mixed workload's P95 from a short and a sustained run), each scope is
    followed by its test's name, so that no two rows read alike."""
    criteria = summary["criteria"]
    tests: dict[tuple[str, str], set[str]] = {}
    for row in criteria:
        tests.setdefault((row["criterion"], row["scope"]), set()).add(row.get("test", ""))
    shown = []
    for row in criteria:
        scope = row["scope"]
        if len(tests[(row["criterion"], scope)]) > 1:
            scope = f"{scope} ({short_test_name(row.get('test', ''))})"
        shown.append(cells(row, scope))
    return shown


def short_test_name(node: str) -> str:
    """A test's name without its file: "test_sustained[mixed]"; "-" for none."""
    return node.rpartition("::")[2] or "-"


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
    for values in table(summary):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in values) + " |")
    return "\n".join(lines) + "\n"


def headline(tally: Mapping[str, int]) -> str:
    """ "12 passed, 1 failed, 3 skipped": what the verdict stands on; with no row at all,
    that nothing was measured."""
    if not any(tally.get(key) for key in ("passed", "failed", "skipped")):
        return NOTHING_MEASURED
    if not (tally.get("passed") or tally.get("failed")):
        return f"nothing was measured: every criterion was skipped ({tally['skipped']})"
    return f"{tally['passed']} passed, {tally['failed']} failed, {tally['skipped']} skipped"


def main(argv: list[str] | None = None) -> int:
    """`python -m drill.summary JUNIT CRITERIA`: the summary of a plain pytest run (the
    suites' run of `make test`), written beside the drill's and printed as Markdown. Exit
    status 0 only when the verdict is a pass; 2 (one line on stderr) for a missing or
    malformed file."""
    parser = argparse.ArgumentParser(prog="python -m drill.summary", description=main.__doc__)
    parser.add_argument("junit", type=Path)
    parser.add_argument("criteria", type=Path)
    parser.add_argument("--target", default="local")
    parser.add_argument("--backend", default="-")
    parser.add_argument("--out", type=Path, default=Path("reports"))
    arguments = parser.parse_args(argv)
    run = {
        "target": arguments.target,
        "backend": arguments.backend,
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": "",
    }
    try:
        _written_by_pytest(arguments.junit, "JUnit XML", "--junitxml")
        _written_by_pytest(arguments.criteria, "criteria file", "--criteria-file")
        rows, outcomes = read_criteria(arguments.criteria), junit_outcomes(arguments.junit)
        document = build(rows, outcomes, run)
        text = markdown(document)
        arguments.out.mkdir(parents=True, exist_ok=True)
        (arguments.out / "summary.json").write_text(json.dumps(document, indent=1) + "\n")
        (arguments.out / "summary.md").write_text(text)
    except SummaryError as error:
        print(f"summary: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"summary: cannot write {arguments.out}: {error.strerror}", file=sys.stderr)
        return 2
    print(text, end="")
    return 0 if document["verdict"] == "pass" else 1


def _written_by_pytest(path: Path, kind: str, flag: str) -> None:
    """A file the summary reads is there (`SummaryError` saying how to write it)."""
    if not path.is_file():
        missing = "is a directory" if path.is_dir() else "does not exist"
        raise SummaryError(f"{kind} {path}: {missing}; run the tests with {flag}={path} first")


if __name__ == "__main__":
    sys.exit(main())

"""The drill's verdict per criterion and its trend (`drill/summary.py`): pure logic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drill import summary
from system.criteria import SCHEMA

RUN = {"target": "local", "backend": "native", "started": "2026-12-01T02:00:00Z", "commit": "c"}
GRAPH = "suites/load/test_p95_under_load.py::test_p95_and_error_rate_within_slo_short[graph]"


def row(criterion: str, verdict: str, measured: float | None = 0.1, **more: Any) -> dict[str, Any]:
    return {
        "criterion": criterion,
        "scope": more.pop("scope", "graph_query"),
        "bound": 1.5,
        "unit": "s",
        "measured": measured,
        "interval": None,
        "verdict": verdict,
        "test": more.pop("test", GRAPH),
        "details": {},
        **more,
    }


def test_every_criterion_holding_is_a_pass() -> None:
    document = summary.build([row("p95_latency", "pass")], [(GRAPH, "pass", "")], RUN)
    assert document["verdict"] == "pass"
    assert document["schema"] == SCHEMA
    assert document["target"] == "local"


def test_undecided_and_invalid_fail_the_run_never_the_target_silently() -> None:
    for verdict in ("fail", "undecided", "invalid"):
        assert summary.build([row("p95_latency", verdict)], [], RUN)["verdict"] == "fail"


def test_a_skipped_test_is_a_skipped_row_with_its_reason_never_a_pass() -> None:
    node = "suites/dr/test_pitr.py::test_restore_to_target_matches_the_ledger[time]"
    document = summary.build([], [(node, "skipped", "needs the native backend")], RUN)
    (skipped,) = document["criteria"]
    assert skipped["verdict"] == "skipped"
    assert skipped["criterion"] == "pitr_exact"
    assert skipped["reason"] == "needs the native backend"
    # shown as skipped, never a pass; and a run that skipped everything measured nothing
    assert document["verdict"] == "fail"
    assert summary.headline(document["counts"]) == (
        "nothing was measured: every criterion was skipped (1)"
    )
    beside = summary.build(
        [row("p95_latency", "pass")], [(node, "skipped", "needs the native backend")], RUN
    )
    assert beside["verdict"] == "pass", "a skipped criterion beside a measured one: not a fail"


def test_a_test_that_broke_before_measuring_fails_its_criterion() -> None:
    node = "suites/chaos/test_experiments.py::test_hypothesis_holds_under_the_fault[api-kill]"
    document = summary.build([], [(node, "fail", "ServiceStartError: api")], RUN)
    assert document["criteria"][0]["verdict"] == "fail"
    assert document["criteria"][0]["criterion"] == "chaos_hypothesis"
    assert document["verdict"] == "fail"


def test_p95_over_its_bound_twice_in_a_row_blocks_the_release() -> None:
    previous = summary.build([row("p95_latency", "fail", 2.0)], [], RUN)
    now = summary.build([row("p95_latency", "fail", 2.1)], [], RUN)
    summary.add_trend(now, [previous])
    assert now["criteria"][0]["regression"].startswith("blocked")
    assert now["criteria"][0]["trend"] == [2.0, 2.1]


def test_a_capacity_below_the_baseline_is_a_regression_and_noise_is_not() -> None:
    history = [
        summary.build([row("capacity", "pass", rate, scope="mixed", unit="req/s")], [], RUN)
        for rate in (200.0, 210.0, 190.0)
    ]
    low = summary.build([row("capacity", "pass", 150.0, scope="mixed", unit="req/s")], [], RUN)
    near = summary.build([row("capacity", "pass", 185.0, scope="mixed", unit="req/s")], [], RUN)
    summary.add_trend(low, history)
    summary.add_trend(near, history)
    assert low["criteria"][0]["regression"].startswith("below baseline (200")
    assert near["criteria"][0]["regression"] == ""


def test_history_keeps_the_newest_runs(tmp_path: Path) -> None:
    for day in range(1, summary.HISTORY_KEPT + 4):
        document = summary.build(
            [row("rto", "pass", 9.0)], [], {**RUN, "started": f"2026-{day:03d}"}
        )
        summary.keep(document, tmp_path)
    kept = sorted(tmp_path.glob("summary-*.json"))
    assert len(kept) == summary.HISTORY_KEPT
    assert json.loads(kept[-1].read_text())["started"] == f"2026-{summary.HISTORY_KEPT + 3:03d}"
    assert len(summary.load_history(tmp_path)) == summary.HISTORY_KEPT


def test_the_markdown_has_one_row_per_criterion_with_its_interval() -> None:
    document = summary.build([row("p95_latency", "pass", 0.012, interval=[0.011, 0.013])], [], RUN)
    text = summary.markdown(document)
    assert "## Reliability drill: PASS" in text
    assert "| p95_latency | graph_query | 1.5 s | 0.012 s [0.011, 0.013] | pass |" in text


def test_rows_of_one_scope_from_different_tests_are_separate_series() -> None:
    """The mixed workload's P95 from a short run and from the sustained run: a failed short
    run followed by a failed sustained one is not 'twice in a row'."""
    short, sustained = GRAPH, "suites/load/test_p95_under_load.py::test_sustained"
    previous = summary.build(
        [
            row("p95_latency", "fail", 2.0, scope="mixed", test=short),
            row("p95_latency", "pass", 0.03, scope="mixed", test=sustained),
        ],
        [],
        RUN,
    )
    now = summary.build(
        [
            row("p95_latency", "pass", 0.02, scope="mixed", test=short),
            row("p95_latency", "fail", 1.9, scope="mixed", test=sustained),
        ],
        [],
        RUN,
    )
    summary.add_trend(now, [previous])
    first, second = now["criteria"]
    assert (first["trend"], first["regression"]) == ([2.0, 0.02], "")
    assert (second["trend"], second["regression"]) == ([0.03, 1.9], "regressed")


def test_a_skipped_test_shows_a_row_for_each_criterion_it_would_measure() -> None:
    node = "suites/dr/test_recovery.py::test_rpo_and_rto_after_losing_the_primary"
    reason = "destructive test refused against target staging"
    document = summary.build([], [(node, "skipped", reason, ("rpo", "rto"))], RUN)
    assert [(r["criterion"], r["verdict"]) for r in document["criteria"]] == [
        ("rpo", "skipped"),
        ("rto", "skipped"),
    ]
    assert document["counts"] == {"passed": 0, "failed": 0, "skipped": 2}


def test_a_required_criterion_that_was_skipped_fails_naming_why() -> None:
    node = "suites/chaos/test_experiments.py::test_hypothesis_holds_under_the_fault[x]"
    reason = "x: latency faults are not allowed against staging; add 'latency' to [chaos] allow"
    outcomes = [(node, "skipped", reason, ("chaos_hypothesis",))]
    document = summary.build([], outcomes, RUN, required=["chaos_hypothesis"], place="staging")
    (failed,) = document["criteria"]
    assert failed["verdict"] == "fail"
    assert failed["reason"] == f"required in staging but skipped: {reason}"
    assert document["verdict"] == "fail"
    assert document["counts"] == {"passed": 0, "failed": 1, "skipped": 0}


def test_a_required_criterion_no_test_measured_fails_with_a_row_of_its_own() -> None:
    document = summary.build(
        [row("p95_latency", "pass")], [(GRAPH, "pass", "")], RUN, ["p95_latency", "rto"], "drill"
    )
    rto = [r for r in document["criteria"] if r["criterion"] == "rto"]
    assert [(r["verdict"], r["reason"]) for r in rto] == [
        ("fail", "required in drill but no test measured it")
    ]
    assert document["verdict"] == "fail"


def test_a_required_criterion_measured_once_is_met_whatever_else_was_skipped() -> None:
    skipped_node = "suites/load/test_p95_under_load.py::test_workload_meets_its_bounds[b]"
    outcomes = [(GRAPH, "pass", ""), (skipped_node, "skipped", "in no run", ("p95_latency",))]
    document = summary.build([row("p95_latency", "pass")], outcomes, RUN, ["p95_latency"], "x")
    assert document["verdict"] == "pass"
    assert document["counts"] == {"passed": 1, "failed": 0, "skipped": 1}


def test_the_headline_counts_what_the_verdict_stands_on() -> None:
    document = summary.build([row("p95_latency", "pass")], [], RUN)
    assert summary.markdown(document).startswith(
        "## Reliability drill: PASS (1 passed, 0 failed, 0 skipped)"
    )


def test_a_summary_with_no_row_at_all_is_no_pass_and_says_nothing_was_measured() -> None:
    document = summary.build([], [], RUN)
    assert document["verdict"] == "fail"
    assert document["counts"] == {"passed": 0, "failed": 0, "skipped": 0}
    assert summary.markdown(document).startswith(
        "## Reliability drill: FAIL (nothing was measured: no test recorded a criterion)"
    )


def test_only_passing_tests_that_recorded_nothing_are_still_nothing_measured() -> None:
    document = summary.build([], [(GRAPH, "pass", "")], RUN)
    assert document["verdict"] == "fail"
    assert "nothing was measured" in summary.headline(document["counts"])


def test_a_pass_with_no_measured_value_is_invalid_and_counts_as_failing() -> None:
    document = summary.build([row("p95_latency", "pass", None)], [(GRAPH, "pass", "")], RUN)
    (invalid,) = document["criteria"]
    assert invalid["verdict"] == "invalid"
    assert invalid["details"]["invalid"] == "passed with no measured value"
    assert document["verdict"] == "fail"
    assert document["counts"] == {"passed": 0, "failed": 1, "skipped": 0}
    (cells,) = summary.table(document)
    assert cells[4] == "invalid"
    assert "passed with no measured value" in cells[6], "named in the table's note"


def test_a_failed_row_with_no_measured_value_stays_failed() -> None:
    document = summary.build([row("capacity", "fail", None, unit="req/s")], [], RUN)
    assert document["criteria"][0]["verdict"] == "fail"
    assert "invalid" not in document["criteria"][0]["details"]


def test_rows_of_one_criterion_and_scope_from_two_tests_are_told_apart() -> None:
    short = GRAPH
    sustained = "suites/load/test_p95_under_load.py::test_sustained[mixed]"
    document = summary.build(
        [
            row("p95_latency", "pass", 0.02, scope="mixed", test=short),
            row("p95_latency", "fail", 1.9, scope="mixed", test=sustained),
            row("error_rate", "pass", 0.0, scope="mixed", test=short),
        ],
        [],
        RUN,
    )
    scopes = [cells[1] for cells in summary.table(document)]
    assert scopes == [
        "mixed (test_p95_and_error_rate_within_slo_short[graph])",
        "mixed (test_sustained[mixed])",
        "mixed",  # one test only: no suffix
    ]
    assert len(set(map(tuple, summary.table(document)))) == 3
    text = summary.markdown(document)
    assert "| p95_latency | mixed (test_sustained[mixed]) |" in text
    assert document["criteria"][0]["scope"] == "mixed", "the JSON keeps the scope as recorded"


def _cli(tmp_path: Path, junit: str | None, criteria: str | None) -> list[str]:
    paths = []
    for name, text in (("junit.xml", junit), ("criteria.jsonl", criteria)):
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        paths.append(str(path))
    return [*paths, "--out", str(tmp_path / "out")]


JUNIT_OK = (
    '<testsuites><testsuite><testcase classname="suites.load.test_p95_under_load" '
    'name="test_x"/></testsuite></testsuites>'
)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    return lines[0]


def test_the_command_refuses_a_missing_criteria_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert summary.main(_cli(tmp_path, JUNIT_OK, None)) == 2
    line = _one_error_line(capsys)
    assert "criteria.jsonl" in line
    assert "does not exist" in line
    assert "--criteria-file=" in line
    assert not (tmp_path / "out").exists(), "nothing written"


def test_the_command_names_the_file_and_line_of_a_malformed_criteria_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = json.dumps(row("p95_latency", "pass"))
    assert summary.main(_cli(tmp_path, JUNIT_OK, f"{good}\n\n{{not json\n")) == 2
    line = _one_error_line(capsys)
    assert f"{tmp_path / 'criteria.jsonl'} line 3: not JSON" in line


def test_a_json_line_that_is_no_criterion_row_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = json.dumps(row("p95_latency", "ok"))
    assert summary.main(_cli(tmp_path, JUNIT_OK, f"{bad}\n")) == 2
    assert "line 1: key 'verdict' is 'ok', not one of" in _one_error_line(capsys)


def test_the_command_names_a_malformed_junit_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert summary.main(_cli(tmp_path, "<testsuites><testsuite>", "")) == 2
    line = _one_error_line(capsys)
    assert f"JUnit XML {tmp_path / 'junit.xml'}: not well-formed XML" in line


def test_the_command_exits_non_zero_when_nothing_was_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert summary.main(_cli(tmp_path, JUNIT_OK, "")) == 1
    assert "FAIL (nothing was measured" in capsys.readouterr().out


def test_the_command_exits_zero_on_a_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = json.dumps(row("p95_latency", "pass", test="suites/load/test_p95_under_load.py::test_x"))
    assert summary.main(_cli(tmp_path, JUNIT_OK, rows + "\n")) == 0
    assert capsys.readouterr().out.startswith("## Reliability drill: PASS (1 passed")

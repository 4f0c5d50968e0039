"""A chaos outcome becomes criterion rows: the success ratio under fault, the time back to
steady state against the experiment's recovery bound, and the writes not kept against 0."""

from __future__ import annotations

from chaos.errors import INVALID_RUN
from chaos.experiments import Experiment, Outcome, read
from plugins.criteria import Criteria
from suites.chaos.cases import record_outcome
from system.criteria import CriterionRow
from tests.reference import EXPERIMENTS_DIR

KILL = read(EXPERIMENTS_DIR / "api-kill.json")
THROTTLE = read(EXPERIMENTS_DIR / "s3-throttle.json")
PROBE = {"activity": {"type": "probe", "name": "p"}, "status": "succeeded"}
# A journal of two steady-state probes before, one after, and two probes in the method.
JOURNAL = {
    "steady_states": {"before": {"probes": [PROBE, PROBE]}, "after": {"probes": [PROBE]}},
    "run": [PROBE, {"activity": {"type": "action", "name": "a"}}, PROBE],
}


def rows_of(
    measures: dict[str, object],
    failures: list[str],
    experiment: Experiment = KILL,
    journal: dict[str, object] | None = None,
) -> dict[str, CriterionRow]:
    sink: list[CriterionRow] = []
    played = JOURNAL if journal is None else journal
    record_outcome(Criteria("t", sink), Outcome(experiment, "", played, failures, dict(measures)))
    return {row.criterion: row for row in sink}


def test_an_experiment_without_an_under_fault_window_still_shows_what_it_measured() -> None:
    rows = rows_of(
        {
            "recovery_bound_seconds": 60.0,
            "time_to_recover_seconds": 4.5,
            "writes": {"acknowledged": 120, "failed": 3},
            "writes_not_kept": 0,
        },
        [],
    )
    # no window under the fault: its hypothesis's checks, none failed, out of five made
    hypothesis = rows["chaos_hypothesis"]
    assert (hypothesis.measured, hypothesis.bound, hypothesis.unit) == (0, 0, "checks failed")
    assert (hypothesis.verdict, hypothesis.details["checks"]) == ("pass", 5)
    recovered = rows["chaos_time_to_recover"]
    assert (recovered.measured, recovered.bound, recovered.verdict) == (4.5, 60.0, "pass")
    lost = rows["chaos_writes_lost"]
    assert (lost.measured, lost.bound, lost.verdict) == (0, 0, "pass")


def test_no_recovery_within_the_bound_and_a_lost_write_are_failures() -> None:
    rows = rows_of(
        {"recovery_bound_seconds": 60.0, "writes_not_kept": 1},
        ["not back to steady state within 60 s", "1 lost"],
    )
    assert rows["chaos_time_to_recover"].verdict == "fail"
    assert rows["chaos_time_to_recover"].measured is None
    assert (rows["chaos_writes_lost"].measured, rows["chaos_writes_lost"].verdict) == (1, "fail")
    assert rows["chaos_hypothesis"].verdict == "fail"


def test_an_experiment_that_neither_recovers_nor_writes_gets_only_its_hypothesis_row() -> None:
    during = {"success_ratio": 0.99, "success_interval": [0.98, 1.0]}
    assert set(rows_of({"during": during}, [])) == {"chaos_hypothesis"}


def test_the_hypothesis_row_is_bounded_by_the_experiments_own_success_claim() -> None:
    """A database down: the target claims its requests fail fast, not that 95 % succeed, so
    it is judged on its hypothesis's checks against 0 failed (its success ratio under the
    fault is a detail, never a bound-less pass); a restart claims no rate either. The claim
    is the experiment's, measured or not."""
    down = read(EXPERIMENTS_DIR / "postgres-unavailable.json")
    fails_fast = {"success_ratio": 0.57, "success_interval": [0.52, 0.62], "min_success": None}
    row = rows_of({"during": fails_fast}, [], down)["chaos_hypothesis"]
    assert (row.bound, row.unit, row.measured, row.verdict) == (0, "checks failed", 0, "pass")
    assert row.details["success_ratio"] == 0.57
    failed = rows_of({"during": fails_fast}, ["a request took 3.1 s"], down)["chaos_hypothesis"]
    assert (failed.measured, failed.verdict) == (1, "fail")
    assert rows_of({}, [])["chaos_hypothesis"].unit == "checks failed"  # api-kill: no rate
    slower = read(EXPERIMENTS_DIR / "redis-latency.json")
    degrades = {"success_ratio": 0.99, "success_interval": [0.98, 1.0], "min_success": 0.95}
    assert rows_of({"during": degrades}, [], slower)["chaos_hypothesis"].bound == 0.95
    not_reached = rows_of({}, ["steady state not met before the method: x"], slower)
    assert (not_reached["chaos_hypothesis"].bound, not_reached["chaos_hypothesis"].verdict) == (
        0.95,
        "fail",
    )


def test_a_case_the_harness_could_not_measure_is_invalid_not_failed() -> None:
    failure = f"steady state not met before the method: mixed-within-the-slo ({INVALID_RUN}: x)"
    assert rows_of({}, [failure])["chaos_hypothesis"].verdict == "invalid"


def test_a_hypothesis_that_made_no_check_is_not_a_pass() -> None:
    row = rows_of({}, [], journal={})["chaos_hypothesis"]
    assert (row.measured, row.verdict) == (None, "invalid")


def test_an_archive_fault_is_judged_by_its_exposure_against_the_rpo_bound() -> None:
    archive = {
        "catch_up_seconds": 4.0,
        "exposure_seconds": 19.0,
        "archived_segments": 3,
        "archive_failures": 2,
        "injected": 7,
        "rpo_bound_seconds": 300.0,
    }
    rows = rows_of({"archive": archive, "time_to_recover_seconds": 4.0}, [], THROTTLE)
    rpo = rows["rpo"]
    assert (rpo.measured, rpo.bound, rpo.verdict) == (19.0, 300.0, "pass")
    assert rpo.scope == "s3-throttle (archive exposure)"
    assert rows["chaos_hypothesis"].measured == 0
    late = rows_of({"archive": {**archive, "exposure_seconds": 301.0}}, ["x"], THROTTLE)
    assert late["rpo"].verdict == "fail"


def test_a_row_within_an_upper_bound_passes_only_with_a_value_at_most_the_bound() -> None:
    sink: list[CriterionRow] = []
    criteria = Criteria("t", sink)
    for measured in (0, 1, None):
        criteria.within(criterion="rpo", scope="x", bound=0, unit="s", measured=measured)
    assert [row.verdict for row in sink] == ["pass", "fail", "fail"]

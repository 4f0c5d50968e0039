"""The chaos engine's pure logic: fault specs refused before anything is touched, claims,
journals judged, experiments found and validated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chaos import activities
from chaos.activities import STEADY_ATTEMPTS
from chaos.claims import Claim, InvalidWindowError, judge
from chaos.clock import check_offset
from chaos.disk import check
from chaos.errors import INVALID_RUN, ExperimentError, FaultSpecError, HypothesisFailedError
from chaos.experiments import Outcome, discover, read, select
from chaos.experiments import judge as judge_journal
from chaos.network import ToxicSpec
from tests.reference import EXPERIMENTS_DIR
from tests.unit.load_samples import make_result


@pytest.mark.parametrize(
    ("kind", "attributes", "message"),
    [
        ("latncy", {"latency": 100}, "toxic type 'latncy' does not exist; use one of bandwidth"),
        ("latency", {"latency": -5}, "latency toxic: latency=-5 must be >= 0"),
        ("latency", {"latency": 1.5}, "latency=1.5 must be an integer"),
        ("latency", {}, "latency toxic needs latency"),
        ("latency", {"delay": 3, "latency": 3}, "latency toxic has no attribute delay"),
        ("bandwidth", {"rate": 0}, "bandwidth toxic: rate=0 must be >= 1"),
    ],
)
def test_a_bad_toxic_is_one_line_before_anything_is_injected(
    kind: str, attributes: dict[str, Any], message: str
) -> None:
    with pytest.raises(FaultSpecError) as caught:
        ToxicSpec.of(kind, **attributes)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_good_toxic_describes_itself() -> None:
    spec = ToxicSpec.of("latency", latency=300, jitter=30)
    assert spec.describe() == "latency(jitter=30, latency=300) on downstream"
    assert spec.toxic("harness-x-1").payload()["attributes"] == {"latency": 300, "jitter": 30}
    with pytest.raises(FaultSpecError, match="stream 'sideways'"):
        ToxicSpec.of("timeout", stream="sideways")


def test_other_fault_specs_are_checked_too() -> None:
    assert check_offset("-10m") == "-10m"
    with pytest.raises(FaultSpecError, match="clock skew '10 minutes'"):
        check_offset("10 minutes")
    assert check(0.1, 5, "w") == "0.1 5 w"
    with pytest.raises(FaultSpecError, match=r"probability=1\.5 must be in"):
        check(1.5, 5, "w")
    with pytest.raises(FaultSpecError, match="ops='x'"):
        check(0.1, 5, "x")


def test_a_claim_holds_or_names_what_broke() -> None:
    result = make_result([0.01] * 95 + [2.5] * 5, errors=3)
    measures = judge(result, Claim(min_success=0.95, p95_below=3.0), "during")
    assert measures["success_ratio"] == pytest.approx(0.97)
    with pytest.raises(HypothesisFailedError) as caught:
        judge(result, Claim(min_success=0.99, max_latency_below=2.0), "during the fault")
    message = str(caught.value)
    assert "only 97.0% of requests succeeded, claimed >= 99%" in message
    assert "a request took 2.50 s, claimed none slower than 2 s (they do not fail fast)" in message


def test_a_window_the_generator_could_not_hold_proves_nothing() -> None:
    result = make_result([0.01] * 100, dropped={"max_in_flight reached": 50})
    with pytest.raises(InvalidWindowError, match=r"invalid window .*dropped 50 of 150"):
        judge(result, Claim(min_success=0.95), "during")


def run_entry(name: str, status: str, reason: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {"activity": {"name": name}, "status": status}
    if reason:
        entry["exception"] = [
            "Traceback (most recent call last):\n",
            f"chaoslib.exceptions.ActivityFailed: chaos.errors.HypothesisFailedError: {reason}\n",
        ]
    return entry


def test_a_journal_is_judged_by_its_steady_states_activities_and_rollbacks() -> None:
    journal = {
        "status": "completed",
        "steady_states": {
            "before": {"steady_state_met": True, "probes": []},
            "after": {
                "steady_state_met": False,
                "probes": [
                    {
                        **run_entry("healthz-answers-ok", "succeeded"),
                        "tolerance_met": False,
                        "output": False,
                    }
                ],
            },
        },
        "run": [
            run_entry("cut-neo4j", "succeeded"),
            run_entry("healthz-names-neo4j", "failed", "/healthz did not answer 503 naming neo4j"),
            run_entry("recovery", "failed", "no 'fault_off' mark in this run"),
        ],
        "rollbacks": [run_entry("remove-every-fault", "succeeded")],
    }
    assert judge_journal(journal) == [
        "steady state not met after the method: healthz-answers-ok (outside its tolerance: False)",
        "healthz-names-neo4j: /healthz did not answer 503 naming neo4j",
    ]


def test_every_shipped_experiment_is_valid_and_says_its_fault_kind() -> None:
    known = discover(EXPERIMENTS_DIR)
    assert len(known) >= 15
    assert {e.fault for e in known.values()} >= {"latency", "partition", "kill", "pause", "disk",
                                                  "cpu", "memory", "clock"}  # fmt: skip
    gate = [name for name, e in known.items() if e.pr_gate]
    assert sorted(gate) == ["api-kill", "neo4j-unavailable", "redis-latency"]
    for experiment in known.values():
        document = json.loads(experiment.path.read_text())
        assert document["rollbacks"], f"{experiment.name} has no rollback"
        assert document["steady-state-hypothesis"]["probes"]


def test_unknown_names_and_invalid_files_are_one_line(tmp_path: Path) -> None:
    known = discover(EXPERIMENTS_DIR)
    with pytest.raises(ExperimentError, match="no chaos experiment 'redis-latncy'; known: "):
        select(known, ["redis-latncy"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"title": "no method", "description": "x"}))
    with pytest.raises(ExperimentError, match="fails Chaos Toolkit's validation"):
        select(known, [str(bad)])
    bad.write_text("{")
    with pytest.raises(ExperimentError, match="not readable JSON"):
        read(bad)
    assert (EXPERIMENTS_DIR / "redis-latency.json").is_file()


class _FakeRun:
    """A finished load run (`load.runner.LoadRun` as `load_within_slo` uses it)."""

    def __init__(self, result: Any) -> None:
        self._result = result

    def __enter__(self) -> _FakeRun:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def wait(self) -> Any:
        return self._result


class _Unbound:
    """In place of the bound chaos context: no reaper (nothing is started here)."""

    reaper = None


def _steady(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, results: list[Any]) -> list[Path]:
    """Make `load_within_slo` see `results` in turn; returns the run dirs it asked for."""
    asked: list[Path] = []

    def fake_start(plan: Any, run_dir: Path, reaper: Any = None) -> _FakeRun:
        asked.append(run_dir)
        return _FakeRun(results[len(asked) - 1])

    monkeypatch.setattr(activities, "start_load_run", fake_start)
    monkeypatch.setattr(activities, "current", _Unbound)
    return asked


def _config(tmp_path: Path) -> dict[str, Any]:
    return {"run_dir": str(tmp_path), "api_url": "http://127.0.0.1:8000", "p95_seconds": 1.5}


def test_a_steady_state_window_the_generator_stalled_in_is_run_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """3 of 200 arrivals sent late (a stall of the harness on a busy machine, seen in a
    drill) say nothing of the target: the next window decides."""
    stalled = make_result([0.01] * 197, seconds=5.0, rate=40.0, dropped={"sent too late": 3})
    healthy = make_result([0.01] * 200, seconds=5.0, rate=40.0)
    asked = _steady(monkeypatch, tmp_path, [stalled, healthy])
    assert activities.load_within_slo(rate=40, seconds=5, configuration=_config(tmp_path)) is True
    assert len(asked) == 2
    assert len(set(asked)) == 2  # each window keeps its own records


def test_a_steady_state_never_measured_is_an_invalid_run_not_the_targets_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stalled = make_result([0.01] * 197, seconds=5.0, rate=40.0, dropped={"sent too late": 3})
    _steady(monkeypatch, tmp_path, [stalled] * STEADY_ATTEMPTS)
    with pytest.raises(ExperimentError) as caught:
        activities.load_within_slo(rate=40, seconds=5, configuration=_config(tmp_path))
    message = str(caught.value)
    assert message.startswith(f"{INVALID_RUN}: the steady state could not be measured in 3")
    assert "dropped 3 of 200 arrivals" in message
    experiment = read(EXPERIMENTS_DIR / "redis-latency.json")
    failure = f"steady state not met before the method: mixed-within-the-slo ({message})"
    assert Outcome(experiment, "", {}, [failure], {}).verdict == "invalid"
    assert Outcome(experiment, "", {}, [failure, "rollback x: failed"], {}).verdict == "fail"
    assert Outcome(experiment, "", {}, [], {}).verdict == "pass"


def test_a_target_outside_the_slo_fails_the_steady_state_naming_what_it_answered(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    erroring = make_result([0.01] * 200, errors=10, seconds=5.0, rate=40.0)
    asked = _steady(monkeypatch, tmp_path, [erroring])
    with pytest.raises(HypothesisFailedError) as caught:
        activities.load_within_slo(rate=40, seconds=5, configuration=_config(tmp_path))
    assert len(asked) == 1  # a valid window is not run again, whatever it showed
    assert "errors 5.00%" in str(caught.value)
    assert "HTTP 500: 10" in str(caught.value)

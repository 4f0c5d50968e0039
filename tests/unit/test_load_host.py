"""The host's CPU over a run (load/host.py), and an invalid run naming it as the cause."""

from __future__ import annotations

from pathlib import Path

from load.host import CpuTimes, cpu_times
from load.result import GeneratorStats


def _stat(path: Path, user: int, idle: int, steal: int) -> Path:
    path.write_text(f"cpu  {user} 0 0 {idle} 0 0 0 {steal} 0 0\ncpu0 1 2 3 4\n")
    return path


def test_busy_and_stolen_shares_between_two_readings(tmp_path: Path) -> None:
    before = cpu_times(_stat(tmp_path / "a", user=100, idle=800, steal=100))
    after = cpu_times(_stat(tmp_path / "b", user=400, idle=1400, steal=200))
    assert before == CpuTimes(total=1000, busy=100, steal=100)
    busy, stolen = after.since(before)
    assert (busy, stolen) == (0.3, 0.1)


def test_an_unreadable_proc_stat_reads_as_nothing(tmp_path: Path) -> None:
    assert cpu_times(tmp_path / "missing").since(CpuTimes(0, 0, 0)) == (0.0, 0.0)


def _stats(**overrides: object) -> GeneratorStats:
    values: dict[str, object] = {
        "vus": 10,
        "peak_in_flight": 3,
        "cpu": 0.2,
        "dropped": {},
        "tolerance": 0.05,
        "send_lag_p99": 0.001,
        "send_lag_max": 0.9,
        "arrivals": 160,
        "max_dropped_ratio": 0.0,
        "host_busy": 0.97,
        "host_steal": 0.04,
    }
    values.update(overrides)
    return GeneratorStats(**values)  # type: ignore[arg-type]


def test_an_invalid_run_names_the_host_not_the_target() -> None:
    problem = _stats(dropped={"late": 1}).problem()
    assert problem is not None
    assert "dropped 1 of 160 arrivals" in problem
    assert "the host's CPU was 97% busy, 4.0% stolen by the hypervisor" in problem
    assert "max 900 ms" in problem


def test_a_held_plan_has_no_problem_whatever_the_host() -> None:
    assert _stats().problem() is None

"""The open model split across workers, and the generator's verdict on a distributed run."""

from __future__ import annotations

from typing import Any

import pytest

from load.distributed import (
    INVALID,
    VALID,
    WorkerState,
    check_workers,
    judge,
    parse_address,
    refuse_target,
    worker_schedule,
    worker_vus,
)
from load.errors import LoadPlanError
from load.pacing import ArrivalSchedule
from load.plan import LoadPlan
from tests.reference import traffic


def plan(**overrides: Any) -> LoadPlan:
    values: dict[str, Any] = {
        "scenario": "entity_query",
        "base_url": "http://127.0.0.1:8000",
        "duration_seconds": 10.0,
        "rate_per_second": 33.0,
        "max_in_flight": 17,
        "traffic": traffic("entity_query"),
    }
    values.update(overrides)
    return LoadPlan(**values)


@pytest.mark.parametrize("workers", [1, 2, 3, 7])
def test_the_workers_shares_are_disjoint_interleaved_and_make_the_plans_schedule(
    workers: int,
) -> None:
    whole = ArrivalSchedule(33.0, 10.0)
    times: list[float] = []
    for worker in range(workers):
        share = worker_schedule(plan(), worker, workers)
        mine = [share.time_of(k) for k in range(share.count)]
        assert mine == [whole.time_of(j) for j in range(worker, whole.count, workers)]
        times += mine
    assert sorted(times) == [whole.time_of(j) for j in range(whole.count)]
    assert len(set(times)) == whole.count


@pytest.mark.parametrize("offset", [0.0, 0.01, 0.5, 1.0, 3.03, 9.99, 10.0, 50.0])
def test_a_workers_count_before_an_offset_is_its_share_of_the_plans(offset: float) -> None:
    whole = ArrivalSchedule(33.0, 10.0)
    shares = [worker_schedule(plan(), worker, 3) for worker in range(3)]
    assert sum(share.count_before(offset) for share in shares) == whole.count_before(offset)
    for share in shares:
        assert share.count_before(offset) == sum(
            1 for k in range(share.count) if share.time_of(k) < min(offset, 10.0)
        )


def test_the_vus_are_split_evenly_the_first_workers_taking_the_rest() -> None:
    assert [worker_vus(plan(), worker, 3) for worker in range(3)] == [6, 6, 5]
    assert sum(worker_vus(plan(), worker, 4) for worker in range(4)) == 17


def test_a_plan_that_cannot_be_split_is_refused() -> None:
    with pytest.raises(LoadPlanError, match="open model"):
        check_workers(plan(rate_per_second=None, max_in_flight=None, users=3), 2)
    with pytest.raises(LoadPlanError, match="VUs"):
        check_workers(plan(max_in_flight=2), 3)
    with pytest.raises(LoadPlanError, match="workers"):
        check_workers(plan(), 0)
    with pytest.raises(LoadPlanError, match="not in"):
        worker_schedule(plan(), 2, 2)


def done(name: str, scheduled: int = 100, dropped: int = 0) -> WorkerState:
    state = WorkerState(name, done=True)
    state.generator = {"scheduled": scheduled, "dropped": {"sent too late": dropped}}
    return state


def test_a_run_whose_workers_all_held_the_plan_is_valid() -> None:
    assert judge(plan(), 2, [done("w0"), done("w1", dropped=1)]) == (VALID, None)


def test_a_worker_missing_at_start_makes_the_run_invalid_saying_how_many_joined() -> None:
    validity, reason = judge(plan(), 2, [done("w0")])
    assert validity == INVALID
    assert reason is not None
    assert "1 of 2 workers joined (w0)" in reason


def test_a_worker_lost_mid_run_makes_the_run_invalid_naming_it() -> None:
    lost = WorkerState("w1", lost="no heartbeat (Locust marked it missing)")
    validity, reason = judge(plan(), 2, [done("w0"), lost])
    assert validity == INVALID
    assert reason is not None
    assert "worker w1 lost mid-run" in reason
    assert "w0" not in reason


def test_a_worker_dropping_beyond_the_limit_makes_the_run_invalid_naming_it() -> None:
    validity, reason = judge(plan(), 2, [done("w0"), done("w1", dropped=5)])
    assert validity == INVALID
    assert reason is not None
    assert reason.startswith("worker w1 dropped 5 of 100 arrivals")


def test_a_worker_refuses_a_target_off_this_machine_unless_allowed() -> None:
    remote = plan(base_url="http://203.0.113.9:8000", allow_remote=True)
    refused = refuse_target(remote, allow_remote=False)
    assert refused is not None
    assert "--allow-remote" in refused
    assert refuse_target(remote, allow_remote=True) is None
    assert refuse_target(plan(), allow_remote=False) is None


def test_a_master_address_is_host_and_port() -> None:
    assert parse_address("127.0.0.1:5557") == ("127.0.0.1", 5557)
    assert parse_address("[::1]:5557") == ("::1", 5557)
    with pytest.raises(LoadPlanError):
        parse_address("127.0.0.1")

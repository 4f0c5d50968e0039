"""A load plan is checked on construction: one clear line per problem, nothing sent."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from load.errors import LoadPlanError
from load.plan import LoadPlan, is_loopback
from load.traffic import Traffic
from tests.reference import traffic

BASE = "http://127.0.0.1:8000"


def plan(**overrides: Any) -> LoadPlan:
    values: dict[str, Any] = {
        "scenario": "entity_query",
        "base_url": BASE,
        "duration_seconds": 30.0,
        "rate_per_second": 20.0,
        "traffic": traffic("entity_query"),
    }
    values.update(overrides)
    return LoadPlan(**values)


def rejected(**overrides: Any) -> str:
    with pytest.raises(LoadPlanError) as caught:
        plan(**overrides)
    message = str(caught.value)
    assert "\n" not in message, "the message must be one line"
    return message


def test_a_plan_names_its_workload_and_carries_its_traffic(tmp_path: Path) -> None:
    locustfile = tmp_path / "spike.py"
    locustfile.write_text("from locust import HttpUser\nclass Spike(HttpUser): pass\n")
    spike = plan(scenario="spike", traffic=Traffic(locustfile=str(locustfile)))
    assert spike.scenario == "spike"
    assert spike.traffic.locustfile == str(locustfile)
    assert "load plan: scenario='' must name the workload" in rejected(scenario="")
    missing = tmp_path / "gone.py"
    with pytest.raises(LoadPlanError, match=r"gone\.py is not a file"):
        Traffic(locustfile=str(missing))


def test_a_valid_plan() -> None:
    valid = plan(processes=2, seed=7)
    assert valid.open_model
    assert valid.traffic.routes == ("GET /entities/{id}",)
    closed = plan(rate_per_second=None, users=10, spawn_rate=5.0)
    assert not closed.open_model
    assert closed.ramp_seconds == 2.0
    assert plan(rate_per_second=None, users=10).effective_spawn_rate == 10.0


def test_the_in_flight_cap_follows_littles_law_unless_given() -> None:
    # 20/s x 1.5 s x 4 = 120 VUs; bounded below and above.
    assert plan().vus == 120
    assert plan(latency_bound_seconds=0.01).vus == 16
    assert plan(rate_per_second=5000.0).vus == 2000
    assert plan(max_in_flight=3).vus == 3
    assert "max_in_flight=0" in rejected(max_in_flight=0)
    assert "send_tolerance_seconds=0" in rejected(send_tolerance_seconds=0)


def test_the_models_do_not_mix() -> None:
    assert "users is for the closed model" in rejected(users=10)
    assert "spawn_rate is for the closed model" in rejected(spawn_rate=2.0)
    message = rejected(rate_per_second=None, users=2, max_in_flight=4)
    assert "max_in_flight caps the open model" in message
    assert "give at least one user, or a rate_per_second" in rejected(rate_per_second=None)


def test_processes_split_the_vus_and_the_rate() -> None:
    split = plan(max_in_flight=5, processes=2)
    assert [split.vus_of(0), split.vus_of(1)] == [3, 2]
    assert split.rate_of(0) == 12.0
    assert split.rate_of(1) == 8.0


@pytest.mark.parametrize("rate", [0, 0.0, -5.0, math.nan, math.inf])
def test_rate_must_be_positive(rate: float) -> None:
    message = rejected(rate_per_second=rate)
    assert f"rate_per_second={rate!r}" in message
    assert "> 0" in message
    assert "None for the closed model" in message


@pytest.mark.parametrize("users", [0, -1, 1.5, True])
def test_users_must_be_a_positive_integer(users: object) -> None:
    message = rejected(users=users, rate_per_second=None)
    assert f"users={users!r}" in message


@pytest.mark.parametrize("duration", [0, -1.0])
def test_duration_must_be_positive(duration: float) -> None:
    assert f"duration_seconds={duration!r} must be a number > 0" in rejected(
        duration_seconds=duration
    )


def test_duration_over_the_default_cap() -> None:
    assert plan(duration_seconds=1200).duration_seconds == 1200  # a 20-minute workload
    message = rejected(duration_seconds=14401)
    assert message == (
        "load plan: duration_seconds=14401 exceeds the cap of 14400 s; "
        "shorten the run or raise max_duration_seconds"
    )


def test_the_cap_is_settable() -> None:
    assert plan(duration_seconds=900, max_duration_seconds=900).duration_seconds == 900
    assert "cap of 30 s" in rejected(duration_seconds=31, max_duration_seconds=30)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8080",
        "http://192.168.1.10",
        "https://api.staging.example",
        "http://[2001:db8::1]:80",
    ],
)
def test_remote_targets_need_an_explicit_opt_in(url: str) -> None:
    message = rejected(base_url=url)
    assert repr(url) in message
    assert "127.0.0.0/8" in message
    assert "allow_remote=True" in message
    assert plan(base_url=url, allow_remote=True).base_url == url


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:1", "http://127.3.2.1:8000", "http://[::1]:8000", "http://localhost:80"],
)
def test_loopback_targets_are_local(url: str) -> None:
    assert plan(base_url=url).base_url == url


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://127.0.0.1/", "http://"])
def test_base_url_must_be_http(url: str) -> None:
    assert "is not an http(s) URL" in rejected(base_url=url)


def test_loopback_names() -> None:
    assert is_loopback("LOCALHOST")
    assert not is_loopback("localhost.example")
    assert not is_loopback("0.0.0.0")  # noqa: S104 - the address under test


def test_processes() -> None:
    assert "processes=0" in rejected(processes=0)
    message = rejected(processes=11, max_in_flight=10)
    assert "processes=11 > 10 VUs" in message
    assert "lower processes or raise max_in_flight / users" in message


def test_spawn_rate_and_entity_ids() -> None:
    assert "spawn_rate=0" in rejected(spawn_rate=0, rate_per_second=None, users=2)
    with pytest.raises(LoadPlanError, match="entity ids '0-5'"):
        traffic("entity_query", ids="0-5")
    ids = plan(traffic=traffic("entity_query", ids="3-9,20")).traffic.values["entity"]["ids"]
    assert ids == "3-9,20"


def test_json_round_trip() -> None:
    mixed = traffic("mixed", ids="1-5")
    original = plan(seed=3, processes=2, allow_remote=False, max_in_flight=30, traffic=mixed)
    assert LoadPlan.from_json(original.to_json()) == original


def test_a_tampered_plan_file_is_rejected_by_the_child_side_reader() -> None:
    text = plan().to_json().replace('"rate_per_second": 20.0', '"rate_per_second": 0')
    with pytest.raises(LoadPlanError, match="rate_per_second=0"):
        LoadPlan.from_json(text)
    with pytest.raises(LoadPlanError, match="unknown key"):
        LoadPlan.from_json('{"scenario": "mixed", "rps": 3}')
    with pytest.raises(LoadPlanError, match="not valid JSON"):
        LoadPlan.from_json("{")
    with pytest.raises(LoadPlanError, match="no traffic"):
        LoadPlan.from_json('{"scenario": "mixed"}')

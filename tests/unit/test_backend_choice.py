"""`--backend`: a file profile means external, `native` never asks Docker, `auto` falls back.

This machine runs no Docker engine, so the "no engine" branches are exercised for real; the
"engine answers" branch replaces `docker_engine_problem` with one that reports no problem.
"""

from __future__ import annotations

import pytest

from fixtures import backend
from fixtures.backend import REQUESTABLE, Backend, choose_backend, docker_engine_problem


def _must_not_probe() -> str | None:
    raise AssertionError("the Docker engine must not be asked here")


@pytest.fixture
def engine_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "docker_engine_problem", lambda: None)


@pytest.fixture
def no_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "docker_engine_problem", _must_not_probe)


@pytest.fixture
def real_engine_problem() -> str:
    """Why no Docker engine answers on this machine (skips where one does)."""
    problem = docker_engine_problem()
    if problem is None:
        pytest.skip("a Docker engine answers on this machine")
    return problem


@pytest.mark.usefixtures("no_probe")
@pytest.mark.parametrize("requested", ["docker", "", "Native", "external", "latest"])
@pytest.mark.parametrize("profile_is_local", [True, False])
def test_an_unknown_backend_is_refused_naming_the_allowed_ones(
    requested: str, profile_is_local: bool
) -> None:
    with pytest.raises(ValueError, match="--backend") as refused:
        choose_backend(requested, profile_is_local)
    message = str(refused.value)
    assert repr(requested) in message
    for allowed in REQUESTABLE:
        assert allowed in message


@pytest.mark.usefixtures("no_probe")
@pytest.mark.parametrize("requested", REQUESTABLE)
def test_a_file_profile_always_means_external(requested: str) -> None:
    choice = choose_backend(requested, profile_is_local=False)
    assert choice.backend is Backend.EXTERNAL
    assert choice.reason


@pytest.mark.usefixtures("no_probe")
def test_native_is_chosen_without_asking_docker() -> None:
    choice = choose_backend("native", profile_is_local=True)
    assert choice.backend is Backend.NATIVE
    assert "native" in choice.reason


def test_the_engine_problem_is_one_short_line(real_engine_problem: str) -> None:
    assert real_engine_problem.strip()
    assert "\n" not in real_engine_problem
    assert len(real_engine_problem) <= 200


def test_auto_without_an_engine_falls_back_to_native(real_engine_problem: str) -> None:
    choice = choose_backend("auto", profile_is_local=True)
    assert choice.backend is Backend.NATIVE
    assert "no Docker engine" in choice.reason
    assert real_engine_problem in choice.reason


def test_containers_without_an_engine_says_to_use_native(real_engine_problem: str) -> None:
    with pytest.raises(ValueError, match="--backend native") as refused:
        choose_backend("containers", profile_is_local=True)
    assert "Docker engine" in str(refused.value)
    assert real_engine_problem in str(refused.value)


def test_containers_without_an_engine_whatever_the_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backend, "docker_engine_problem", lambda: "connection refused")
    with pytest.raises(ValueError, match=r"connection refused.*--backend native"):
        choose_backend("containers", profile_is_local=True)
    choice = choose_backend("auto", profile_is_local=True)
    assert choice.backend is Backend.NATIVE
    assert "no Docker engine" in choice.reason


@pytest.mark.usefixtures("engine_answers")
@pytest.mark.parametrize("requested", ["auto", "containers"])
def test_containers_when_an_engine_answers(requested: str) -> None:
    choice = choose_backend(requested, profile_is_local=True)
    assert choice.backend is Backend.CONTAINERS
    assert choice.reason


@pytest.mark.usefixtures("engine_answers")
def test_native_stays_native_even_when_an_engine_answers() -> None:
    assert choose_backend("native", profile_is_local=True).backend is Backend.NATIVE

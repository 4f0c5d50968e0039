"""Pure logic of the reference target: route labels, faults, error classes, the seed graph."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

import psycopg
import pytest
from neo4j.exceptions import CypherSyntaxError, ServiceUnavailable
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.routing import Route
from starlette.types import Scope

from sut.app import UNMATCHED_ROUTE, Target, route_template
from sut.config import Faults, load_config
from sut.dependencies import neighbors_query
from sut.errors import describe_error, failure_kind
from sut.faults import FaultInjector
from sut.seed import generate_graph
from sut.seed import main as seed_main


def http_scope(path: str, method: str = "GET") -> Scope:
    return {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}


ENVIRON = {
    "TARGET_PG_DSN": "postgresql://u@127.0.0.1/db",
    "TARGET_NEO4J_URI": "bolt://127.0.0.1:7687",
    "TARGET_NEO4J_USER": "neo4j",
    "TARGET_NEO4J_PASSWORD": "pw",
    "TARGET_REDIS_URL": "redis://127.0.0.1:6379/0",
}


@pytest.fixture(scope="module")
def routes() -> list[Route]:
    found = Target(load_config(ENVIRON)).routes()
    return [route for route in found if isinstance(route, Route)]


@pytest.mark.parametrize(
    ("path", "method", "template"),
    [
        ("/entities/42", "GET", "/entities/{id}"),
        ("/entities/not-a-number", "GET", "/entities/{id}"),
        ("/entities", "POST", "/entities"),
        ("/entities/42", "DELETE", "/entities/{id}"),  # 405 keeps its route
        ("/graph/7/neighbors", "GET", "/graph/{id}/neighbors"),
        ("/healthz", "GET", "/healthz"),
        ("/nope/42", "GET", UNMATCHED_ROUTE),
    ],
)
def test_route_label_is_the_template(
    routes: list[Route], path: str, method: str, template: str
) -> None:
    assert route_template(routes, http_scope(path, method)) == template


def test_no_fault_never_fires() -> None:
    injector = FaultInjector(Faults())
    assert not any(injector.should_fail() for _ in range(1000))
    assert injector.graph_delay_seconds() == 0.0


def test_fault_shares_are_roughly_honoured_and_reproducible() -> None:
    faults = Faults(graph_delay_seconds=2.0, graph_delay_share=0.1, error_share=0.3, seed=1)
    first, second = FaultInjector(faults), FaultInjector(faults)
    errors = [first.should_fail() for _ in range(10_000)]
    assert errors == [second.should_fail() for _ in range(10_000)]
    assert 0.27 < sum(errors) / len(errors) < 0.33
    delays = Counter(first.graph_delay_seconds() for _ in range(10_000))
    assert set(delays) == {0.0, 2.0}
    assert 0.08 < delays[2.0] / 10_000 < 0.12


def test_full_share_always_fires() -> None:
    injector = FaultInjector(Faults(graph_delay_seconds=0.01, graph_delay_share=1.0, error_share=1))
    assert all(injector.should_fail() for _ in range(100))
    assert asyncio.run(asyncio.wait_for(injector.delay_graph_query(), 1)) is None


@pytest.mark.parametrize("depth", [0, 4, -1])
def test_neighbors_query_refuses_depths_outside_the_contract(depth: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        neighbors_query(depth)


def test_neighbors_query_puts_the_depth_in_the_pattern() -> None:
    assert "[:LINKS*1..3]-" in neighbors_query(3)


def test_failures_are_classified() -> None:
    assert failure_kind(TimeoutError()) == "timeout"
    assert failure_kind(PoolTimeout("no connection")) == "timeout"
    assert failure_kind(RedisTimeoutError("slow")) == "timeout"
    assert failure_kind(psycopg.OperationalError("refused")) == "error"
    assert failure_kind(ServiceUnavailable("down")) == "error"
    assert failure_kind(RedisConnectionError("refused")) == "error"
    assert failure_kind(CypherSyntaxError("bad query")) is None  # a bug: 500, not 503
    assert failure_kind(KeyError("x")) is None


def test_error_descriptions_are_one_short_line() -> None:
    assert describe_error(OSError("refused\nsecond line")) == "OSError: refused"
    assert describe_error(TimeoutError()) == "TimeoutError"
    assert len(describe_error(ValueError("x" * 500))) == 200


def test_generated_graph_is_deterministic_and_well_formed() -> None:
    graph = generate_graph(500, 5, seed=42)
    assert graph == generate_graph(500, 5, seed=42)
    assert graph != generate_graph(500, 5, seed=43)
    assert [entity.id for entity in graph.entities] == list(range(1, 501))
    assert len(graph.links) == 2500
    assert len(set(graph.links)) == len(graph.links)
    assert all(source != target for source, target in graph.links)
    assert all(1 <= target <= 500 for _, target in graph.links)
    assert Counter(source for source, _ in graph.links) == dict.fromkeys(range(1, 501), 5)


@pytest.mark.parametrize(("entities", "links"), [(0, 5), (1, 5), (3, 5)])
def test_tiny_graphs_link_what_they_can(entities: int, links: int) -> None:
    graph = generate_graph(entities, links, seed=1)
    assert len(graph.entities) == entities
    assert len(graph.links) == entities * max(entities - 1, 0)


def test_seed_cli_names_missing_variables_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("TARGET_PG_DSN", "TARGET_NEO4J_URI", "TARGET_NEO4J_USER", "TARGET_NEO4J_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TARGET_NEO4J_USER", "neo4j")
    assert seed_main([]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "sut.seed: missing required environment variable(s): "
        "TARGET_PG_DSN, TARGET_NEO4J_URI, TARGET_NEO4J_PASSWORD"
    )


def test_seed_cli_reports_an_unreachable_database_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # bound, not listening: connections are refused
        monkeypatch.setenv("TARGET_PG_DSN", f"postgresql://u:p@127.0.0.1:{port}/db")
        monkeypatch.setenv("TARGET_NEO4J_URI", f"bolt://127.0.0.1:{port}")
        monkeypatch.setenv("TARGET_NEO4J_USER", "neo4j")
        monkeypatch.setenv("TARGET_NEO4J_PASSWORD", "pw")
        monkeypatch.delenv("TARGET_REDIS_URL", raising=False)
        assert seed_main(["--entities", "3"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("sut.seed: seeding failed: OperationalError")

"""The reference target (design section 4) against real Postgres, Neo4j and Redis.

The databases are started natively by the harness's own launcher; the target runs as
`python -m sut` in a subprocess, exactly as a provider or a developer would run it.
Every row of the contract table is checked, and so is what happens when a dependency is
down, hangs, is down at boot, or when the test-only faults are switched on.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from neo4j import GraphDatabase
from prometheus_client.parser import text_string_to_metric_families

from fixtures.backend import Backend
from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.lifecycle.ports import LOOPBACK, PortAllocator
from fixtures.profile import local_profile
from fixtures.providers.neo4j import Neo4jEndpoint, Neo4jProvider
from fixtures.providers.postgres import PostgresEndpoint, PostgresProvider
from fixtures.providers.redis import RedisEndpoint, RedisProvider
from sut.seed import SeedReport, generate_graph, seed
from system.deadline import NotYet, WaitTimeoutError, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PORTS = PortAllocator()
SEED_ENTITIES = 10_000
SEED_LINKS = 5
SEED_SEED = 42
SEED_BOUND_SECONDS = 60.0
START_DEADLINE_SECONDS = 30.0
SHORT_TIMEOUT = 0.5  # dependency timeout of the instances that are made to fail
HTTP_TIMEOUT = 10.0


# --- the databases and the target process ----------------------------------------------
@dataclass(frozen=True)
class Databases:
    launcher: ServiceLauncher
    postgres: PostgresEndpoint
    redis: RedisEndpoint
    neo4j: Neo4jEndpoint


@dataclass(frozen=True)
class Target:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(self.url + path, params=params or None, timeout=HTTP_TIMEOUT)

    def post(self, path: str, data: bytes | str) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        return requests.post(self.url + path, data=data, headers=headers, timeout=HTTP_TIMEOUT)

    def create(self, name: str, kind: str = "person", links: list[int] | None = None) -> int:
        answer = self.post(
            "/entities", json.dumps({"name": name, "kind": kind, "links": links or []})
        )
        assert answer.status_code == 201, answer.text
        entity_id = answer.json()["id"]
        assert isinstance(entity_id, int)
        return entity_id

    def metrics(self) -> Metrics:
        answer = self.get("/metrics")
        assert answer.status_code == 200
        return Metrics(answer.text)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Metrics:
    """A parsed /metrics page: sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}

    def value(self, sample: str, **labels: str) -> float:
        """The sum of the samples named `sample` whose labels include `labels` (0 if none)."""
        return sum(
            found.value
            for family in self.families.values()
            for found in family.samples
            if found.name == sample and labels.items() <= found.labels.items()
        )

    def label_sets(self, sample: str) -> list[dict[str, str]]:
        return [
            dict(found.labels)
            for family in self.families.values()
            for found in family.samples
            if found.name == sample
        ]


def target_environment(databases: Databases, **overrides: str) -> dict[str, str]:
    return {
        "TARGET_PG_DSN": databases.postgres.dsn,
        "TARGET_NEO4J_URI": databases.neo4j.uri,
        "TARGET_NEO4J_USER": databases.neo4j.user,
        "TARGET_NEO4J_PASSWORD": databases.neo4j.password,
        "TARGET_REDIS_URL": databases.redis.url,
        **overrides,
    }


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any TARGET_* variable, plus `extra`."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("TARGET_")}
    return {**inherited, "PYTHONPATH": str(ROOT), **extra}


@contextmanager
def running_target(environment: Mapping[str, str], *, healthy: bool = True) -> Iterator[Target]:
    """`python -m sut` on a free loopback port; waits for /healthz (200, or any answer)."""
    port = PORTS.reserve()
    log_path = Path(tempfile.mkstemp(prefix="sut-", suffix=".log")[1])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sut", "--host", LOOPBACK, "--port", str(port)],
            cwd=ROOT,
            env=clean_environment(environment),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    target = Target(f"http://{LOOPBACK}:{port}", process, log_path)
    try:
        wait_for_health(target, healthy)
        yield target
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_path.unlink(missing_ok=True)


def wait_for_health(target: Target, healthy: bool) -> None:
    """Until /healthz answers 200 (`healthy`) or anything at all."""

    def answered() -> bool | NotYet:
        if target.process.poll() is not None:
            pytest.fail(f"target exited with {target.process.returncode}: {target.log()}")
        answer = requests.get(target.url + "/healthz", timeout=5)
        return (
            answer.status_code == 200
            or not healthy
            or NotYet(f"{answer.status_code} {answer.text}")
        )

    try:
        wait_until(
            answered,
            seconds=START_DEADLINE_SECONDS,
            what="the target answering /healthz" + (" healthy" if healthy else ""),
            retry_on=(requests.ConnectionError,),
        )
    except WaitTimeoutError as timeout:
        pytest.fail(f"{timeout}\n{target.log()}")


def eventually(check: Callable[[], bool], deadline_seconds: float, what: str) -> None:
    try:
        wait_until(check, seconds=deadline_seconds, what=what, interval=0.2)
    except WaitTimeoutError as timeout:
        pytest.fail(str(timeout), pytrace=False)


def timed(call: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


@contextmanager
def black_hole() -> Iterator[int]:
    """A port that accepts connections and never answers: the worst kind of dependency."""
    with socket.socket() as listener:
        listener.bind((LOOPBACK, PORTS.reserve()))
        listener.listen(64)
        yield listener.getsockname()[1]


def stop_process(service: RunningService[Any]) -> None:
    assert service.process is not None
    service.process.stop()


def restart_process(service: RunningService[Any]) -> None:
    """Start the same server again: same port, same data directory."""
    assert service.process is not None
    service.process.start()


# --- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def databases() -> Iterator[Databases]:
    launcher = ServiceLauncher(Backend.NATIVE, local_profile())
    try:
        yield Databases(
            launcher,
            launcher.start(PostgresProvider()).endpoint,
            launcher.start(RedisProvider()).endpoint,
            launcher.start(Neo4jProvider()).endpoint,
        )
    finally:
        launcher.close()


@pytest.fixture(scope="module")
def seeded(databases: Databases) -> SeedReport:
    neo4j = databases.neo4j
    return seed(
        databases.postgres.dsn,
        neo4j.uri,
        (neo4j.user, neo4j.password),
        entities=SEED_ENTITIES,
        links_per_entity=SEED_LINKS,
        seed=SEED_SEED,
        redis_url=databases.redis.url,
    )


@pytest.fixture(scope="module")
def target(databases: Databases, seeded: SeedReport) -> Iterator[Target]:
    with running_target(target_environment(databases)) as running:
        yield running


def count_rows(databases: Databases) -> int:
    with psycopg.connect(databases.postgres.dsn) as connection:
        row = connection.execute("SELECT count(*) FROM entities").fetchone()
    assert row is not None
    return int(row[0])


def neo4j_query(databases: Databases, query: str, **parameters: Any) -> list[dict[str, Any]]:
    endpoint = databases.neo4j
    with GraphDatabase.driver(endpoint.uri, auth=(endpoint.user, endpoint.password)) as driver:
        records, _, _ = driver.execute_query(query, parameters)
    return [record.data() for record in records]


# --- GET /healthz ------------------------------------------------------------------------
def test_healthz_is_ok_and_names_every_check(target: Target) -> None:
    answer = target.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "checks": {"postgres": "ok", "neo4j": "ok", "redis": "ok"},
    }


# --- seeding -----------------------------------------------------------------------------
def test_seed_loads_the_default_graph_well_within_a_minute(
    databases: Databases, seeded: SeedReport
) -> None:
    print(f"\n{seeded.describe()}")
    assert seeded.total_seconds < SEED_BOUND_SECONDS
    assert seeded.entities == SEED_ENTITIES
    assert seeded.links == SEED_ENTITIES * SEED_LINKS
    [edges] = neo4j_query(databases, "MATCH (:Entity)-[r:LINKS]->(:Entity) RETURN count(r) AS n")
    assert edges["n"] >= seeded.links


def test_neighbors_match_the_generated_graph_at_every_depth(target: Target) -> None:
    graph = generate_graph(SEED_ENTITIES, SEED_LINKS, SEED_SEED)
    adjacent: dict[int, set[int]] = defaultdict(set)
    for source, destination in graph.links:
        adjacent[source].add(destination)
        adjacent[destination].add(source)
    for start in (1, 777, SEED_ENTITIES):
        frontier, seen = {start}, {start}
        for depth in (1, 2, 3):
            frontier = {n for node in frontier for n in adjacent[node]} - seen
            seen |= frontier
            answer = target.get(f"/graph/{start}/neighbors", depth=str(depth))
            assert answer.status_code == 200, answer.text
            assert answer.json()["neighbors"] == sorted(seen - {start}), (start, depth)


# --- POST /entities and GET /entities/{id} ----------------------------------------------
def test_created_entity_is_a_row_a_node_and_edges(databases: Databases, target: Target) -> None:
    first = target.create("first", kind="organization")
    answer = target.post(
        "/entities", json.dumps({"name": "second", "kind": "person", "links": [first, 3, 3]})
    )
    assert answer.status_code == 201
    second = answer.json()["id"]
    assert answer.headers["Location"] == f"/entities/{second}"
    assert second > SEED_ENTITIES  # the seed moved the id sequence past its own ids

    read = target.get(f"/entities/{second}")
    assert read.status_code == 200
    entity = read.json()
    assert {key: entity[key] for key in ("id", "name", "kind")} == {
        "id": second,
        "name": "second",
        "kind": "person",
    }
    assert entity["created_at"]
    with psycopg.connect(databases.postgres.dsn) as connection:
        row = connection.execute("SELECT name, kind FROM entities WHERE id = %s", (second,))
        assert row.fetchone() == ("second", "person")
    nodes = neo4j_query(
        databases,
        "MATCH (n:Entity {id: $id}) OPTIONAL MATCH (n)-[:LINKS]->(t:Entity) "
        "RETURN n.name AS name, n.kind AS kind, collect(t.id) AS links",
        id=second,
    )
    assert len(nodes) == 1
    assert (nodes[0]["name"], nodes[0]["kind"]) == ("second", "person")
    assert sorted(nodes[0]["links"]) == sorted([first, 3])  # duplicates collapse to one edge


def test_reads_go_through_the_cache(target: Target) -> None:
    entity_id = target.create("cached")
    before = target.metrics()
    miss = target.get(f"/entities/{entity_id}")
    hit = target.get(f"/entities/{entity_id}")
    after = target.metrics()
    assert (miss.status_code, hit.status_code) == (200, 200)
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("miss", "hit")
    assert miss.json() == hit.json()

    def delta(sample: str, **labels: str) -> float:
        return after.value(sample, **labels) - before.value(sample, **labels)

    query = "intelgraph_query_latency_seconds_count"
    assert delta(query, database="redis", operation="cache_get") == 2
    assert delta(query, database="postgres", operation="get_entity") == 1  # the miss only
    assert delta(query, database="redis", operation="cache_set") == 1
    assert delta("intelgraph_cache_lookups_total", result="miss") == 1
    assert delta("intelgraph_cache_lookups_total", result="hit") == 1


def test_unknown_entity_is_404(target: Target) -> None:
    answer = target.get("/entities/999999999")
    assert answer.status_code == 404
    assert "999999999" in answer.json()["error"]


@pytest.mark.parametrize(
    "raw", ["abc", "1.5", "-3", "0", "+7", "1e3", "99999999999999999999", "%20"]
)
def test_malformed_entity_id_is_400(target: Target, raw: str) -> None:
    for path in (f"/entities/{raw}", f"/graph/{raw}/neighbors"):
        answer = target.get(path)
        assert answer.status_code == 400, (path, answer.text)
        assert "malformed id" in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"kind": "k", "links": []}', "missing field(s): name"),
        ('{"name": "n", "links": []}', "missing field(s): kind"),
        ('{"name": "n", "kind": "k"}', "missing field(s): links"),
        ('{"name": 5, "kind": "k", "links": []}', "name must be a string"),
        ('{"name": "n", "kind": null, "links": []}', "kind must be a string"),
        ('{"name": "", "kind": "k", "links": []}', "name must not be empty"),
        ('{"name": "n", "kind": "k", "links": 3}', "links must be a list"),
        ('{"name": "n", "kind": "k", "links": ["1"]}', "links[0] must be an integer"),
        ('{"name": "n", "kind": "k", "links": [1, true]}', "links[1] must be an integer"),
        ('{"name": "n", "kind": "k", "links": [1.5]}', "links[0] must be an integer"),
        ('{"name": "n", "kind": "k", "links": [0]}', "links[0] must be in"),
        ('{"name": "n", "kind": "k", "links": [], "x": 1}', "unknown field(s): x"),
    ],
)
def test_invalid_body_is_400_with_a_reason(target: Target, body: str, reason: str) -> None:
    answer = target.post("/entities", body)
    assert answer.status_code == 400, answer.text
    assert reason in answer.json()["error"]


def test_links_to_unknown_ids_are_422_naming_them_and_write_nothing(
    databases: Databases, target: Target
) -> None:
    rows_before = count_rows(databases)
    [nodes_before] = neo4j_query(databases, "MATCH (n:Entity) RETURN count(n) AS n")
    answer = target.post(
        "/entities", json.dumps({"name": "dangling", "kind": "k", "links": [1, 888888888]})
    )
    assert answer.status_code == 422
    assert answer.json()["unknown_ids"] == [888888888]
    assert "888888888" in answer.json()["error"]
    assert count_rows(databases) == rows_before
    assert neo4j_query(databases, "MATCH (n:Entity) RETURN count(n) AS n") == [nodes_before]


# --- GET /graph/{id}/neighbors -----------------------------------------------------------
def test_neighbors_follow_links_both_ways_within_depth(target: Target) -> None:
    # a <- b <- c <- d, and e alone: depth counts hops, direction does not matter.
    a = target.create("a")
    b = target.create("b", links=[a])
    c = target.create("c", links=[b])
    d = target.create("d", links=[c])
    e = target.create("e")

    def neighbors(entity_id: int, depth: int) -> list[int]:
        answer = target.get(f"/graph/{entity_id}/neighbors", depth=str(depth))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["id"] == entity_id
        result: list[int] = body["neighbors"]
        return result

    assert neighbors(a, 1) == [b]
    assert neighbors(a, 2) == [b, c]
    assert neighbors(a, 3) == [b, c, d]
    assert neighbors(c, 1) == [b, d]
    assert neighbors(d, 3) == [a, b, c]
    assert neighbors(e, 3) == []
    default = target.get(f"/graph/{a}/neighbors")
    assert default.json()["neighbors"] == [b]  # depth defaults to 1


@pytest.mark.parametrize("depth", ["0", "4", "-1", "x", "1.5", "", "99999999"])
def test_depth_out_of_range_or_not_an_integer_is_400(target: Target, depth: str) -> None:
    answer = target.get("/graph/1/neighbors", depth=depth)
    assert answer.status_code == 400, answer.text
    assert "depth" in answer.json()["error"]


def test_depth_given_twice_is_400(target: Target) -> None:
    answer = requests.get(f"{target.url}/graph/1/neighbors?depth=1&depth=2", timeout=HTTP_TIMEOUT)
    assert answer.status_code == 400


def test_neighbors_of_unknown_entity_is_404(target: Target) -> None:
    answer = target.get("/graph/999999999/neighbors", depth="2")
    assert answer.status_code == 404


# --- GET /metrics ------------------------------------------------------------------------
def test_metrics_have_the_contract_names_labels_and_buckets(target: Target) -> None:
    target.get("/entities/1")
    target.get("/graph/1/neighbors", depth="2")
    target.get("/no/such/route")
    requests.delete(f"{target.url}/entities/1", timeout=HTTP_TIMEOUT)  # 405
    metrics = target.metrics()

    query_labels = metrics.label_sets("intelgraph_query_latency_seconds_count")
    assert {"database", "operation"} == set(query_labels[0])
    assert {labels["database"] for labels in query_labels} == {"postgres", "neo4j", "redis"}
    buckets = {
        float(labels["le"])
        for labels in metrics.label_sets("intelgraph_query_latency_seconds_bucket")
    }
    assert {1.25, 1.5, 1.75} <= buckets

    for sample in ("http_request_duration_seconds_count", "http_requests_total"):
        label_sets = metrics.label_sets(sample)
        assert all(set(labels) == {"route", "method", "status"} for labels in label_sets)
        routes = {labels["route"] for labels in label_sets}
        assert {"/entities/{id}", "/graph/{id}/neighbors", "/entities", "/healthz"} <= routes
        assert not any(route.startswith("/entities/1") for route in routes)  # templates only
    assert metrics.value("http_requests_total", route="<unmatched>", status="404") >= 1
    assert metrics.value("http_requests_total", route="/entities/{id}", method="DELETE") >= 1
    assert metrics.value("http_requests_total", route="/healthz", method="GET", status="200") >= 1


# --- failing dependencies ----------------------------------------------------------------
def test_redis_down_gives_prompt_503_health_degraded_reads_and_recovery(
    databases: Databases, target: Target
) -> None:
    """A Redis of its own is stopped under a second target instance, then started again."""
    redis = databases.launcher.start(RedisProvider())
    environment = target_environment(
        databases,
        TARGET_REDIS_URL=redis.endpoint.url,
        TARGET_REDIS_TIMEOUT_SECONDS=str(SHORT_TIMEOUT),
    )
    entity_id = target.create("read while redis is down")
    try:
        with running_target(environment) as instance:
            assert instance.get(f"/entities/{entity_id}").headers["X-Cache"] == "miss"
            stop_process(redis)

            health, seconds = timed(lambda: instance.get("/healthz"))
            assert health.status_code == 503
            assert seconds < SHORT_TIMEOUT + 1
            body = health.json()
            assert body["status"] == "error"
            assert body["checks"]["redis"].startswith("error: ")
            assert (body["checks"]["postgres"], body["checks"]["neo4j"]) == ("ok", "ok")

            read, seconds = timed(lambda: instance.get(f"/entities/{entity_id}"))
            assert read.status_code == 200  # degraded: answered from Postgres
            assert read.headers["X-Cache"] == "bypass"
            assert read.json()["id"] == entity_id
            assert seconds < SHORT_TIMEOUT + 1

            restart_process(redis)
            eventually(lambda: instance.get("/healthz").status_code == 200, 15, "healthy again")
            assert instance.get(f"/entities/{entity_id}").headers["X-Cache"] == "miss"
            assert instance.get(f"/entities/{entity_id}").headers["X-Cache"] == "hit"
    finally:
        redis.stop()


def test_hanging_dependencies_give_503_within_their_timeouts(
    databases: Databases, seeded: SeedReport
) -> None:
    """Every dependency accepts connections and never answers; nothing may hang."""
    with black_hole() as port:
        environment = target_environment(
            databases,
            TARGET_PG_DSN=f"postgresql://nobody:nothing@{LOOPBACK}:{port}/none",
            TARGET_NEO4J_URI=f"bolt://{LOOPBACK}:{port}",
            TARGET_REDIS_URL=f"redis://{LOOPBACK}:{port}/0",
            TARGET_PG_TIMEOUT_SECONDS=str(SHORT_TIMEOUT),
            TARGET_NEO4J_TIMEOUT_SECONDS=str(SHORT_TIMEOUT),
            TARGET_REDIS_TIMEOUT_SECONDS=str(SHORT_TIMEOUT),
        )
        with running_target(environment, healthy=False) as instance:
            health, seconds = timed(lambda: instance.get("/healthz"))
            assert health.status_code == 503
            assert seconds < SHORT_TIMEOUT + 1
            assert health.json()["checks"] == dict.fromkeys(
                ("postgres", "neo4j", "redis"), f"error: timeout after {SHORT_TIMEOUT:g} s"
            )
            requests_to_try: list[Callable[[], requests.Response]] = [
                lambda: instance.get("/entities/1"),
                lambda: instance.get("/graph/1/neighbors", depth="3"),
                lambda: instance.post("/entities", '{"name": "n", "kind": "k", "links": []}'),
            ]
            for call in requests_to_try:
                answer, seconds = timed(call)
                assert answer.status_code == 503, answer.text
                assert answer.json()["dependency"] in {"postgres", "neo4j"}
                # a cache read may time out before Postgres does: two timeouts at most
                assert seconds < 2 * SHORT_TIMEOUT + 1


def test_postgres_down_at_boot_then_back_is_reported_and_recovered(
    databases: Databases, seeded: SeedReport
) -> None:
    postgres = databases.launcher.start(PostgresProvider())
    try:
        stop_process(postgres)
        environment = target_environment(
            databases,
            TARGET_PG_DSN=postgres.endpoint.dsn,
            TARGET_PG_TIMEOUT_SECONDS=str(SHORT_TIMEOUT),
        )
        with running_target(environment, healthy=False) as instance:
            health, seconds = timed(lambda: instance.get("/healthz"))
            assert health.status_code == 503
            assert seconds < SHORT_TIMEOUT + 1
            checks = health.json()["checks"]
            assert checks["postgres"].startswith("error: ")
            assert (checks["neo4j"], checks["redis"]) == ("ok", "ok")

            restart_process(postgres)
            eventually(
                lambda: instance.get("/healthz").status_code == 200, 30, "healthy after restart"
            )
            # Postgres answers through the recovered pool: its table is empty. (An id that no
            # test reads, so the shared Redis has not cached it from the seeded Postgres.)
            assert instance.get("/entities/4242").status_code == 404

            # A crash while the target holds pooled connections: stale ones must not linger.
            assert postgres.process is not None
            postgres.process.stop(grace_seconds=0.5)
            health, seconds = timed(lambda: instance.get("/healthz"))
            assert health.status_code == 503
            assert seconds < SHORT_TIMEOUT + 1
            restart_process(postgres)
            eventually(
                lambda: instance.get("/healthz").status_code == 200, 30, "healthy after crash"
            )
            assert [instance.get("/entities/4242").status_code for _ in range(5)] == [404] * 5

            # This Postgres issues id 1 again while the shared Neo4j has the seeded node 1.
            created = instance.post("/entities", '{"name": "late", "kind": "k", "links": []}')
            assert created.status_code == 500
            assert "out of sync" in created.json()["error"]
    finally:
        postgres.stop()


# --- test-only faults --------------------------------------------------------------------
def test_error_fault_answers_500_and_shows_in_health_and_metrics(
    databases: Databases, seeded: SeedReport
) -> None:
    environment = target_environment(databases, TARGET_FAULT_ERROR_SHARE="1")
    with running_target(environment) as instance:
        health = instance.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "faulted"
        assert health.json()["faults"] == {"error_share": 1.0}
        assert instance.get("/entities/1").status_code == 500
        assert instance.get("/graph/1/neighbors", depth="1").status_code == 500
        assert (
            instance.post("/entities", '{"name": "n", "kind": "k", "links": []}').status_code == 500
        )
        assert "TARGET_FAULT_ERROR_SHARE" in instance.get("/entities/1").json()["error"]
        metrics = instance.metrics()
        assert metrics.value("intelgraph_target_fault", fault="error_share") == 1.0
        assert metrics.value("http_requests_total", route="/entities/{id}", status="500") == 2


def test_graph_delay_fault_slows_graph_queries_only_and_shows_in_health(
    databases: Databases, seeded: SeedReport
) -> None:
    delay = 0.4
    environment = target_environment(
        databases,
        TARGET_FAULT_GRAPH_DELAY_SECONDS=str(delay),
        TARGET_FAULT_GRAPH_DELAY_SHARE="1",
        # shorter than the delay: the injected delay must slow answers, not make 503s
        TARGET_NEO4J_TIMEOUT_SECONDS="0.3",
    )
    with running_target(environment) as instance:
        health = instance.get("/healthz").json()
        assert health["status"] == "faulted"
        assert health["faults"] == {"graph_delay_seconds": delay, "graph_delay_share": 1.0}
        for _ in range(3):
            answer, seconds = timed(lambda: instance.get("/graph/1/neighbors", depth="1"))
            assert answer.status_code == 200
            assert seconds >= delay
        assert instance.get("/entities/1").status_code == 200
        metrics = instance.metrics()
        entity_seconds = metrics.value(
            "http_request_duration_seconds_sum", route="/entities/{id}", method="GET"
        )
        assert entity_seconds < delay  # entity reads are not delayed (server-side time)
        count = metrics.value(
            "intelgraph_query_latency_seconds_count", database="neo4j", operation="neighbors"
        )
        total = metrics.value(
            "intelgraph_query_latency_seconds_sum", database="neo4j", operation="neighbors"
        )
        assert count == 3
        assert total >= 3 * delay  # the server-side histogram sees the slow graph queries


# --- startup errors ----------------------------------------------------------------------
def run_sut(
    arguments: list[str], environment: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sut", *arguments],
        cwd=ROOT,
        env=clean_environment(environment),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_configuration_exits_with_one_line_naming_it() -> None:
    result = run_sut(["--port", str(PORTS.reserve())], {"TARGET_PG_DSN": "postgresql://x@h/db"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for name in (
        "TARGET_NEO4J_URI",
        "TARGET_NEO4J_USER",
        "TARGET_NEO4J_PASSWORD",
        "TARGET_REDIS_URL",
    ):
        assert name in lines[0]
    assert "TARGET_PG_DSN" not in lines[0]


def test_non_loopback_host_is_refused_without_the_flag() -> None:
    result = run_sut(["--host", "0.0.0.0", "--port", str(PORTS.reserve())], {})  # noqa: S104
    assert result.returncode == 2
    assert "--allow-non-loopback" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

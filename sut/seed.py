"""Load a deterministic random graph into the target's databases, fast.

`seed(...)` replaces every entity: ids 1..N in Postgres (one COPY) and as :Entity nodes
with `LINKS` edges in Neo4j (UNWIND batches), then moves the id sequence past N so the
target's own inserts continue at N+1. The same (entities, links_per_entity, seed) always
gives the same names, kinds and edges, so load scenarios can pick ids and expect answers.

Command line (connection settings from the target's own environment variables):

    TARGET_PG_DSN=... TARGET_NEO4J_URI=... TARGET_NEO4J_USER=... TARGET_NEO4J_PASSWORD=... \
        python -m sut.seed --entities 10000 --links-per-entity 5 --seed 42
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString, TypeVar

import psycopg
import redis
from neo4j import GraphDatabase, ManagedTransaction
from neo4j.exceptions import DriverError, Neo4jError
from redis.exceptions import RedisError

from sut.config import (
    DEFAULT_NEO4J_DATABASE,
    NEO4J_DATABASE,
    NEO4J_PASSWORD,
    NEO4J_URI,
    NEO4J_USER,
    PG_DSN,
    REDIS_URL,
)
from sut.dependencies import CACHE_KEY_PREFIX
from sut.errors import describe_error
from sut.schema import ensure_neo4j_schema_sync, ensure_postgres_schema_sync

KINDS = ("person", "organization", "location", "event", "document", "account")
NODE_BATCH = 10_000
EDGE_BATCH = 10_000

DELETE_ENTITIES: LiteralString = (
    "MATCH (n:Entity) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
)
CREATE_NODES: LiteralString = (
    "UNWIND $rows AS row CREATE (:Entity {id: row.id, name: row.name, kind: row.kind})"
)
CREATE_EDGES: LiteralString = """
UNWIND $rows AS row
MATCH (a:Entity {id: row[0]})
MATCH (b:Entity {id: row[1]})
CREATE (a)-[:LINKS]->(b)
"""

T = TypeVar("T")


@dataclass(frozen=True)
class Entity:
    id: int
    name: str
    kind: str


@dataclass(frozen=True)
class Graph:
    entities: tuple[Entity, ...]
    links: tuple[tuple[int, int], ...]  # (from id, to id), from != to, no duplicates


@dataclass(frozen=True)
class SeedReport:
    entities: int
    links: int
    postgres_seconds: float
    neo4j_seconds: float
    total_seconds: float

    def describe(self) -> str:
        return (
            f"seeded {self.entities} entities and {self.links} links in "
            f"{self.total_seconds:.1f} s (postgres {self.postgres_seconds:.1f} s, "
            f"neo4j {self.neo4j_seconds:.1f} s)"
        )


def generate_graph(entities: int, links_per_entity: int, seed: int) -> Graph:
    """Entities 1..N, each linking to `links_per_entity` distinct others (fewer if N is small)."""
    if entities < 0 or links_per_entity < 0:
        raise ValueError("entities and links_per_entity must be >= 0")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    nodes = tuple(
        Entity(index, f"entity-{index}", KINDS[rng.randrange(len(KINDS))])
        for index in range(1, entities + 1)
    )
    per_entity = min(links_per_entity, max(entities - 1, 0))
    links: list[tuple[int, int]] = []
    for source in range(1, entities + 1):
        # One spare draw so that dropping `source` itself still leaves enough targets.
        drawn = rng.sample(range(1, entities + 1), min(per_entity + 1, entities))
        targets = [target for target in drawn if target != source][:per_entity]
        links.extend((source, target) for target in targets)
    return Graph(nodes, tuple(links))


def seed(
    pg_dsn: str,
    neo4j_uri: str,
    neo4j_auth: tuple[str, str],
    *,
    entities: int = 10_000,
    links_per_entity: int = 5,
    seed: int = 42,
    neo4j_database: str = DEFAULT_NEO4J_DATABASE,
    redis_url: str | None = None,
) -> SeedReport:
    """Replace all entities with the generated graph; clear cached entities if Redis is given."""
    started = time.perf_counter()
    graph = generate_graph(entities, links_per_entity, seed)
    _load_postgres(pg_dsn, graph)
    postgres_done = time.perf_counter()
    _load_neo4j(neo4j_uri, neo4j_auth, neo4j_database, graph)
    neo4j_done = time.perf_counter()
    if redis_url is not None:
        clear_cache(redis_url)
    return SeedReport(
        entities=len(graph.entities),
        links=len(graph.links),
        postgres_seconds=postgres_done - started,
        neo4j_seconds=neo4j_done - postgres_done,
        total_seconds=time.perf_counter() - started,
    )


def _load_postgres(dsn: str, graph: Graph) -> None:
    with psycopg.connect(dsn, connect_timeout=10) as connection:
        ensure_postgres_schema_sync(connection)
        with connection.transaction():
            connection.execute("TRUNCATE entities RESTART IDENTITY")
            with connection.cursor().copy("COPY entities (id, name, kind) FROM STDIN") as copy:
                for entity in graph.entities:
                    copy.write_row((entity.id, entity.name, entity.kind))
            # The next id the target hands out is N+1 (1 when the graph is empty).
            connection.execute(
                "SELECT setval(pg_get_serial_sequence('entities', 'id'), %s, %s)",
                (max(len(graph.entities), 1), bool(graph.entities)),
            )


def _load_neo4j(uri: str, auth: tuple[str, str], database: str, graph: Graph) -> None:
    with (
        GraphDatabase.driver(uri, auth=auth, notifications_min_severity="OFF") as driver,
        driver.session(database=database) as session,
    ):
        ensure_neo4j_schema_sync(session)
        session.run(DELETE_ENTITIES).consume()
        node_rows = [{"id": e.id, "name": e.name, "kind": e.kind} for e in graph.entities]
        for node_batch in _batches(node_rows, NODE_BATCH):
            session.execute_write(_run_write, CREATE_NODES, node_batch)
        edge_rows = [list(link) for link in graph.links]
        for edge_batch in _batches(edge_rows, EDGE_BATCH):
            session.execute_write(_run_write, CREATE_EDGES, edge_batch)


def _run_write(transaction: ManagedTransaction, query: LiteralString, rows: Sequence[Any]) -> None:
    transaction.run(query, rows=list(rows)).consume()


def clear_cache(redis_url: str) -> int:
    """Delete cached entities (their content may have changed); returns how many."""
    client = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=10)
    try:
        keys = list(client.scan_iter(match=f"{CACHE_KEY_PREFIX}*", count=1000))
        for chunk in _batches(keys, 1000):
            client.delete(*chunk)
        return len(keys)
    finally:
        client.close()


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sut.seed",
        description="Replace the target's entities with a deterministic random graph.",
    )
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--links-per-entity", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--no-cache-clear",
        action="store_true",
        help=f"leave cached entities in Redis even if {REDIS_URL} is set",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    required = (PG_DSN, NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD)
    missing = [name for name in required if not os.environ.get(name, "").strip()]
    if missing:
        print(
            f"sut.seed: missing required environment variable(s): {', '.join(missing)}",
            file=sys.stderr,
        )
        return 2
    if args.entities < 0 or args.links_per_entity < 0:
        print("sut.seed: --entities and --links-per-entity must be >= 0", file=sys.stderr)
        return 2
    redis_url = os.environ.get(REDIS_URL, "").strip() or None
    try:
        report = seed(
            os.environ[PG_DSN],
            os.environ[NEO4J_URI],
            (os.environ[NEO4J_USER], os.environ[NEO4J_PASSWORD]),
            entities=args.entities,
            links_per_entity=args.links_per_entity,
            seed=args.seed,
            neo4j_database=os.environ.get(NEO4J_DATABASE, "").strip() or DEFAULT_NEO4J_DATABASE,
            redis_url=None if args.no_cache_clear else redis_url,
        )
    except (psycopg.Error, Neo4jError, DriverError, RedisError, OSError) as error:
        print(f"sut.seed: seeding failed: {describe_error(error)}", file=sys.stderr)
        return 1
    print(report.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())

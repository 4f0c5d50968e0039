"""Backups of the graph (Neo4j) and the cache (Redis), and the cross-store check.

Neo4j Community dumps and loads offline: the source server is stopped cleanly (its data
kept), `neo4j-admin database dump` writes the dump, and a fresh server is stopped, loaded
with `neo4j-admin database load --overwrite-destination` and started again. Redis: `SAVE`
writes an RDB snapshot, which a fresh server reads at start. On the native backend the
host's tools work on the server's files; on containers the image's own, in a one-off
container on the server's volumes (`RunningService.run_beside`), as the images' documentation
does it.

After a restore, the records in Postgres and the nodes in Neo4j must agree (the queries of
the system description's `[dr.consistency]`): the check names the ids found in one store
and not in the other.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import psycopg

from fixtures.backend import Backend
from fixtures.launcher import RunningService
from fixtures.providers.neo4j import Neo4jEndpoint, neo4j_admin
from fixtures.providers.redis import RedisEndpoint
from fixtures.tools import hand_to_service_user
from system.description import Consistency

SHOWN = 10
RDB = "dump.rdb"
CONTAINER_DATA = "/data"  # the official redis image's data directory (its working directory)


def dump_neo4j(source: RunningService[Neo4jEndpoint], destination: Path) -> Path:
    """Stop `source` cleanly (its data stays) and dump its database into `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    hand_to_service_user(destination)  # the admin tool runs as the server's user
    source.halt()
    dump = ("database", "dump", "neo4j", f"--to-path={destination}")
    if source.backend is Backend.CONTAINERS:
        destination.chmod(0o777)  # the image's own neo4j user writes it
        source.run_beside(["neo4j-admin", *dump], destination)
    else:
        neo4j_admin(source.endpoint, *dump)
    return destination / "neo4j.dump"


def load_neo4j(target: RunningService[Neo4jEndpoint], dump: Path) -> None:
    """Stop the fresh `target`, load `dump` over its database, start it, wait until ready."""
    target.halt()
    load = ("database", "load", "neo4j", f"--from-path={dump.parent}")
    if target.backend is Backend.CONTAINERS:
        target.run_beside(["neo4j-admin", *load, "--overwrite-destination=true"], dump.parent)
    else:
        neo4j_admin(target.endpoint, *load, "--overwrite-destination=true")
    target.restart()  # on the loaded data, through its provider


def snapshot_redis(source: RunningService[RedisEndpoint], destination: Path) -> Path:
    """`SAVE` (a consistent RDB snapshot) and copy it to `destination`."""
    client = source.endpoint.client()
    try:
        client.save()
    finally:
        client.close()
    destination.mkdir(parents=True, exist_ok=True)
    if source.backend is Backend.CONTAINERS:  # the image keeps it in /data
        destination.chmod(0o777)
        source.run_beside(["cp", f"{CONTAINER_DATA}/{RDB}", str(destination)], destination)
        return destination / RDB
    assert source.endpoint.data_dir is not None
    return Path(shutil.copy2(source.endpoint.data_dir / RDB, destination / RDB))


def restore_redis(target: RunningService[RedisEndpoint], snapshot: Path) -> None:
    """Stop the fresh `target`, put the snapshot where it reads it at start, start it."""
    target.halt()
    if target.backend is Backend.CONTAINERS:
        target.run_beside(["cp", str(snapshot), f"{CONTAINER_DATA}/{RDB}"], snapshot.parent)
    else:
        assert target.endpoint.data_dir is not None
        copied = Path(shutil.copy2(snapshot, target.endpoint.data_dir / RDB))
        hand_to_service_user(copied)
    target.restart()  # on the restored snapshot, through its provider


@dataclass(frozen=True)
class CrossStoreDiff:
    records_without_nodes: list[int]
    nodes_without_records: list[int]

    @property
    def ok(self) -> bool:
        return not (self.records_without_nodes or self.nodes_without_records)

    def describe(self) -> str:
        return (
            f"{len(self.records_without_nodes)} Postgres records without a Neo4j node "
            f"(ids {self.records_without_nodes[:SHOWN]}), "
            f"{len(self.nodes_without_records)} Neo4j nodes without a record "
            f"(ids {self.nodes_without_records[:SHOWN]})"
        )


def diff(records: set[int], nodes: set[int]) -> CrossStoreDiff:
    return CrossStoreDiff(sorted(records - nodes), sorted(nodes - records))


def cross_store_diff(pg_dsn: str, neo4j: Neo4jEndpoint, check: Consistency) -> CrossStoreDiff:
    with psycopg.connect(pg_dsn, autocommit=True) as connection:
        records = {int(row[0]) for row in connection.execute(check.sql)}
    with neo4j.driver() as driver:
        found, _, _ = driver.execute_query(check.cypher)
    return diff(records, {int(record["id"]) for record in found})

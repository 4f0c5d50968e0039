"""The graph and the cache are backed up and restored too, and the three stores agree.

Postgres (through the WAL archive), Neo4j (an offline dump, loaded into a fresh server)
and Redis (an RDB snapshot, read by a fresh server) are restored at one restore point;
then every entity in Postgres must have its node in Neo4j and every node its entity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dr.archive import switch_and_wait_archived
from dr.history import PR_GATE_ARCHIVE_TIMEOUT_SECONDS
from dr.primary import archiving_primary
from dr.restore import restore
from dr.stores import (
    cross_store_diff,
    dump_neo4j,
    load_neo4j,
    restore_redis,
    snapshot_redis,
)
from dr.targets import RecoveryTarget
from fixtures.launcher import ServiceLauncher
from fixtures.providers.s3 import S3Endpoint
from plugins.evidence import attach_text
from sut.seed import seed

# The monthly drill's (four Neo4j starts, about 70 s): `make test` keeps to the PR gate's
# DR tests; tests/integration/test_neo4j_provider.py proves the dump itself there.
pytestmark = [pytest.mark.destructive, pytest.mark.drill]

ENTITIES = 500


def test_postgres_neo4j_and_redis_restore_to_one_consistent_point(
    native_launcher: ServiceLauncher,
    s3: S3Endpoint,
    neo4j_factory: Callable[..., Any],
    redis_factory: Callable[..., Any],
) -> None:
    with archiving_primary(native_launcher, s3, PR_GATE_ARCHIVE_TIMEOUT_SECONDS) as primary:
        graph = neo4j_factory()
        cache = redis_factory()
        neo4j, redis = graph.endpoint, cache.endpoint
        seed(
            primary.endpoint.dsn,
            neo4j.uri,
            (neo4j.user, neo4j.password),
            entities=ENTITIES,
            links_per_entity=3,
        )
        client = redis.client()
        client.set("entity:1", '{"id": 1}')
        client.close()
        assert cross_store_diff(primary.endpoint.dsn, neo4j).ok
        # The restore point: base backup + archived WAL, graph dump, cache snapshot.
        primary.tool.backup(primary.endpoint, "consistent")
        switch_and_wait_archived(primary.endpoint.dsn)
        dump = dump_neo4j(graph, primary.work_root / "neo4j-dump")
        snapshot = snapshot_redis(redis, primary.work_root / "redis-snapshot")

        restored_pg = restore(
            native_launcher, primary.tool, RecoveryTarget("latest"), primary.work_root
        )
        restored_graph = neo4j_factory()
        load_neo4j(restored_graph, dump)
        restored_cache = redis_factory()
        restore_redis(restored_cache, snapshot)
        try:
            check = cross_store_diff(restored_pg.endpoint.dsn, restored_graph.endpoint)
            attach_text("cross-store check after restore", check.describe())
            assert check.ok, check.describe()
            client = restored_cache.endpoint.client()
            assert client.get("entity:1") == b'{"id": 1}'
            client.close()
            # The check itself sees a node lost in the restore.
            with restored_graph.endpoint.driver() as driver:
                driver.execute_query("MATCH (n:Entity {id: 7}) DETACH DELETE n")
            broken = cross_store_diff(restored_pg.endpoint.dsn, restored_graph.endpoint)
            assert broken.entities_without_nodes == [7], broken.describe()
        finally:
            restored_pg.service.stop()

"""The graph and the cache are backed up and restored too, and the three stores agree.

Postgres (through the WAL archive), Neo4j (an offline dump, loaded into a fresh server)
and Redis (an RDB snapshot, read by a fresh server) are restored at one restore point;
then the records in Postgres and the nodes in Neo4j must agree (the system description's
`[dr.consistency]` queries) and the cache must hold what it held. The stores are filled
by the system's own seed command (its description's `[local.seed]`, run by its target).
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
from fixtures.providers.api import ApiProvider
from fixtures.providers.s3 import S3Endpoint
from plugins.criteria import Criteria
from plugins.evidence import attach_text
from plugins.settings import HarnessContext

# The monthly drill's (four Neo4j starts, about 70 s): `make test` keeps to the PR gate's
# DR tests; tests/integration/test_neo4j_provider.py proves the dump itself there.
pytestmark = [pytest.mark.destructive, pytest.mark.drill]

RECORDS = 500
MARKER = ("reliability-harness:restore-marker", b"restored to one point")


@pytest.mark.criteria("pitr_exact")
def test_postgres_neo4j_and_redis_restore_to_one_consistent_point(
    dr_launcher: ServiceLauncher,
    s3: S3Endpoint,
    neo4j_factory: Callable[..., Any],
    redis_factory: Callable[..., Any],
    harness_context: HarnessContext,
    criteria: Criteria,
) -> None:
    system = harness_context.system
    check = system.description.dr.consistency
    local = system.description.local
    if check is None or local is None or not {"neo4j", "redis"} <= set(local.services):
        pytest.skip(
            f"{system.describe()} has no [dr.consistency] or does not keep Neo4j and Redis "
            "beside Postgres ([local] services): no stores to restore to one point"
        )
    with archiving_primary(dr_launcher, s3, PR_GATE_ARCHIVE_TIMEOUT_SECONDS) as primary:
        graph = neo4j_factory()
        cache = redis_factory()
        neo4j, redis = graph.endpoint, cache.endpoint
        seeder = ApiProvider(primary.endpoint, neo4j, redis, system=system, entities=RECORDS)
        dr_launcher.start(seeder).stop()  # the system's own seed command fills them
        client = redis.client()
        client.set(*MARKER)
        client.close()
        assert cross_store_diff(primary.endpoint.dsn, neo4j, check).ok
        # The restore point: base backup + archived WAL, graph dump, cache snapshot.
        primary.tool.backup(primary.endpoint, "consistent")
        switch_and_wait_archived(primary.endpoint.dsn)
        dump = dump_neo4j(graph, primary.work_root / "neo4j-dump")
        snapshot = snapshot_redis(cache, primary.work_root / "redis-snapshot")

        restored_pg = restore(
            dr_launcher, primary.tool, RecoveryTarget("latest"), primary.work_root
        )
        restored_graph = neo4j_factory()
        load_neo4j(restored_graph, dump)
        restored_cache = redis_factory()
        restore_redis(restored_cache, snapshot)
        try:
            found = cross_store_diff(restored_pg.endpoint.dsn, restored_graph.endpoint, check)
            attach_text("cross-store check after restore", found.describe())
            client = restored_cache.endpoint.client()
            cache_kept = client.get(MARKER[0]) == MARKER[1]
            client.close()
            # One row per store restored to the point: what it holds that the others do not.
            for scope, wrong in (
                ("postgres (one point with neo4j)", len(found.records_without_nodes)),
                ("neo4j (one point with postgres)", len(found.nodes_without_records)),
                ("redis (one point: its snapshot's keys)", 0 if cache_kept else 1),
            ):
                criteria.within(
                    criterion="pitr_exact",
                    scope=scope,
                    bound=0,
                    unit="rows",
                    measured=wrong,
                    records=RECORDS,
                )
            assert found.ok, found.describe()
            assert cache_kept, f"the restored cache lost {MARKER[0]!r}"
        finally:
            restored_pg.service.stop()

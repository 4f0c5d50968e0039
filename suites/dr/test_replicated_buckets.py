"""Replicated buckets (`dr/buckets.py`): each bucket a profile's `[buckets] replicas` names,
against its DR replica, by manifest (keys, sizes, ETags) under the description's
`[dr.replication] prefixes`.

Rows per pair: `replica_drift` (objects missing, changed or extra per source object)
against `max_drift`, and `replica_overdue` (objects older than `max_lag` not mirrored as
they are) against 0, each named. Read-only: listing both buckets changes nothing, so it
runs against any profile that names the pairs; the local default mirrors no bucket and
says so.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dr.buckets import compare, manifest
from fixtures.providers.s3 import S3Endpoint
from plugins.criteria import Criteria
from plugins.evidence import attach_text
from plugins.settings import HarnessContext
from system.criteria import Verdict


@pytest.mark.pr_gate
@pytest.mark.criteria("replica_drift", "replica_overdue")
def test_each_bucket_replica_holds_the_source_within_the_lag(
    harness_context: HarnessContext, criteria: Criteria, request: pytest.FixtureRequest
) -> None:
    description = harness_context.system.description
    replication = description.dr.replication
    pairs = harness_context.profile.bucket_replicas
    if replication is None:
        pytest.skip(f"{harness_context.system.describe()} has no [dr.replication]")
    if not pairs:
        pytest.skip(
            f"the target profile {harness_context.profile.name!r} names no [buckets] "
            "replicas: no replicated bucket to check (the local default mirrors none)"
        )
    s3: S3Endpoint = request.getfixturevalue("s3")
    client = s3.client()
    problems = []
    for source, replica in pairs.items():
        drift = compare(
            manifest(client, source, replication.prefixes),
            manifest(client, replica, replication.prefixes),
            now=datetime.now(UTC),
            max_lag_seconds=replication.max_lag,
            names=(source, replica),
        )
        attach_text(f"replica {source}", drift.describe())
        print(drift.describe())
        scope = f"{source} -> {replica}"
        rows = (
            criteria.within(
                criterion="replica_drift",
                scope=scope,
                bound=replication.max_drift,
                unit="ratio",
                measured=drift.ratio,
                objects=drift.objects,
                differences=drift.describe(),
            ),
            criteria.within(
                criterion="replica_overdue",
                scope=scope,
                bound=0,
                unit="objects",
                measured=len(drift.overdue),
                overdue=list(drift.overdue[:50]),
            ),
        )
        if any(row.verdict is not Verdict.PASS for row in rows):
            problems.append(drift.describe())
    assert not problems, "; ".join(problems)

"""Recovery point and recovery time, measured after losing the primary (`dr/recovery.py`).

A reference target runs on an archiving primary while a writer commits a row every 50 ms
and logs each acknowledgement. At a random moment the primary is destroyed (SIGKILL, data
directory removed). The harness detects it (the target's /healthz turns 503), restores
the archive into a fresh Postgres to its latest point, starts a target on it and waits
until it answers healthy and serves an entity written before the failure.

RPO = last acknowledged write - newest write restored (<= the profile's `rpo_seconds`;
shown against `archive_timeout`). RTO = failure -> healthy target, by phase
(<= `rto_seconds`). Both are pushed to the Pushgateway (design section 6) and attached.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dr.history import PR_GATE_ARCHIVE_TIMEOUT_SECONDS
from dr.loss import RecoveryPoint, RecoveryTime, publish_recovery, require_rpo, require_rto
from dr.recovery import measure_recovery
from dr.report import plot_rto, rto_table
from fixtures.launcher import ServiceLauncher
from fixtures.providers.base import HttpEndpoint
from fixtures.providers.s3 import S3Endpoint
from plugins.criteria import Criteria
from plugins.evidence import attach_file, attach_json, attach_text
from plugins.settings import HarnessContext

pytestmark = pytest.mark.destructive


def _measured(
    native_launcher: ServiceLauncher,
    s3: S3Endpoint,
    api_factory: Callable[..., Any],
    **arguments: Any,
) -> tuple[RecoveryPoint, RecoveryTime]:
    recovered = measure_recovery(native_launcher, s3, api_factory, **arguments)
    attach_json("recovery", recovered.evidence)
    return recovered.point, recovered.time


@pytest.mark.pr_gate
def test_rpo_and_rto_after_losing_the_primary(
    native_launcher: ServiceLauncher,
    s3: S3Endpoint,
    api_factory: Callable[..., Any],
    pushgateway: HttpEndpoint,
    harness_context: HarnessContext,
    criteria: Criteria,
) -> None:
    slo = harness_context.profile.slo
    write_seconds = random.uniform(6.0, 12.0)  # noqa: S311 - a random moment, not security
    point, recovery = _measured(
        native_launcher, s3, api_factory, megabytes=5, write_seconds=write_seconds
    )
    attach_text("RPO", point.describe())
    attach_text("RTO", recovery.describe())
    publish_recovery(pushgateway.url, "postgres", point.seconds, recovery.seconds)
    for criterion, seconds, bound in (
        ("rpo", point.seconds, slo.rpo_seconds),
        ("rto", recovery.seconds, slo.rto_seconds),
    ):
        criteria.record(
            criterion=criterion,
            scope="postgres (primary lost)",
            bound=bound,
            unit="s",
            measured=seconds,
            verdict="pass" if seconds <= bound else "fail",
            database="postgres",
        )
    require_rpo(point, slo.rpo_seconds)
    require_rto(recovery, slo.rto_seconds)
    # The bound that archiving itself implies: a segment is shipped every archive_timeout.
    assert point.seconds <= PR_GATE_ARCHIVE_TIMEOUT_SECONDS + 5.0, point.describe()


DRILL_SIZES_MB = (10, 100, 1000)


@pytest.mark.drill
def test_rto_by_database_size(
    native_launcher: ServiceLauncher,
    s3: S3Endpoint,
    api_factory: Callable[..., Any],
    pushgateway: HttpEndpoint,
    harness_context: HarnessContext,
    tmp_path: Path,
) -> None:
    """The drill: RTO at 10 MB, 100 MB and 1 GB, with production's 60 s archive_timeout.

    The largest is lost at a random moment 60-120 s after its base backup, a random phase
    of the archive cycle: its RPO is the one measured at production's timeout (and
    pushed). The smaller ones are lost 6-12 s after theirs: their RTO is what they are
    for, and a minute and a half more of writes each would only repeat that RPO."""
    slo = harness_context.profile.slo
    rows: list[tuple[int, RecoveryTime]] = []
    for megabytes in DRILL_SIZES_MB:
        window = (60.0, 120.0) if megabytes == DRILL_SIZES_MB[-1] else (6.0, 12.0)
        point, recovery = _measured(
            native_launcher,
            s3,
            api_factory,
            megabytes=megabytes,
            write_seconds=random.uniform(*window),  # noqa: S311 - a random moment
            archive_timeout_seconds=60.0,
        )
        rows.append((megabytes, recovery))
        require_rpo(point, slo.rpo_seconds)
    attach_text("RTO by database size", rto_table(rows, slo.rto_seconds))
    attach_file("RTO by database size", plot_rto(rows, tmp_path / "rto-by-size.png"))
    publish_recovery(pushgateway.url, "postgres", point.seconds, rows[-1][1].seconds)
    for _, recovery in rows:
        require_rto(recovery, slo.rto_seconds)

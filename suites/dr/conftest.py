"""Fixtures of the DR suites: an archiving primary, a recorded commit history, restores.

Restores start a Postgres on a restored data directory, which only the native backend can
do; on another backend (or a file profile, where the harness must not restore into the
source) the tests that need it are skipped, saying why.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from dr.archive import switch_and_wait_archived
from dr.ledger import Ledger, Writer, create_table
from dr.primary import ArchivingPrimary, archiving_primary
from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.providers.s3 import S3Endpoint
from plugins.evidence import attach_json
from plugins.settings import HarnessContext

# Short enough to keep pr_gate runs fast; the drill uses the production 60 s.
PR_GATE_ARCHIVE_TIMEOUT_SECONDS = 5.0
SEED_VARIABLE = "RELIABILITY_DR_SEED"


@pytest.fixture(scope="session")
def native_launcher(service_launcher: ServiceLauncher) -> ServiceLauncher:
    """The launcher, if it can start a Postgres on a restored data directory."""
    if service_launcher.backend is not Backend.NATIVE:
        pytest.skip(
            f"DR restores start Postgres on a restored data directory: needs the native "
            f"backend (this run: {service_launcher.backend.value}; use --backend native)"
        )
    return service_launcher


@pytest.fixture(scope="module")
def dr_seed(harness_context: HarnessContext) -> int:
    """The seed of the randomized commit history (--dr-seed / RELIABILITY_DR_SEED replay one)."""
    configured = harness_context.dr_seed
    seed = configured if configured is not None else random.SystemRandom().randrange(2**32)
    print(f"DR commit history seed: {seed} (replay with {SEED_VARIABLE}={seed})")
    return seed


@dataclass(frozen=True)
class History:
    """A primary, its archive, and the ledger of every batch committed on it."""

    primary: ArchivingPrimary
    ledger: Ledger
    seed: int


@pytest.fixture(scope="module")
def pitr_history(
    native_launcher: ServiceLauncher, s3: S3Endpoint, dr_seed: int
) -> Iterator[History]:
    """Batches before a base backup, the backup, a randomized history with two restore
    points after it, and every segment archived. Autovacuum is off so that the only
    commits in the archive are the writer's (the oracle knows each one)."""
    rng = random.Random(dr_seed)  # noqa: S311 - a reproducible history, not security
    with archiving_primary(
        native_launcher,
        s3,
        PR_GATE_ARCHIVE_TIMEOUT_SECONDS,
        extra_settings={"autovacuum": "off"},
    ) as primary:
        create_table(primary.endpoint.dsn)
        writer = Writer(primary.endpoint.dsn, rng)
        for _ in range(3):
            writer.commit_batch(rng.randint(1, 20), before_backup=True)
        primary.tool.backup(primary.endpoint, "pitr-base")
        writer.write_history(rng.randint(5, 8))
        writer.restore_point("before-tail")
        writer.write_history(rng.randint(4, 6))
        switch_and_wait_archived(primary.endpoint.dsn)
        attach_json("ledger", _ledger_summary(writer.ledger, dr_seed))
        yield History(primary, writer.ledger, dr_seed)


def _ledger_summary(ledger: Ledger, seed: int) -> dict[str, object]:
    return {
        "seed": seed,
        "restore_points": ledger.restore_points,
        "batches": [
            {
                "index": batch.index,
                "xid": batch.xid,
                "committed_at": batch.committed_at.isoformat(),
                "rows": len(batch.rows),
                "before_backup": batch.before_backup,
            }
            for batch in ledger.batches
        ],
    }

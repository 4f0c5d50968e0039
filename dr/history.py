"""The commit history the PITR checks restore: batches before a base backup, the backup, a
randomized history with a restore point in it, every segment archived; and its ledger."""

from __future__ import annotations

import random
from dataclasses import dataclass

from dr.archive import switch_and_wait_archived
from dr.ledger import Ledger, Writer, create_table
from dr.primary import ArchivingPrimary

# Short enough to keep pr_gate runs fast; the drill uses the production 60 s.
PR_GATE_ARCHIVE_TIMEOUT_SECONDS = 5.0
SEED_VARIABLE = "RELIABILITY_DR_SEED"
BASE_BACKUP = "pitr-base"
RESTORE_POINT = "before-tail"


@dataclass(frozen=True)
class History:
    """A primary, its archive, and the ledger of every batch committed on it."""

    primary: ArchivingPrimary
    ledger: Ledger
    seed: int


def record_history(primary: ArchivingPrimary, seed: int) -> History:
    """Write the history on `primary` (autovacuum off there: the only commits in the archive
    are the writer's, the oracle knows each one), reproducibly from `seed`."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible history, not security
    create_table(primary.endpoint.dsn)
    writer = Writer(primary.endpoint.dsn, rng)
    for _ in range(3):
        writer.commit_batch(rng.randint(1, 20), before_backup=True)
    primary.tool.backup(primary.endpoint, BASE_BACKUP)
    writer.write_history(rng.randint(5, 8))
    writer.restore_point(RESTORE_POINT)
    writer.write_history(rng.randint(4, 6))
    switch_and_wait_archived(primary.endpoint.dsn)
    return History(primary, writer.ledger, seed)


def ledger_summary(ledger: Ledger, seed: int) -> dict[str, object]:
    """The ledger as evidence: the seed that replays it, its restore points and batches."""
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

"""What a DR check or restore can report, each as one line the operator can act on."""

from __future__ import annotations

from fixtures.errors import HarnessError


class DrInputError(HarnessError):
    """A restore request that cannot be served as asked: bad target, bucket, credentials."""


class BackupToolError(HarnessError):
    """The backup tool (Barman Cloud) failed: names the command and the tail of its output."""


class RestoreFailedError(HarnessError):
    """Postgres did not come up on the restored data directory."""


class RecoveryTargetNotReachedError(RestoreFailedError):
    """Postgres replayed all archived WAL without reaching the recovery target.

    This is Postgres's own verdict ("recovery ended before configured recovery target was
    reached"): a target beyond the archive, or a gap in it. Never a silent restore to latest.
    """


class PitrMismatchError(AssertionError):
    """The restored table differs from the writer's ledger (rows missing, extra, duplicated)."""


class RpoViolatedError(AssertionError):
    """The measured recovery point is older than the bound."""


class RtoViolatedError(AssertionError):
    """The measured recovery time exceeds the bound."""


class RecoveryTimedOutError(HarnessError):
    """Losing the primary was not noticed, or the restored target did not answer, in time."""


class StandbyError(HarnessError):
    """The standby could not be made, did not stream, or did not promote: names the step."""

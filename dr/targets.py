"""Recovery targets: the postgresql.conf lines for each, and which commits each one keeps.

`expected_batches` is the oracle the PITR suite compares restores with. It follows
Postgres's own rules (xlogrecovery.c, recoveryStopsBefore/After):

- time: a commit is kept if its timestamp is < T, or == T when inclusive;
- xid: commits before the target transaction's are kept, its own only when inclusive;
- lsn: a commit record starting before L is kept, one starting exactly at L only when
  inclusive;
- name: commits before the restore point's record are kept (inclusive does not apply);
- immediate: what the base backup holds once consistent (inclusive does not apply);
- latest: everything archived.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

TargetKind = Literal["time", "xid", "lsn", "name", "immediate", "latest"]
KINDS: tuple[TargetKind, ...] = ("time", "xid", "lsn", "name", "immediate", "latest")


@dataclass(frozen=True)
class RecoveryTarget:
    kind: TargetKind
    value: str = ""
    inclusive: bool = True

    def settings(self) -> dict[str, str]:
        """The recovery_target_* lines (promote once reached: the restore is to be used)."""
        lines = {"recovery_target_action": "'promote'"}
        if self.kind == "latest":
            return lines
        if self.kind == "immediate":
            return {**lines, "recovery_target": "'immediate'"}
        lines[f"recovery_target_{self.kind}"] = f"'{self.value}'"
        lines["recovery_target_inclusive"] = "on" if self.inclusive else "off"
        return lines

    def describe(self) -> str:
        if self.kind in ("immediate", "latest"):
            return self.kind
        return f"{self.kind}={self.value} (inclusive={str(self.inclusive).lower()})"


@dataclass(frozen=True)
class CommitPoint:
    """What the oracle needs to know about one committed batch."""

    index: int
    xid: int
    committed_at: datetime
    commit_lsn: int  # start of its commit record
    before_backup: bool  # committed before the base backup started


def parse_lsn(text: str) -> int:
    """'0/3000090' -> integer position, so LSNs compare as numbers."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def expected_batches(
    commits: Sequence[CommitPoint],
    target: RecoveryTarget,
    restore_points: dict[str, int] | None = None,
) -> set[int]:
    """The batch indexes a restore to `target` must hold.

    `restore_points` maps a restore point's name to the number of batches committed before
    it was created (batches are indexed 0.. in commit order).
    """
    kept = {
        "time": _by_time,
        "xid": _by_xid,
        "lsn": _by_lsn,
    }
    if target.kind in kept:
        return kept[target.kind](commits, target)
    if target.kind == "name":
        points = restore_points or {}
        if target.value not in points:
            raise ValueError(f"unknown restore point {target.value!r}")
        return {commit.index for commit in commits if commit.index < points[target.value]}
    if target.kind == "immediate":
        return {commit.index for commit in commits if commit.before_backup}
    return {commit.index for commit in commits}


def _by_time(commits: Sequence[CommitPoint], target: RecoveryTarget) -> set[int]:
    moment = datetime.fromisoformat(target.value)
    return {
        commit.index
        for commit in commits
        if commit.committed_at < moment or (target.inclusive and commit.committed_at == moment)
    }


def _by_xid(commits: Sequence[CommitPoint], target: RecoveryTarget) -> set[int]:
    xid = int(target.value)
    position = next((c.index for c in commits if c.xid == xid), None)
    if position is None:
        return {commit.index for commit in commits}  # never reached: Postgres fails instead
    return {
        commit.index
        for commit in commits
        if commit.index < position or (target.inclusive and commit.index == position)
    }


def _by_lsn(commits: Sequence[CommitPoint], target: RecoveryTarget) -> set[int]:
    lsn = parse_lsn(target.value)
    return {
        commit.index
        for commit in commits
        if commit.commit_lsn < lsn or (target.inclusive and commit.commit_lsn == lsn)
    }

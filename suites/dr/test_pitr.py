"""Point-in-time restore is exact: every row committed at or before the target, none after.

One randomized commit history (`dr/history.py`, the `pitr_history` fixture of
`plugins/dr.py`) is restored into a fresh Postgres at targets of every kind — time
(between batches, inside one, on an exact commit boundary), xid, lsn (an exact commit
record), name (restore point) and immediate — with recovery_target_inclusive on and off,
and each restored table is compared with the writer's ledger. A target beyond the archive
must end in Postgres's own error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import pytest

from dr.errors import RecoveryTargetNotReachedError
from dr.history import RESTORE_POINT, History
from dr.ledger import Ledger, check_restore, read_restored
from dr.restore import NOT_REACHED, FetchedBackups, restore
from dr.targets import RecoveryTarget, format_lsn
from fixtures.launcher import ServiceLauncher
from plugins.criteria import Criteria
from plugins.evidence import attach_json, attach_text

pytestmark = pytest.mark.destructive
# The PR gate (and `make test`) restores to the targets where inclusive and exclusive
# differ (a commit's own time, xid, LSN) and one of each other kind; the drill to all.
PR_GATE_CASES = {
    "time-on-commit-boundary-inclusive", "time-on-commit-boundary-exclusive",
    "time-inside-a-batch", "xid-inclusive", "xid-exclusive", "lsn-of-commit-exclusive",
    "name-inclusive", "immediate-inclusive",
}  # fmt: skip


@dataclass(frozen=True)
class Case:
    name: str
    pick: Callable[[Ledger], RecoveryTarget]


def _time(moment: datetime, inclusive: bool) -> RecoveryTarget:
    return RecoveryTarget("time", moment.isoformat(sep=" "), inclusive)


def _between(inclusive: bool) -> Callable[[Ledger], RecoveryTarget]:
    return lambda ledger: ledger.time_between(ledger.middle(), inclusive)


def _inside(ledger: Ledger) -> RecoveryTarget:
    batch = ledger.batches[ledger.middle() + 1]
    return _time(batch.started_at + (batch.committed_at - batch.started_at) / 2, True)


def _boundary(inclusive: bool) -> Callable[[Ledger], RecoveryTarget]:
    return lambda ledger: _time(ledger.batches[ledger.middle()].committed_at, inclusive)


def _xid(inclusive: bool) -> Callable[[Ledger], RecoveryTarget]:
    return lambda ledger: RecoveryTarget("xid", str(ledger.batches[ledger.middle()].xid), inclusive)


def _lsn(inclusive: bool) -> Callable[[Ledger], RecoveryTarget]:
    return lambda ledger: RecoveryTarget(
        "lsn", format_lsn(ledger.batches[ledger.middle()].commit_lsn), inclusive
    )


CASES = [
    Case("time-between-batches-inclusive", _between(True)),
    Case("time-between-batches-exclusive", _between(False)),
    Case("time-inside-a-batch", _inside),
    Case("time-on-commit-boundary-inclusive", _boundary(True)),
    Case("time-on-commit-boundary-exclusive", _boundary(False)),
    Case("xid-inclusive", _xid(True)),
    Case("xid-exclusive", _xid(False)),
    Case("lsn-of-commit-inclusive", _lsn(True)),
    Case("lsn-of-commit-exclusive", _lsn(False)),
    Case("name-inclusive", lambda _: RecoveryTarget("name", RESTORE_POINT, True)),
    Case("name-exclusive", lambda _: RecoveryTarget("name", RESTORE_POINT, False)),
    Case("immediate-inclusive", lambda _: RecoveryTarget("immediate", "", True)),
    Case("immediate-exclusive", lambda _: RecoveryTarget("immediate", "", False)),
]


@dataclass(frozen=True)
class Restored:
    target: RecoveryTarget
    rows: list[tuple[int, str]]
    phases: dict[str, float]


@dataclass(frozen=True)
class Refused:
    """A restore that must fail: what it raised (None if it did not) and what it left."""

    target: RecoveryTarget
    error: RecoveryTargetNotReachedError | None
    left_behind: list[str]


def _beyond_the_archive(history: History) -> RecoveryTarget:
    return history.ledger.time_beyond()


def _never_committed_xid(history: History) -> RecoveryTarget:
    return RecoveryTarget("xid", str(history.ledger.batches[-1].xid + 1000), True)


REFUSALS: dict[str, Callable[[History], RecoveryTarget]] = {
    "test_target_beyond_the_archive_fails_with_postgres_error": _beyond_the_archive,
    "test_xid_never_committed_fails_with_postgres_error": _never_committed_xid,
}
RESTORES_AT_ONCE = 2


@dataclass
class Restores:
    cases: dict[str, Future[Restored]]
    refusals: dict[str, Future[Refused]]


@pytest.fixture(scope="module")
def restored_cases(
    request: pytest.FixtureRequest, pitr_history: History, dr_launcher: ServiceLauncher
) -> Iterator[Restores]:
    """The selected tests' restores (those that must succeed and those that must fail),
    two at a time: a restore waits on its WAL fetches (a process per segment) as much as on
    the CPU, so two overlap on two cores and the pr_gate spends half the time. Each is its
    own server in its own directory; a refused one gets a directory of its own, to show it
    leaves nothing behind."""
    selected = [
        item
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is request.module
    ]
    names = {
        cast("Case", item.callspec.params["case"]).name
        for item in selected
        if item.originalname == "test_restore_to_target_matches_the_ledger"
    }
    refusals = {item.originalname for item in selected} & set(REFUSALS)
    primary = pitr_history.primary
    fetched_dir = primary.work_root / "fetched"
    fetched_dir.mkdir()
    fetched = FetchedBackups(primary.tool, fetched_dir)

    def one(case: Case) -> Restored:
        target = case.pick(pitr_history.ledger)
        result = restore(dr_launcher, primary.tool, target, primary.work_root, fetched=fetched)
        try:
            return Restored(target, read_restored(result.endpoint.dsn), dict(result.phases))
        finally:
            result.service.stop()

    def refused(test: str) -> Refused:
        target = REFUSALS[test](pitr_history)
        own = primary.work_root / f"refused-{test}"
        own.mkdir()
        try:
            restore(dr_launcher, primary.tool, target, own, fetched=fetched).service.stop()
        except RecoveryTargetNotReachedError as error:
            return Refused(target, error, sorted(path.name for path in own.iterdir()))
        return Refused(target, None, sorted(path.name for path in own.iterdir()))

    pool = ThreadPoolExecutor(max_workers=RESTORES_AT_ONCE, thread_name_prefix="pitr-restore")
    try:
        restores = Restores(
            {case.name: pool.submit(one, case) for case in CASES if case.name in names},
            {test: pool.submit(refused, test) for test in sorted(refusals)},
        )
        # All done before the first test: under pytest-xdist restores running on between
        # tests would take CPU from another worker's measurement (plugins/turns.py).
        pending: list[Future[Any]] = [*restores.cases.values(), *restores.refusals.values()]
        wait(pending)
        yield restores
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            case,
            id=case.name,
            marks=pytest.mark.pr_gate if case.name in PR_GATE_CASES else pytest.mark.drill,
        )
        for case in CASES
    ],
)
def test_restore_to_target_matches_the_ledger(
    case: Case,
    pitr_history: History,
    restored_cases: Restores,
    criteria: Criteria,
) -> None:
    ledger = pitr_history.ledger
    target = case.pick(ledger)
    expected = ledger.expected_rows(target)
    every_row = ledger.expected_rows(RecoveryTarget("latest"))
    # The target must split the history, or a restore to "latest" would pass unnoticed.
    assert 0 < len(expected) < len(every_row), f"{target.describe()} does not split the history"
    result = restored_cases.cases[case.name].result()
    assert result.target == target
    restored = result.rows
    attach_json(
        "restore",
        {
            "target": target.describe(),
            "seed": pitr_history.seed,
            "expected_rows": len(expected),
            "restored_rows": len(restored),
            "phases_seconds": result.phases,
        },
    )
    exact = len(restored) == len(expected) and dict(restored) == expected
    criteria.record(
        criterion="pitr_exact",
        scope=target.describe(),
        bound=len(expected),
        unit="rows",
        measured=len(restored),
        verdict="pass" if exact else "fail",
    )
    check_restore(ledger, target, restored)
    assert len(restored) == len(expected)


def _check_refused(refused: Refused) -> str:
    """Postgres's own error, and nothing of the failed restore left behind."""
    assert refused.error is not None, f"a restore to {refused.target.describe()} did not fail"
    assert NOT_REACHED in str(refused.error)
    assert not refused.left_behind, f"a failed restore left files behind: {refused.left_behind}"
    return str(refused.error)


@pytest.mark.pr_gate
def test_target_beyond_the_archive_fails_with_postgres_error(restored_cases: Restores) -> None:
    """A time after the last archived commit: Postgres must refuse, not restore to latest."""
    refused = restored_cases.refusals["test_target_beyond_the_archive_fails_with_postgres_error"]
    attach_text("beyond the archive", _check_refused(refused.result()))


@pytest.mark.pr_gate
def test_xid_never_committed_fails_with_postgres_error(restored_cases: Restores) -> None:
    refused = restored_cases.refusals["test_xid_never_committed_fails_with_postgres_error"]
    attach_text("xid never committed", _check_refused(refused.result()))

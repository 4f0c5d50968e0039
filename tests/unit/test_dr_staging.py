"""The measured RPO of a profile's archive (`dr.staging.RestoreCheck`): pure logic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from dr.restore import RestoreResult
from dr.staging import RestoreCheck

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def check(caught_up: bool | None, commit_age: float | None) -> RestoreCheck:
    commit = None if commit_age is None else NOW - timedelta(seconds=commit_age)
    result = cast(RestoreResult, cast(Any, object()))
    return RestoreCheck(result, newest_commit=commit, caught_up=caught_up, checked_at=NOW)


def test_an_idle_primary_whose_transactions_are_all_restored_loses_nothing() -> None:
    assert check(caught_up=True, commit_age=7200).rpo_seconds == 0.0


def test_a_lagging_archive_is_charged_the_age_of_its_newest_restorable_commit() -> None:
    assert check(caught_up=False, commit_age=420).rpo_seconds == 420
    assert check(caught_up=None, commit_age=30).rpo_seconds == 30, "unknown is not caught up"


def test_a_restore_that_replayed_nothing_has_no_rpo_unless_it_holds_everything() -> None:
    assert check(caught_up=False, commit_age=None).rpo_seconds is None

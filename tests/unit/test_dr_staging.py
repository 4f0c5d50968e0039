"""The measured RPO of a profile's archive (`dr.staging.RestoreCheck`) and what a restore must
hold (`dr.holdings`): pure logic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import psycopg

from dr.holdings import Holdings, expected_holdings, read_holdings
from dr.restore import RestoreResult
from dr.staging import RestoreCheck
from fixtures.profile import DrSettings
from system.description import Dr, SchemaVersion
from system.loader import DEFAULT_SYSTEM, load_system

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


# What a restore must hold (`dr.holdings`): the described tables and schema version. ---------


def _dr(tables: tuple[str, ...] = (), version: tuple[str, str] | None = None) -> Dr:
    schema = None if version is None else SchemaVersion(query=version[0], expect=version[1])
    return Dr(tables=tables, schema_version=schema)


def _profile_dr(tables: tuple[str, ...]) -> DrSettings:
    return DrSettings(tool="barman-cloud", bucket="b", prefix="p", tables=tables)


def test_the_profiles_tables_win_else_the_descriptions_and_the_version_is_the_descriptions() -> (
    None
):
    described = _dr(("orders", "customers"), ("SELECT version FROM migrations", "42"))
    own = expected_holdings(described, _profile_dr(("app.orders",)))
    assert own.tables == ("app.orders",)
    assert own.tables_from == "the profile's [dr] tables"
    assert own.schema_version is not None
    assert own.schema_version.expect == "42"
    for profile in (None, _profile_dr(())):
        fallback = expected_holdings(described, profile)
        assert fallback.tables == ("orders", "customers")
        assert fallback.tables_from == "the description's [dr] tables"


def test_the_reference_description_checks_its_entities_table_only() -> None:
    expected = expected_holdings(load_system(DEFAULT_SYSTEM).description.dr)
    assert expected.tables == ("entities",)
    assert expected.schema_version is None


def test_a_restore_holding_everything_described_matches() -> None:
    expected = expected_holdings(_dr(("orders",), ("SELECT 1", "42")))
    holdings = Holdings(expected, row_counts={"orders": 3}, version="42")
    assert holdings.problems() == []
    assert (holdings.measured(), holdings.verdict()) == (1.0, "pass")
    assert holdings.describe() == (
        "the description's [dr] tables: orders: 3 rows; schema version '42' (expected '42') "
        "(all there)"
    )
    details = holdings.details()
    assert details["schema_version"] == {"expect": "42", "found": "42", "error": ""}
    assert details["tables"] == {"orders": 3}


def test_a_missing_or_empty_table_or_another_version_is_named() -> None:
    expected = expected_holdings(_dr(("orders", "customers", "items"), ("SELECT 1", "42")))
    holdings = Holdings(
        expected, row_counts={"orders": 3, "customers": 0}, missing_tables=["items"], version="41"
    )
    assert holdings.problems() == [
        "tables missing: items",
        "tables without rows: customers",
        "schema version '42' expected, it is '41'",
    ]
    assert (holdings.measured(), holdings.verdict()) == (0.0, "fail")
    assert "tables without rows" not in " ".join(holdings.problems(require_rows=False))


def test_a_failing_version_query_is_a_mismatch_that_says_why() -> None:
    expected = expected_holdings(_dr((), ("SELECT head FROM alembic_version", "abc")))
    holdings = Holdings(expected, version_error='relation "alembic_version" does not exist')
    assert holdings.version_matches is False
    assert holdings.problems() == [
        "schema version 'abc' expected, the query failed: relation \"alembic_version\" does not "
        "exist"
    ]


def test_a_description_without_tables_or_version_is_skipped_with_its_reason() -> None:
    holdings = Holdings(expected_holdings(_dr()))
    assert holdings.verdict() == "skipped"
    assert holdings.measured() is None
    assert "names no tables and no schema_version" in holdings.details()["reason"]


class _Rows:
    def __init__(self, row: tuple[Any, ...] | None) -> None:
        self.row = row

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.row


class _Restored:
    """Stands in for a connection to a restored database: answers what is asked."""

    def __init__(self, tables: dict[str, int], version: Any) -> None:
        self.tables = tables
        self.version = version
        self.asked: list[str] = []

    def execute(self, query: Any, parameters: tuple[Any, ...] = ()) -> _Rows:
        text = query if isinstance(query, str) else query.as_string(None)
        self.asked.append(text)
        if text.startswith("SELECT to_regclass"):
            return _Rows((parameters[0] if parameters[0] in self.tables else None,))
        if text.startswith("SELECT count(*)"):
            name = next(table for table in self.tables if f'"{table}"' in text)
            return _Rows((self.tables[name],))
        if isinstance(self.version, Exception):
            raise self.version
        return _Rows(self.version)


def test_read_holdings_counts_the_tables_and_runs_the_version_query() -> None:
    expected = expected_holdings(_dr(("orders", "gone"), ("SELECT head FROM versions", "7")))
    db = _Restored({"orders": 12}, (7,))
    holdings = read_holdings(cast(Any, db), expected)
    assert holdings.row_counts == {"orders": 12}
    assert holdings.missing_tables == ["gone"]
    assert holdings.version == "7"
    assert "SELECT head FROM versions" in db.asked
    failing = _Restored({}, psycopg.errors.UndefinedTable("relation does not exist"))
    assert read_holdings(cast(Any, failing), expected).version_error == "relation does not exist"

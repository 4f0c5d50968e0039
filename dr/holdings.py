"""What a restore of the system's database must hold: its tables, with rows, and its schema
version (the migration head) — the description's `[dr]`, read on the restored copy.

The tables are the profile's `[dr] tables` when it names some (an environment's own list),
else the description's `[dr] tables`. `[dr] schema_version` gives a query whose one value
is the schema version and the value a restore must have (`expect`); a description
without it has only its tables checked.

The verdict is one row of criterion `schema_version` (unit "match", no bound): measured 1
when the restore holds everything described (each table there, with rows where rows are
required, and the version as expected), 0 when it lacks something (named in the row's
details), `skipped` with the reason when nothing is described to check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from fixtures.profile import DrSettings
from system.description import Dr, SchemaVersion

CRITERION = "schema_version"
UNIT = "match"


@dataclass(frozen=True)
class Expected:
    """What to look for in a restore, and where that list came from."""

    tables: tuple[str, ...] = ()
    schema_version: SchemaVersion | None = None
    tables_from: str = "the description's [dr] tables"

    @property
    def anything(self) -> bool:
        return bool(self.tables) or self.schema_version is not None

    def nothing_reason(self) -> str:
        return (
            "the system description's [dr] names no tables and no schema_version (nor does "
            "the profile's [dr] name tables): nothing to check in the restore"
        )


def expected_holdings(system_dr: Dr, profile_dr: DrSettings | None = None) -> Expected:
    """The profile's `[dr] tables` when given, else the description's; the description's
    schema version."""
    if profile_dr is not None and profile_dr.tables:
        return Expected(
            tuple(profile_dr.tables), system_dr.schema_version, "the profile's [dr] tables"
        )
    return Expected(tuple(system_dr.tables), system_dr.schema_version)


@dataclass
class Holdings:
    """What a restored database holds of what was expected."""

    expected: Expected
    row_counts: dict[str, int] = field(default_factory=dict)
    missing_tables: list[str] = field(default_factory=list)
    version: str | None = None  # what the query returned (None: not asked, or no value)
    version_error: str = ""  # the query failed: why

    @property
    def empty_tables(self) -> list[str]:
        return [table for table, count in self.row_counts.items() if count == 0]

    @property
    def version_matches(self) -> bool | None:
        """None when the description gives no schema version."""
        wanted = self.expected.schema_version
        return None if wanted is None else self.version == wanted.expect

    def problems(self, require_rows: bool = True) -> list[str]:
        """What the restore lacks, one phrase each (empty: it holds everything)."""
        found = []
        if self.missing_tables:
            found.append(f"tables missing: {', '.join(self.missing_tables)}")
        if require_rows and self.empty_tables:
            found.append(f"tables without rows: {', '.join(self.empty_tables)}")
        wanted = self.expected.schema_version
        if wanted is not None and not self.version_matches:
            got = (
                f"the query failed: {self.version_error}"
                if self.version_error
                else f"it is {self.version!r}"
            )
            found.append(f"schema version {wanted.expect!r} expected, {got}")
        return found

    def measured(self, require_rows: bool = True) -> float | None:
        if not self.expected.anything:
            return None
        return 0.0 if self.problems(require_rows) else 1.0

    def verdict(self, require_rows: bool = True) -> str:
        if not self.expected.anything:
            return "skipped"
        return "fail" if self.problems(require_rows) else "pass"

    def describe(self, require_rows: bool = True) -> str:
        if not self.expected.anything:
            return self.expected.nothing_reason()
        rows = ", ".join(f"{table}: {count} rows" for table, count in self.row_counts.items())
        wanted = self.expected.schema_version
        version = (
            "schema version not described"
            if wanted is None
            else f"schema version {self.version!r} (expected {wanted.expect!r})"
        )
        checked = f"{self.expected.tables_from}: {rows or 'none'}; {version}"
        problems = self.problems(require_rows)
        return (
            f"{checked} (lacking: {'; '.join(problems)})" if problems else f"{checked} (all there)"
        )

    def row(self, require_rows: bool = True) -> dict[str, Any]:
        """The `schema_version` row of the verdict table (its scope is the caller's)."""
        return {
            "criterion": CRITERION,
            "bound": 1.0,  # 1: tables, rows and version as expected; 0: a problem (named)
            "unit": UNIT,
            "measured": self.measured(require_rows),
            "verdict": self.verdict(require_rows),
            **self.details(require_rows),
        }

    def details(self, require_rows: bool = True) -> dict[str, Any]:
        """The row's details: what was checked and found."""
        wanted = self.expected.schema_version
        found: dict[str, Any] = {
            "tables_from": self.expected.tables_from,
            "tables": dict(self.row_counts),
            "missing_tables": list(self.missing_tables),
            "rows_required": require_rows,
            "schema_version": (
                "not described"
                if wanted is None
                else {"expect": wanted.expect, "found": self.version, "error": self.version_error}
            ),
            "summary": self.describe(require_rows),
        }
        if not self.expected.anything:
            found["reason"] = self.expected.nothing_reason()
        return found


def read_holdings(db: psycopg.Connection[Any], expected: Expected) -> Holdings:
    """Look for the expected tables (row counts) and schema version on `db` (autocommit)."""
    holdings = Holdings(expected)
    for table in expected.tables:
        if db.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
            holdings.missing_tables.append(table)
            continue
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*table.split(".")))
        counted = db.execute(query).fetchone()
        holdings.row_counts[table] = int(counted[0]) if counted else 0
    if expected.schema_version is not None:
        holdings.version, holdings.version_error = _version(db, expected.schema_version)
    return holdings


def _version(db: psycopg.Connection[Any], wanted: SchemaVersion) -> tuple[str | None, str]:
    """The query's one value as text (the description's SQL, run on the restored copy)."""
    try:
        row = db.execute(wanted.query).fetchone()
    except psycopg.Error as error:
        text = str(error).strip()
        return None, (text.splitlines()[0] if text else type(error).__name__)
    if not row or row[0] is None:
        return None, "it returned no value"
    return str(row[0]), ""


def check_restored(dsn: str, expected: Expected) -> Holdings:
    """`read_holdings` on a fresh connection to `dsn`."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as db:
        return read_holdings(db, expected)

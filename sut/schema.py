"""The target's schema, created idempotently: the `entities` table and the :Entity(id) key.

Both the app (async, at startup and again until it succeeds) and the seeder (sync) call
these. A transaction-scoped advisory lock serialises concurrent creators of the table:
`CREATE TABLE IF NOT EXISTS` alone can still fail with a unique violation when two
instances race on an empty database.
"""

from __future__ import annotations

from typing import LiteralString

import psycopg
from neo4j import AsyncSession, Session

# Any constant: it only has to be the same for every instance of the target.
SCHEMA_LOCK_KEY = 7_146_215_002

POSTGRES_SCHEMA: tuple[LiteralString, ...] = (
    """
    CREATE TABLE IF NOT EXISTS entities (
        id bigserial PRIMARY KEY,
        name text NOT NULL,
        kind text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
)

NEO4J_CONSTRAINT: LiteralString = (
    "CREATE CONSTRAINT entity_id_unique IF NOT EXISTS FOR (e:Entity) REQUIRE e.id IS UNIQUE"
)


async def ensure_postgres_schema(connection: psycopg.AsyncConnection[object]) -> None:
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        for statement in POSTGRES_SCHEMA:
            await connection.execute(statement)


def ensure_postgres_schema_sync(connection: psycopg.Connection[object]) -> None:
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        for statement in POSTGRES_SCHEMA:
            connection.execute(statement)


async def ensure_neo4j_schema(session: AsyncSession) -> None:
    result = await session.run(NEO4J_CONSTRAINT)
    await result.consume()


def ensure_neo4j_schema_sync(session: Session) -> None:
    session.run(NEO4J_CONSTRAINT).consume()

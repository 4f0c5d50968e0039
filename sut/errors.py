"""What can go wrong with a dependency, and how each failure is answered.

`failure_kind` separates a dependency's failure (a timeout or an unavailable server:
answered 503) from everything else (a bug, such as a syntax error in a query: left to
become a 500), so that chaos suites see 503s exactly when a dependency is at fault.
"""

from __future__ import annotations

from typing import Literal

import psycopg
from neo4j.exceptions import (
    AuthError,
    ClientError,
    ConnectionPoolError,
    DatabaseError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)
from neo4j.exceptions import ConnectionAcquisitionTimeoutError as AcquisitionTimeout
from psycopg_pool import PoolTimeout
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

PG_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError)
NEO4J_UNAVAILABLE = (
    ServiceUnavailable,
    SessionExpired,
    ConnectionPoolError,
    TransientError,
    DatabaseError,
    AuthError,
)
REDIS_UNAVAILABLE = (RedisError, OSError)


class DependencyError(Exception):
    """A backing database failed or timed out; answered 503 naming it."""

    def __init__(self, database: str, reason: str) -> None:
        super().__init__(f"{database}: {reason}")
        self.database = database
        self.reason = reason


class UnknownLinksError(Exception):
    """POST /entities named link targets that do not exist; answered 422 naming them."""

    def __init__(self, ids: list[int]) -> None:
        super().__init__(f"unknown link target id(s): {', '.join(map(str, ids))}")
        self.ids = ids


class StoresOutOfSyncError(Exception):
    """Neo4j already has a node with the id Postgres just issued (e.g. after restoring only
    Postgres to an earlier point); answered 500 saying so rather than as an anonymous error.
    """

    def __init__(self, entity_id: int) -> None:
        super().__init__(
            f"entity id {entity_id} issued by postgres already exists in neo4j: "
            "the two stores are out of sync (was only one of them restored?)"
        )
        self.entity_id = entity_id


def describe_error(error: BaseException) -> str:
    """One short line: the exception type and the first line of its message."""
    text = str(error).strip().splitlines()
    message = text[0] if text else ""
    line = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def failure_kind(error: Exception) -> Literal["timeout", "error"] | None:
    """How a dependency call failed: timed out, unavailable, or None for anything else.

    Anything else (a syntax error in a query, a bug) is not the dependency's failure and
    is left to become a 500.
    """
    if isinstance(error, TimeoutError | RedisTimeoutError | PoolTimeout | AcquisitionTimeout):
        return "timeout"
    if isinstance(error, ClientError) and "TransactionTimedOut" in (error.code or ""):
        return "timeout"  # the server-side transaction timeout beat ours
    if isinstance(error, PG_UNAVAILABLE + NEO4J_UNAVAILABLE + REDIS_UNAVAILABLE):
        return "error"
    return None

"""The target's three backing databases, each call bounded by its dependency's timeout.

Every call goes through `_call`, which times it into `intelgraph_query_latency_seconds`
and turns a timeout or a connectivity failure into `DependencyError` (answered 503).
Nothing waits for a dependency at startup: the Postgres pool opens in the background,
the Neo4j and Redis clients connect on first use, and the schema is created by a
background task that retries until both databases answer. /healthz says what is missing.

Degraded answer: the Redis cache is optional. GET /entities/{id} falls back to Postgres
when Redis fails or times out (so it costs at most the Redis timeout extra), and a cache
write that fails is ignored. Postgres and Neo4j are not optional: their failure is a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final, Literal, LiteralString, TypeVar, cast

import psycopg
import redis.asyncio as aioredis
from neo4j import READ_ACCESS, WRITE_ACCESS, AsyncDriver, AsyncGraphDatabase, Query
from neo4j.exceptions import ConstraintError
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from sut.config import TargetConfig
from sut.errors import (
    DependencyError,
    StoresOutOfSyncError,
    UnknownLinksError,
    describe_error,
    failure_kind,
)
from sut.faults import FaultInjector
from sut.metrics import Metrics
from sut.schema import ensure_neo4j_schema, ensure_postgres_schema
from sut.validation import NewEntity

log = logging.getLogger("sut")

T = TypeVar("T")
Database = Literal["postgres", "neo4j", "redis"]
CacheResult = Literal["hit", "miss", "bypass"]
DATABASES: Final = ("postgres", "neo4j", "redis")

# A reconnect attempt gives up after this long; the pool then grows again on demand, so
# after a long outage it reconnects at the next request instead of after a long backoff.
PG_RECONNECT_SECONDS = 10.0
PG_POOL_MIN = 1
SCHEMA_TIMEOUT_SECONDS = 30.0
SCHEMA_RETRY_MAX_SECONDS = 2.0
CLOSE_TIMEOUT_SECONDS = 5.0
REDIS_MAX_CONNECTIONS = 64
NEO4J_MAX_CONNECTIONS = 64
CACHE_KEY_PREFIX = "entity:"
ACK_BEFORE_COMMIT_SECONDS = 1.0

NEIGHBORS_QUERY = """
MATCH (start:Entity {id: $id})
OPTIONAL MATCH (start)-[:LINKS*1..%d]-(other:Entity)
WHERE other <> start
RETURN start.id AS id, collect(DISTINCT other.id) AS neighbors
"""
FIND_LINKED: LiteralString = (
    "UNWIND $links AS link MATCH (t:Entity {id: link}) RETURN collect(t.id) AS found"
)
CREATE_NODE: LiteralString = """
CREATE (n:Entity {id: $id, name: $name, kind: $kind})
WITH n
UNWIND $links AS link
MATCH (t:Entity {id: link})
CREATE (n)-[:LINKS]->(t)
"""
DELETE_NODE: LiteralString = "MATCH (n:Entity {id: $id}) DETACH DELETE n"


SchemaDatabase = Literal["postgres", "neo4j"]


class SchemaState:
    """Whether each database has the target's schema yet, and if not, why not."""

    def __init__(self) -> None:
        self._missing: dict[SchemaDatabase, str | None] = {
            "postgres": "not created yet",
            "neo4j": "not created yet",
        }

    def record_ready(self, database: SchemaDatabase) -> None:
        self._missing[database] = None

    def record_failure(self, database: SchemaDatabase, reason: str) -> None:
        self._missing[database] = reason

    def missing(self, database: SchemaDatabase) -> str | None:
        """None when the schema is there, else why it is not."""
        return self._missing[database]


class ThrottledWarning:
    """Log a repeated warning at most once per interval, so an outage does not flood logs.

    Metrics count every occurrence (`intelgraph_dependency_errors_total`); the log only
    has to say that it is happening.
    """

    def __init__(self, interval_seconds: float = 10.0) -> None:
        self.interval_seconds = interval_seconds
        self._last: dict[str, float] = {}

    def warn(self, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -math.inf) >= self.interval_seconds:
            self._last[key] = now
            log.warning(message, *args)


def _forget_abandoned(tasks: set[Any]) -> Callable[[asyncio.Future[Any]], None]:
    """A done-callback: drop an abandoned call, and read its exception (it was ours to
    abandon: no "exception was never retrieved" warning)."""

    def done(task: asyncio.Future[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()

    return done


def encode_entity(row: tuple[Any, ...]) -> bytes:
    entity_id, name, kind, created_at = row
    assert isinstance(created_at, datetime)
    document = {"id": entity_id, "name": name, "kind": kind, "created_at": created_at.isoformat()}
    return json.dumps(document, separators=(",", ":")).encode()


def neighbors_query(depth: int) -> str:
    """Neighbours within `depth` hops along LINKS in either direction, the start excluded.

    The depth is part of the pattern (Cypher has no parameter for it), so it is checked
    here again even though the route validated it.
    """
    if not 1 <= depth <= 3:
        raise ValueError(f"depth {depth} outside 1..3")
    return NEIGHBORS_QUERY % depth


class Dependencies:
    """The clients of Postgres, Neo4j and Redis, and the operations the routes need."""

    def __init__(self, config: TargetConfig, metrics: Metrics, faults: FaultInjector) -> None:
        self.config = config
        self.metrics = metrics
        self.faults = faults
        self.schema = SchemaState()
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            config.pg_dsn,
            open=False,
            min_size=min(PG_POOL_MIN, config.pg_pool_max),
            max_size=config.pg_pool_max,
            # `_call` bounds every wait by the Postgres timeout; the pool's own bound is a
            # backstop, longer so that the message is always ours ("timeout after N s").
            timeout=config.pg_timeout_seconds * 2,
            reconnect_timeout=PG_RECONNECT_SECONDS,
            kwargs={
                "autocommit": True,
                # libpq counts whole seconds, at least 2; a connect to a black hole must end.
                "connect_timeout": max(2, math.ceil(config.pg_timeout_seconds)),
            },
            name="sut",
        )
        neo4j_timeout = config.neo4j_timeout_seconds
        self.driver: AsyncDriver = AsyncGraphDatabase.driver(
            config.neo4j_uri,
            auth=(config.neo4j_user, config.neo4j_password),
            # Our own bound (`_call`) is the timeout; the driver's are backstops, longer so
            # that a slow connect is reported the same way as a slow query.
            connection_timeout=neo4j_timeout * 2,
            connection_acquisition_timeout=neo4j_timeout * 3,
            max_transaction_retry_time=0.0,
            max_connection_pool_size=NEO4J_MAX_CONNECTIONS,
            notifications_min_severity="OFF",
            user_agent="intelgraph-reference-target",
        )
        redis_timeout = None if config.faults.redis_no_timeout else config.redis_timeout_seconds
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            config.redis_url,
            socket_timeout=redis_timeout,
            socket_connect_timeout=redis_timeout,
            # One immediate retry on a broken connection (e.g. after a Redis restart),
            # none on a timeout: a slow cache must not cost a multiple of its timeout.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            max_connections=REDIS_MAX_CONNECTIONS,
        )
        self._pg_lost: str | None = None  # TARGET_FAULT_PG_NO_RECONNECT: why it gave up
        self._background: set[asyncio.Task[None]] = set()
        self._pool_check: asyncio.Task[None] | None = None
        self._warnings = ThrottledWarning()

    # lifecycle ------------------------------------------------------------------------
    async def open(self) -> None:
        """Start everything without waiting for any database to answer."""
        await self.pool.open(wait=False)
        self._spawn(self._keep_schema("postgres"))
        self._spawn(self._keep_schema("neo4j"))

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.driver.close(), CLOSE_TIMEOUT_SECONDS)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.redis.aclose(), CLOSE_TIMEOUT_SECONDS)
        await self.pool.close(timeout=CLOSE_TIMEOUT_SECONDS)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        async def run() -> None:
            await work

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _keep_schema(self, database: SchemaDatabase) -> None:
        """Create one database's schema, retrying until it answers (it may boot later)."""
        create = self._postgres_schema if database == "postgres" else self._neo4j_schema
        delay = 0.25
        while True:
            try:
                await asyncio.wait_for(create(), SCHEMA_TIMEOUT_SECONDS)
            except Exception as error:
                self.schema.record_failure(database, describe_error(error))
            else:
                self.schema.record_ready(database)
                log.info("schema ready in %s", database)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, SCHEMA_RETRY_MAX_SECONDS)

    async def _postgres_schema(self) -> None:
        async with self.pool.connection() as connection:
            await ensure_postgres_schema(connection)

    async def _neo4j_schema(self) -> None:
        async with self.driver.session(database=self.config.neo4j_database) as session:
            await ensure_neo4j_schema(session)

    # the guard around every call ------------------------------------------------------
    def timeout_of(self, database: Database) -> float:
        return {
            "postgres": self.config.pg_timeout_seconds,
            "neo4j": self.config.neo4j_timeout_seconds,
            "redis": self.config.redis_timeout_seconds,
        }[database]

    async def _call(
        self,
        database: Database,
        operation: str,
        work: Callable[[], Awaitable[T]],
        *,
        observe: bool = True,
    ) -> T:
        """Run `work()` within the database's timeout; failures become `DependencyError`."""
        if database == "postgres" and self._pg_lost is not None:
            raise DependencyError(database, self._pg_lost)
        if database == "redis" and self.config.faults.redis_no_timeout:
            return await work()  # test-only: the unbounded call a careless client makes
        timeout = self.timeout_of(database)
        timer = (
            self.metrics.time_query(database, operation) if observe else contextlib.nullcontext()
        )
        with timer:
            try:
                return await self._within(work, timeout)
            except Exception as error:
                kind = failure_kind(error)
                if kind is None:
                    raise
                self._count_error(database, operation, kind)
                if kind == "timeout":
                    raise DependencyError(database, f"timeout after {timeout:g} s") from None
                if database == "postgres" and not isinstance(error, PoolTimeout):
                    if self.config.faults.pg_no_reconnect:
                        self._pg_lost = "connection lost, and this target never reconnects"
                    self._check_pool_soon()
                raise DependencyError(database, describe_error(error)) from None

    async def _within(self, work: Callable[[], Awaitable[T]], timeout: float) -> T:
        """`work()`'s result, or `TimeoutError` after `timeout` — at once.

        `asyncio.wait_for` waits for the cancelled call to end, and a driver cancelling a
        query on a dead connection can take many seconds (psycopg sends a cancel request,
        waits for it, then closes the connection: 10 s against a black hole, measured by
        the chaos suite). The call is cancelled and left to end in the background instead.
        """
        task = asyncio.ensure_future(work())
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if task in done:
            return task.result()
        task.cancel()
        self._background.add(task)  # type: ignore[arg-type]
        task.add_done_callback(_forget_abandoned(self._background))
        raise TimeoutError(f"no answer within {timeout:g} s")

    def _count_error(self, database: str, operation: str, kind: str) -> None:
        self.metrics.dependency_errors.labels(
            database=database, operation=operation, kind=kind
        ).inc()

    def _check_pool_soon(self) -> None:
        """After a connection-level failure, test every idle pooled connection at once.

        Without this, after a Postgres restart each stale pooled connection would fail one
        request in turn; `pool.check()` drops all of them and reconnects in the background.
        """
        if self._pool_check is None or self._pool_check.done():
            self._pool_check = self._spawn(self.pool.check())

    def _require_schema(self, database: SchemaDatabase) -> None:
        reason = self.schema.missing(database)
        if reason is not None:
            raise DependencyError(database, f"schema not ready: {reason}")

    # health ---------------------------------------------------------------------------
    async def health(self) -> dict[str, str]:
        """Each check is "ok" or "error: <reason>"; all run at once, each within its timeout."""
        checks = await asyncio.gather(
            self._check("postgres", self._ping_postgres),
            self._check("neo4j", self._ping_neo4j),
            self._check("redis", self._ping_redis),
        )
        return dict(zip(DATABASES, checks, strict=True))

    async def _check(self, database: Database, ping: Callable[[], Awaitable[object]]) -> str:
        try:
            await self._call(database, "health", ping, observe=False)
            if database != "redis":
                self._require_schema(database)
        except DependencyError as error:
            return f"error: {error.reason}"
        except Exception as error:
            return f"error: {describe_error(error)}"
        return "ok"

    async def _ping_postgres(self) -> None:
        async with self.pool.connection() as connection:
            await connection.execute("SELECT 1")

    async def _ping_neo4j(self) -> None:
        async with self.driver.session(
            database=self.config.neo4j_database, default_access_mode=READ_ACCESS
        ) as session:
            result = await session.run("RETURN 1 AS one")
            await result.consume()

    async def _ping_redis(self) -> None:
        # redis-py types ping() for both its clients; the asyncio one always awaits.
        if not await cast("Awaitable[bool]", self.redis.ping()):
            raise RedisConnectionError("PING not answered with PONG")

    # entities -------------------------------------------------------------------------
    async def read_entity(self, entity_id: int) -> tuple[bytes | None, CacheResult]:
        """The entity's JSON (None if unknown), read through the Redis cache."""
        key = f"{CACHE_KEY_PREFIX}{entity_id}"
        cache: CacheResult
        try:
            cached = await self._call("redis", "cache_get", lambda: self.redis.get(key))
        except DependencyError as error:
            self._warnings.warn("cache_get", "cache bypassed: %s", error)
            self.metrics.cache_lookups.labels(result="error").inc()
            cache = "bypass"
        else:
            if isinstance(cached, bytes):
                self.metrics.cache_lookups.labels(result="hit").inc()
                return cached, "hit"
            self.metrics.cache_lookups.labels(result="miss").inc()
            cache = "miss"
        body = await self._select_entity(entity_id)
        if body is not None and cache == "miss":
            await self._cache_put(key, body)
        return body, cache

    async def _select_entity(self, entity_id: int) -> bytes | None:
        self._require_schema("postgres")

        async def select() -> tuple[Any, ...] | None:
            async with self.pool.connection() as connection:
                cursor = await connection.execute(
                    "SELECT id, name, kind, created_at FROM entities WHERE id = %s", (entity_id,)
                )
                return await cursor.fetchone()

        row = await self._call("postgres", "get_entity", select)
        return None if row is None else encode_entity(row)

    async def _cache_put(self, key: str, body: bytes) -> None:
        ttl = self.config.cache_ttl_seconds
        try:
            await self._call("redis", "cache_set", lambda: self.redis.set(key, body, ex=ttl))
        except DependencyError as error:
            self._warnings.warn("cache_set", "cache write skipped: %s", error)

    async def create_entity(self, new: NewEntity) -> int:
        """Insert the row, then the node and its edges; the row commits only if they did.

        The Postgres transaction stays open across the Neo4j write. If the final COMMIT
        fails after Neo4j committed, the node is deleted again (best effort) so that a
        failed POST leaves no node without its row.
        """
        self._require_schema("postgres")
        self._require_schema("neo4j")
        async with contextlib.AsyncExitStack() as stack:

            async def begin() -> tuple[psycopg.AsyncConnection[Any], int]:
                connection = await stack.enter_async_context(self.pool.connection())
                return connection, await self._insert_row(connection, new)

            connection, entity_id = await self._call("postgres", "insert_entity", begin)
            try:
                await self._call(
                    "neo4j", "create_entity", lambda: self._create_node(entity_id, new)
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        connection.execute("ROLLBACK"), self.timeout_of("postgres")
                    )
                raise
            if self.config.faults.ack_before_commit:  # test-only: acknowledge, commit later
                self._spawn(self._commit_later(stack.pop_all(), connection, entity_id))
                return entity_id
            try:
                await self._call("postgres", "commit", lambda: connection.execute("COMMIT"))
            except DependencyError:
                await self._delete_node(entity_id)
                raise
        return entity_id

    async def _commit_later(
        self,
        stack: contextlib.AsyncExitStack,
        connection: psycopg.AsyncConnection[Any],
        entity_id: int,
    ) -> None:
        """TARGET_FAULT_ACK_BEFORE_COMMIT: the 201 went out; the COMMIT a second later is
        lost if the target dies meanwhile (what the chaos suite's ledger must catch)."""
        async with stack:
            await asyncio.sleep(ACK_BEFORE_COMMIT_SECONDS)
            try:
                await self._call("postgres", "commit", lambda: connection.execute("COMMIT"))
            except DependencyError:
                await self._delete_node(entity_id)

    @staticmethod
    async def _insert_row(connection: psycopg.AsyncConnection[Any], new: NewEntity) -> int:
        await connection.execute("BEGIN")
        cursor = await connection.execute(
            "INSERT INTO entities (name, kind) VALUES (%s, %s) RETURNING id", (new.name, new.kind)
        )
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def _create_node(self, entity_id: int, new: NewEntity) -> None:
        links = list(new.links)
        async with self.driver.session(
            database=self.config.neo4j_database, default_access_mode=WRITE_ACCESS
        ) as session:
            transaction = await session.begin_transaction(timeout=self.config.neo4j_timeout_seconds)
            async with transaction:
                if links:
                    result = await transaction.run(FIND_LINKED, links=links)
                    record = await result.single(strict=True)
                    missing = sorted(set(links) - set(record["found"]))
                    if missing:
                        raise UnknownLinksError(missing)
                try:
                    result = await transaction.run(
                        CREATE_NODE, id=entity_id, name=new.name, kind=new.kind, links=links
                    )
                    await result.consume()
                except ConstraintError:
                    raise StoresOutOfSyncError(entity_id) from None
                await transaction.commit()

    async def _delete_node(self, entity_id: int) -> None:
        async def delete() -> None:
            async with self.driver.session(database=self.config.neo4j_database) as session:
                result = await session.run(DELETE_NODE, id=entity_id)
                await result.consume()

        try:
            await self._call("neo4j", "delete_entity", delete)
        except DependencyError as error:
            failure = error
        else:
            return
        log.error("entity %s: node left in neo4j without its row: %s", entity_id, failure)

    # graph ----------------------------------------------------------------------------
    async def neighbors(self, entity_id: int, depth: int) -> list[int] | None:
        """Distinct neighbour ids within `depth` (sorted), or None if the id is unknown."""
        self._require_schema("neo4j")
        query = Query(neighbors_query(depth), timeout=self.config.neo4j_timeout_seconds)

        async def traverse() -> list[int] | None:
            async with self.driver.session(
                database=self.config.neo4j_database, default_access_mode=READ_ACCESS
            ) as session:
                result = await session.run(query, id=entity_id)
                record = await result.single(strict=False)
                return None if record is None else sorted(record["neighbors"])

        with self.metrics.time_query("neo4j", "neighbors"):
            # The injected delay is timed (the server sees a slow graph query) but is not
            # bounded by the Neo4j timeout: it slows answers instead of turning them to 503s.
            await self.faults.delay_graph_query()
            return await self._call("neo4j", "neighbors", traverse, observe=False)

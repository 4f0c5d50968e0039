"""The quotes API's one database: every call bounded by `QUOTES_DB_TIMEOUT_SECONDS`.

Each statement kind goes through `_call`, which times it into `quotes_db_seconds` and
turns a timeout or a lost connection into `DatabaseUnavailableError` (answered 503).
Nothing waits for Postgres at start-up: the pool opens in the background, and the
migrations are applied by a task that retries until the database answers; until then
every route that needs the database answers 503 and /status says DEGRADED.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, LiteralString, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from examples.quotes_api.config import QuotesConfig
from examples.quotes_api.domain import PricedItem, QuoteRequest, price_items, total_cents
from examples.quotes_api.metrics import Metrics, Statement
from examples.quotes_api.schema import migrate

log = logging.getLogger("examples.quotes_api")

T = TypeVar("T")

POOL_MAX = 10
RECONNECT_SECONDS = 10.0
MIGRATE_TIMEOUT_SECONDS = 30.0
MIGRATE_RETRY_MAX_SECONDS = 2.0
CLOSE_TIMEOUT_SECONDS = 5.0

SELECT_PRICES: LiteralString = "SELECT sku, price_cents FROM prices WHERE sku = ANY(%s)"
INSERT_QUOTE: LiteralString = (
    "INSERT INTO quotes (customer, total_cents) VALUES (%s, %s) RETURNING id"
)
INSERT_ITEMS: LiteralString = """
INSERT INTO quote_items (quote_id, line, sku, quantity, unit_cents)
SELECT %s, line, sku, quantity, unit_cents
FROM unnest(%s::integer[], %s::text[], %s::integer[], %s::bigint[])
    AS item (line, sku, quantity, unit_cents)
"""
SELECT_QUOTE: LiteralString = """
SELECT q.customer, q.total_cents, i.sku, i.quantity, i.unit_cents
FROM quotes q LEFT JOIN quote_items i ON i.quote_id = q.id
WHERE q.id = %s
ORDER BY i.line
"""
UPSERT_PRICES: LiteralString = """
INSERT INTO prices (sku, price_cents)
SELECT sku, price_cents FROM unnest(%s::text[], %s::bigint[]) AS row (sku, price_cents)
ON CONFLICT (sku) DO UPDATE SET price_cents = EXCLUDED.price_cents, updated_at = now()
"""


class DatabaseUnavailableError(Exception):
    """Postgres failed, timed out, or has no schema yet; answered 503."""


@dataclass(frozen=True)
class StoredQuote:
    quote_id: int
    customer: str
    total_cents: int
    items: tuple[PricedItem, ...]


def is_unavailable(error: Exception) -> bool:
    """A timeout or a lost or refused connection, as opposed to a bug (left to be a 500).

    A statement cancelled by the server's `statement_timeout` is an `OperationalError`.
    """
    return isinstance(
        error, TimeoutError | PoolTimeout | psycopg.OperationalError | psycopg.InterfaceError
    )


def connection_options(timeout_seconds: float) -> dict[str, Any]:
    """Connection settings that make the server and libpq give up too, as backstops of ours."""
    return {
        "autocommit": True,
        # libpq counts whole seconds, at least 2: a connect to a black hole must end.
        "connect_timeout": max(2, math.ceil(timeout_seconds)),
        "options": f"-c statement_timeout={max(1, round(timeout_seconds * 1000))}",
        "application_name": "quotes_api",
    }


class QuoteStore:
    def __init__(self, config: QuotesConfig, metrics: Metrics) -> None:
        self.timeout = config.db_timeout_seconds
        self.metrics = metrics
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            config.database_url,
            open=False,
            min_size=1,
            max_size=POOL_MAX,
            # Our own bound (`_within`) is the timeout; the pool's is a longer backstop.
            timeout=self.timeout * 2,
            reconnect_timeout=RECONNECT_SECONDS,
            kwargs=connection_options(self.timeout),
            name="quotes",
        )
        self.schema_missing: str | None = "not applied yet"
        self._background: set[asyncio.Future[Any]] = set()
        self._pool_check: asyncio.Future[Any] | None = None

    # lifecycle ------------------------------------------------------------------------
    async def open(self) -> None:
        await self.pool.open(wait=False)
        self._spawn(self._keep_migrating())

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._background:  # a call stuck on a frozen server must not hold the shutdown
            await asyncio.wait(set(self._background), timeout=CLOSE_TIMEOUT_SECONDS)
        await self.pool.close(timeout=CLOSE_TIMEOUT_SECONDS)

    def _spawn(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Future[Any]) -> None:
        """Drop a finished background task and read its exception (no "never retrieved")."""
        self._background.discard(task)
        if not task.cancelled():
            task.exception()

    async def _keep_migrating(self) -> None:
        delay = 0.25
        while True:
            try:
                applied = await asyncio.wait_for(self._migrate(), MIGRATE_TIMEOUT_SECONDS)
            except Exception as error:
                self.schema_missing = f"{type(error).__name__}: {error}".splitlines()[0]
            else:
                self.schema_missing = None
                log.info("schema ready (applied now: %s)", ", ".join(applied) or "none")
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, MIGRATE_RETRY_MAX_SECONDS)

    async def _migrate(self) -> tuple[str, ...]:
        async with self.pool.connection() as connection:
            return await migrate(connection)

    # the guard around every call ------------------------------------------------------
    async def _call(self, statement: Statement, work: Callable[[], Awaitable[T]]) -> T:
        """`work()` within the timeout, timed; failures of the database raise
        `DatabaseUnavailableError`, anything else (a bug) propagates as it is."""
        if self.schema_missing is not None:
            raise DatabaseUnavailableError(f"schema not ready: {self.schema_missing}")
        with self.metrics.time_statement(statement):
            try:
                return await self._within(work)
            except Exception as error:
                if not is_unavailable(error):
                    raise
                if isinstance(error, psycopg.Error):
                    self._check_pool_soon()
                reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
                raise DatabaseUnavailableError(reason or type(error).__name__) from None

    async def _within(self, work: Callable[[], Awaitable[T]]) -> T:
        """`work()`'s result, or `TimeoutError` after the timeout — at once.

        `asyncio.wait_for` would wait for the cancelled call to end, and psycopg cancelling
        a query on a dead connection can take seconds; the call is cancelled and left to
        end in the background instead, so the answer never waits longer than the timeout.
        """
        task = asyncio.ensure_future(work())
        done, _ = await asyncio.wait({task}, timeout=self.timeout)
        if task in done:
            return task.result()
        task.cancel()
        self._background.add(task)
        task.add_done_callback(self._forget)
        raise TimeoutError(f"no answer within {self.timeout:g} s")

    def _check_pool_soon(self) -> None:
        """After a connection failure, test every idle pooled connection at once, so that
        after a restart the stale ones do not fail one request each in turn."""
        if self._pool_check is None or self._pool_check.done():
            self._pool_check = self._spawn(self.pool.check())

    # operations -----------------------------------------------------------------------
    async def ping(self) -> bool:
        """True when `SELECT 1` answers within the timeout and the schema is in place."""

        async def select_one() -> None:
            async with self.pool.connection() as connection:
                await connection.execute("SELECT 1")

        try:
            await self._call("ping", select_one)
        except DatabaseUnavailableError:
            return False
        return True

    async def create_quote(self, request: QuoteRequest) -> StoredQuote:
        """Price the items (imported prices win) and store the quote with its items, in
        one transaction."""

        async def insert() -> StoredQuote:
            skus = sorted({item.sku for item in request.items})
            async with self.pool.connection() as connection, connection.transaction():
                cursor = await connection.execute(SELECT_PRICES, (skus,))
                imported = {str(sku): int(cents) for sku, cents in await cursor.fetchall()}
                priced = price_items(request.items, imported)
                total = total_cents(priced)
                cursor = await connection.execute(INSERT_QUOTE, (request.customer, total))
                row = await cursor.fetchone()
                assert row is not None
                quote_id = int(row[0])
                await connection.execute(
                    INSERT_ITEMS,
                    (
                        quote_id,
                        list(range(1, len(priced) + 1)),
                        [item.sku for item in priced],
                        [item.quantity for item in priced],
                        [item.unit_cents for item in priced],
                    ),
                )
            return StoredQuote(quote_id, request.customer, total, priced)

        return await self._call("insert_quote", insert)

    async def read_quote(self, quote_id: int) -> StoredQuote | None:
        async def select() -> list[tuple[Any, ...]]:
            async with self.pool.connection() as connection:
                cursor = await connection.execute(SELECT_QUOTE, (quote_id,))
                return await cursor.fetchall()

        rows = await self._call("select_quote", select)
        if not rows:
            return None
        customer, total = str(rows[0][0]), int(rows[0][1])
        items = tuple(
            PricedItem(str(sku), int(quantity), int(unit))
            for _, _, sku, quantity, unit in rows
            if sku is not None  # LEFT JOIN: a quote without items has one row of NULLs
        )
        return StoredQuote(quote_id, customer, total, items)

    async def upsert_prices(self, prices: dict[str, int]) -> int:
        """Insert or replace the prices; how many skus were written."""

        async def upsert() -> None:
            async with self.pool.connection() as connection:
                await connection.execute(UPSERT_PRICES, (list(prices), list(prices.values())))

        await self._call("upsert_prices", upsert)
        return len(prices)

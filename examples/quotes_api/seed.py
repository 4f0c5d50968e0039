"""Replace the quotes API's data with N deterministic quotes, ids exactly 1..N.

The migrations are applied first; then quotes, their items and the imported prices are
truncated (identities restarted), the generated quotes are copied in with ids 1..N, and
the id sequence is moved past N so that the API's own quotes continue at N+1. Prices are
cleared too, so every seeded total is the derived price of its skus and the same
(quotes, seed) always gives the same data.

    QUOTES_DATABASE_URL=... python -m examples.quotes_api.seed --quotes 1000
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from examples.quotes_api.config import DATABASE_URL
from examples.quotes_api.domain import Item, PricedItem, price_items, total_cents
from examples.quotes_api.schema import migrate_sync

DEFAULT_SEED = 7
CUSTOMERS = 200
SKUS = 250
MAX_ITEMS_PER_QUOTE = 5
MAX_SEEDED_QUANTITY = 20


@dataclass(frozen=True)
class SeedQuote:
    quote_id: int
    customer: str
    items: tuple[PricedItem, ...]

    @property
    def total_cents(self) -> int:
        return total_cents(self.items)


def sku_name(number: int) -> str:
    return f"QS-{number:04d}"


def generate_quotes(count: int, seed: int = DEFAULT_SEED) -> tuple[SeedQuote, ...]:
    """Quotes 1..count: a customer, 1 to 5 items of catalogue skus, at derived prices."""
    if count < 0:
        raise ValueError("count must be >= 0")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    quotes = []
    for quote_id in range(1, count + 1):
        customer = f"customer-{rng.randrange(1, CUSTOMERS + 1):04d}"
        items = tuple(
            Item(sku_name(rng.randrange(1, SKUS + 1)), rng.randrange(1, MAX_SEEDED_QUANTITY + 1))
            for _ in range(rng.randrange(1, MAX_ITEMS_PER_QUOTE + 1))
        )
        quotes.append(SeedQuote(quote_id, customer, price_items(items, {})))
    return tuple(quotes)


@dataclass(frozen=True)
class SeedReport:
    quotes: int
    items: int
    seed: int
    seconds: float

    def describe(self) -> str:
        return (
            f"seeded {self.quotes} quotes ({self.items} items, ids 1..{self.quotes}, "
            f"seed {self.seed}) in {self.seconds:.2f} s; imported prices cleared"
        )


def seed(database_url: str, count: int, seed: int = DEFAULT_SEED) -> SeedReport:
    started = time.perf_counter()
    quotes = generate_quotes(count, seed)
    with psycopg.connect(database_url, connect_timeout=10) as connection:
        migrate_sync(connection)
        with connection.transaction():
            connection.execute("TRUNCATE quote_items, quotes, prices RESTART IDENTITY")
            with connection.cursor().copy(
                "COPY quotes (id, customer, total_cents) FROM STDIN"
            ) as copy:
                for quote in quotes:
                    copy.write_row((quote.quote_id, quote.customer, quote.total_cents))
            with connection.cursor().copy(
                "COPY quote_items (quote_id, line, sku, quantity, unit_cents) FROM STDIN"
            ) as copy:
                for quote in quotes:
                    for line, item in enumerate(quote.items, start=1):
                        copy.write_row(
                            (quote.quote_id, line, item.sku, item.quantity, item.unit_cents)
                        )
            # The next id the API hands out is N+1 (1 when nothing was seeded).
            connection.execute(
                "SELECT setval(pg_get_serial_sequence('quotes', 'id'), %s, %s)",
                (max(count, 1), count > 0),
            )
    return SeedReport(
        quotes=len(quotes),
        items=sum(len(quote.items) for quote in quotes),
        seed=seed,
        seconds=time.perf_counter() - started,
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.quotes_api.seed",
        description="Replace the quotes API's data with N deterministic quotes (ids 1..N).",
    )
    parser.add_argument("--quotes", type=int, default=1000, help="how many (default 1000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    database_url = os.environ.get(DATABASE_URL, "").strip()
    if not database_url:
        print(
            f"quotes_api.seed: missing required environment variable {DATABASE_URL}",
            file=sys.stderr,
        )
        return 2
    if args.quotes < 0:
        print("quotes_api.seed: --quotes must be >= 0", file=sys.stderr)
        return 2
    try:
        report = seed(database_url, args.quotes, args.seed)
    except (psycopg.Error, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(f"quotes_api.seed: seeding failed: {type(error).__name__}: {reason}", file=sys.stderr)
        return 1
    print(report.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a quote is, what it costs, and which request bodies are acceptable (pure logic).

Money is kept in integer cents everywhere (Python, the database, the seed) and shown as
a decimal number only in JSON answers, so no total is ever off by a rounding error.
A sku without an imported price costs a deterministic amount derived from its name, so
that any sku can be quoted and the same sku always costs the same.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard

MAX_ITEMS = 50
MAX_IMPORT_ROWS = 500
MAX_QUANTITY = 100_000  # quantity is an `integer` column; a bound keeps totals in bigint
MAX_PRICE_CENTS = 100_000_000  # 1,000,000.00
MAX_CUSTOMER_CHARS = 200
MAX_SKU_CHARS = 64
MIN_DERIVED_CENTS = 100  # derived prices lie in 1.00 .. 1000.00
DERIVED_SPAN_CENTS = 99_901
MAX_QUOTE_ID = (1 << 63) - 1  # a bigint: anything larger cannot be a quote


class BadRequestError(ValueError):
    """The request is malformed; answered 400 with the message."""


@dataclass(frozen=True)
class Item:
    sku: str
    quantity: int


@dataclass(frozen=True)
class QuoteRequest:
    customer: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class PricedItem:
    sku: str
    quantity: int
    unit_cents: int

    @property
    def line_cents(self) -> int:
        return self.quantity * self.unit_cents


def derived_price_cents(sku: str) -> int:
    """The price of a sku nobody imported a price for: from a hash of its name."""
    digest = hashlib.sha256(sku.encode()).digest()
    return MIN_DERIVED_CENTS + int.from_bytes(digest[:8], "big") % DERIVED_SPAN_CENTS


def price_items(items: tuple[Item, ...], imported: dict[str, int]) -> tuple[PricedItem, ...]:
    """Each item at its imported price if there is one, else at its derived price."""
    return tuple(
        PricedItem(item.sku, item.quantity, imported.get(item.sku, derived_price_cents(item.sku)))
        for item in items
    )


def total_cents(items: tuple[PricedItem, ...]) -> int:
    return sum(item.line_cents for item in items)


def cents_to_number(cents: int) -> float:
    """Cents as the decimal number JSON shows (exact to the cent for any total we store)."""
    return cents / 100


def decode_json(body: bytes) -> Any:
    if not body:
        raise BadRequestError("the body is empty: a JSON object is expected")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise BadRequestError(f"the body is not valid JSON: {error}") from None


def parse_quote_request(body: bytes) -> QuoteRequest:
    """`{"customer": str, "items": [{"sku": str, "quantity": int >= 1}, ...]}`, strictly."""
    document = _object(decode_json(body), "the body", {"customer", "items"})
    customer = _text(document.get("customer"), "customer", MAX_CUSTOMER_CHARS)
    items = document.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise BadRequestError(f"items must be a list of 1 to {MAX_ITEMS} items")
    return QuoteRequest(
        customer, tuple(_item(entry, f"items[{index}]") for index, entry in enumerate(items))
    )


def _item(entry: Any, where: str) -> Item:
    item = _object(entry, where, {"sku", "quantity"})
    sku = _text(item.get("sku"), f"{where}.sku", MAX_SKU_CHARS)
    quantity = item.get("quantity")
    if not _is_int(quantity) or not 1 <= quantity <= MAX_QUANTITY:
        raise BadRequestError(f"{where}.quantity must be an integer from 1 to {MAX_QUANTITY}")
    return Item(sku, quantity)


def parse_price_rows(body: bytes) -> dict[str, int]:
    """`{"rows": [{"sku": str, "price": number}, ...]}` as {sku: cents}; a sku given twice
    keeps its last price (one upsert statement cannot touch a row twice)."""
    document = _object(decode_json(body), "the body", {"rows"})
    rows = document.get("rows")
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_IMPORT_ROWS:
        raise BadRequestError(f"rows must be a list of 1 to {MAX_IMPORT_ROWS} rows")
    prices: dict[str, int] = {}
    for index, entry in enumerate(rows):
        where = f"rows[{index}]"
        row = _object(entry, where, {"sku", "price"})
        sku = _text(row.get("sku"), f"{where}.sku", MAX_SKU_CHARS)
        prices[sku] = price_to_cents(row.get("price"), f"{where}.price")
    return prices


def price_to_cents(value: Any, where: str = "price") -> int:
    """A JSON number with at most two decimals, 0 .. 1,000,000, as whole cents."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequestError(f"{where} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRequestError(f"{where} must be a finite number")
    try:
        cents = Decimal(repr(value)) * 100
    except InvalidOperation:  # pragma: no cover - repr of a finite number always parses
        raise BadRequestError(f"{where} must be a number") from None
    if cents != cents.to_integral_value():
        raise BadRequestError(f"{where} must have at most two decimals, got {value!r}")
    if not 0 <= cents <= MAX_PRICE_CENTS:
        raise BadRequestError(f"{where} must be from 0 to {MAX_PRICE_CENTS // 100}, got {value!r}")
    return int(cents)


def parse_quote_id(raw: str) -> int:
    """A quote id from the path: decimal digits only, 1 .. 2^63-1."""
    if not raw.isascii() or not raw.isdigit():
        raise BadRequestError(f"quote id must be a positive integer, got {raw[:40]!r}")
    quote_id = int(raw)
    if not 1 <= quote_id <= MAX_QUOTE_ID:
        raise BadRequestError(f"quote id must be from 1 to {MAX_QUOTE_ID}, got {raw[:40]!r}")
    return quote_id


def _object(value: Any, where: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestError(f"{where} must be a JSON object")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise BadRequestError(f"{where} has unknown field(s): {', '.join(unknown)}")
    return value


def _text(value: Any, where: str, max_chars: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"{where} must be a non-empty string")
    if len(value) > max_chars or "\x00" in value:
        raise BadRequestError(f"{where} must be at most {max_chars} characters, without NUL")
    return value


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)

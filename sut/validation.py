"""Request validation: pure functions that turn raw input into values or a `BadRequestError`.

Kept free of Starlette so the rules (what is a valid id, depth, body) are unit-tested
without a server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_ID = 2**63 - 1  # Postgres bigint and Neo4j integer
MIN_DEPTH = 1
MAX_DEPTH = 3
DEFAULT_DEPTH = 1
MAX_TEXT_LENGTH = 1000
MAX_LINKS = 1000
ENTITY_FIELDS = ("name", "kind", "links")
_DIGITS = re.compile(r"[0-9]{1,19}")


class BadRequestError(ValueError):
    """The request cannot be served as sent; the message is the reason shown to the client."""


@dataclass(frozen=True)
class NewEntity:
    """A validated POST /entities body; `links` has no duplicates and keeps the given order."""

    name: str
    kind: str
    links: tuple[int, ...]


def parse_entity_id(raw: str) -> int:
    """An entity id is a positive decimal integer that fits a bigint (no sign, no spaces)."""
    if not _DIGITS.fullmatch(raw):
        raise BadRequestError(f"malformed id {_shorten(raw)!r}: expected a positive integer")
    value = int(raw)
    if not 1 <= value <= MAX_ID:
        raise BadRequestError(f"malformed id {_shorten(raw)!r}: expected 1..{MAX_ID}")
    return value


def parse_depth(values: Sequence[str]) -> int:
    """`depth` query values: absent means 1; one integer in 1..3 otherwise."""
    if not values:
        return DEFAULT_DEPTH
    if len(values) > 1:
        raise BadRequestError("depth given more than once")
    raw = values[0].strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,6}", raw):
        raise BadRequestError(
            f"depth must be an integer in {MIN_DEPTH}..{MAX_DEPTH}, got {_shorten(raw)!r}"
        )
    depth = int(raw)
    if not MIN_DEPTH <= depth <= MAX_DEPTH:
        raise BadRequestError(f"depth must be in {MIN_DEPTH}..{MAX_DEPTH}, got {depth}")
    return depth


def parse_new_entity(body: bytes) -> NewEntity:
    """Parse a POST /entities body: a JSON object with exactly name, kind and links."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadRequestError(f"body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise BadRequestError(f"body must be a JSON object, got {_json_type(document)}")
    missing = [name for name in ENTITY_FIELDS if name not in document]
    if missing:
        raise BadRequestError(f"missing field(s): {', '.join(missing)}")
    unknown = sorted(set(document) - set(ENTITY_FIELDS))
    if unknown:
        raise BadRequestError(f"unknown field(s): {', '.join(unknown)}")
    return NewEntity(
        name=_text(document, "name"),
        kind=_text(document, "kind"),
        links=_links(document["links"]),
    )


def _text(document: dict[str, Any], name: str) -> str:
    value = document[name]
    if not isinstance(value, str):
        raise BadRequestError(f"{name} must be a string, got {_json_type(value)}")
    if not value.strip():
        raise BadRequestError(f"{name} must not be empty")
    if len(value) > MAX_TEXT_LENGTH:
        raise BadRequestError(f"{name} is longer than {MAX_TEXT_LENGTH} characters")
    if "\x00" in value:
        raise BadRequestError(f"{name} must not contain NUL characters")
    return value


def _links(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise BadRequestError(f"links must be a list of entity ids, got {_json_type(value)}")
    if len(value) > MAX_LINKS:
        raise BadRequestError(f"links has more than {MAX_LINKS} ids")
    links: dict[int, None] = {}
    for index, item in enumerate(value):
        # bool is an int in Python but not an id in JSON.
        if isinstance(item, bool) or not isinstance(item, int):
            raise BadRequestError(f"links[{index}] must be an integer id, got {_json_type(item)}")
        if not 1 <= item <= MAX_ID:
            raise BadRequestError(f"links[{index}] must be in 1..{MAX_ID}, got {item}")
        links[item] = None
    return tuple(links)


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages a client understands."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _shorten(raw: str, limit: int = 40) -> str:
    return raw if len(raw) <= limit else raw[:limit] + "..."

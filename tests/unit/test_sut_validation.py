"""Request validation of the reference target: ids, depth and POST bodies."""

from __future__ import annotations

import json

import pytest

from sut.validation import (
    MAX_ID,
    BadRequestError,
    NewEntity,
    parse_depth,
    parse_entity_id,
    parse_new_entity,
)


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), ("007", 7), (str(MAX_ID), MAX_ID)])
def test_valid_ids(raw: str, expected: int) -> None:
    assert parse_entity_id(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "0", "-1", "+1", "1.0", "1e3", " 1", "0x10", "\u0661", str(MAX_ID + 1), "9" * 40]
)
def test_malformed_ids(raw: str) -> None:
    with pytest.raises(BadRequestError, match="malformed id"):
        parse_entity_id(raw)


def test_depth_defaults_to_one() -> None:
    assert parse_depth([]) == 1


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), ("2", 2), ("3", 3), (" 3 ", 3)])
def test_valid_depths(raw: str, expected: int) -> None:
    assert parse_depth([raw]) == expected


@pytest.mark.parametrize("raw", ["0", "4", "-1", "", "x", "1.5", "1e1", "9" * 30])
def test_bad_depths(raw: str) -> None:
    with pytest.raises(BadRequestError, match="depth"):
        parse_depth([raw])


def test_repeated_depth_is_refused() -> None:
    with pytest.raises(BadRequestError, match="more than once"):
        parse_depth(["1", "2"])


def test_valid_body_keeps_link_order_and_drops_duplicates() -> None:
    body = json.dumps({"name": "n", "kind": "k", "links": [3, 1, 3, 2, 1]}).encode()
    assert parse_new_entity(body) == NewEntity("n", "k", (3, 1, 2))


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"\xff\xfe", "not valid JSON"),
        (b"null", "must be a JSON object, got null"),
        (b'"text"', "must be a JSON object, got string"),
        (b'{"name": "n"}', "missing field(s): kind, links"),
        (b'{"name": "n", "kind": "k", "links": [], "id": 4}', "unknown field(s): id"),
        (b'{"name": ["n"], "kind": "k", "links": []}', "name must be a string, got array"),
        (b'{"name": "  ", "kind": "k", "links": []}', "name must not be empty"),
        (b'{"name": "n", "kind": "k", "links": {"a": 1}}', "links must be a list"),
        (b'{"name": "n", "kind": "k", "links": [false]}', "links[0] must be an integer id"),
        (b'{"name": "n", "kind": "k", "links": [-5]}', "links[0] must be in"),
    ],
)
def test_bad_bodies(document: bytes, reason: str) -> None:
    with pytest.raises(BadRequestError) as raised:
        parse_new_entity(document)
    assert reason in str(raised.value)


def test_oversized_fields_are_refused() -> None:
    with pytest.raises(BadRequestError, match="longer than"):
        parse_new_entity(json.dumps({"name": "n" * 1001, "kind": "k", "links": []}).encode())
    with pytest.raises(BadRequestError, match="more than 1000"):
        parse_new_entity(json.dumps({"name": "n", "kind": "k", "links": [1] * 1001}).encode())

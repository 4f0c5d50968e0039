"""Attach evidence to the Allure result of the running test (kept as audit evidence).

Without `--alluredir` allure-pytest records nothing, so these calls are always safe.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import allure

from plugins.redaction import redact

KINDS = {
    ".png": allure.attachment_type.PNG,
    ".json": allure.attachment_type.JSON,
    ".csv": allure.attachment_type.CSV,
}


def attach_text(name: str, text: str) -> None:
    allure.attach(redact(text), name=name, attachment_type=allure.attachment_type.TEXT)


def attach_json(name: str, data: Any) -> None:
    allure.attach(
        redact(json.dumps(data, indent=2, sort_keys=True, default=str)),
        name=name,
        attachment_type=allure.attachment_type.JSON,
    )


def attach_file(name: str, path: Path) -> None:
    """A file as it is (text masked of secrets); PNG, JSON and CSV by extension, anything
    else as text."""
    kind = KINDS.get(path.suffix.lower(), allure.attachment_type.TEXT)
    body = path.read_bytes()
    if kind is not allure.attachment_type.PNG:
        body = redact(body.decode("utf-8", errors="replace")).encode()
    allure.attach(body, name=name, attachment_type=kind)

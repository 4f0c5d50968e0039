"""The JSON Schemas of the system description and of the target profile, generated from
the models that validate them.

    python -m system.schema            # writes docs/schema/{system,profile}.schema.json
                                       # and the key table docs/system-description-keys.md
    python -m system.schema --check    # exits 1 if either published file is stale

Editors (VS Code's Even Better TOML, taplo) validate a description against it as it is
written; the harness validates with the model itself, so the two cannot disagree.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from system.description import Description
from system.loader import REPO_ROOT
from system.profile_model import Profile

PUBLISHED = REPO_ROOT / "docs" / "schema" / "system.schema.json"
PROFILE_SCHEMA = REPO_ROOT / "docs" / "schema" / "profile.schema.json"


def description_schema() -> dict[str, Any]:
    schema = Description.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://reliability-harness.invalid/schema/system.schema.json"
    return schema


def render() -> str:
    return json.dumps(description_schema(), indent=2, sort_keys=True) + "\n"


def render_profile() -> str:
    schema = Profile.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://reliability-harness.invalid/schema/profile.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m system.schema", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the published file is stale")
    parser.add_argument("--out", type=Path, default=PUBLISHED)
    arguments = parser.parse_args(argv)
    published = {
        arguments.out: render(),
        PROFILE_SCHEMA: render_profile(),
        KEYS_TABLE: keys_table(),
    }
    if arguments.check:
        stale = [path for path, text in published.items() if _read(path) != text]
        for path in stale:
            print(f"{path} is stale: run python -m system.schema", file=sys.stderr)
        return 1 if stale else 0
    for path, text in published.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return 0


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


KEYS_TABLE = REPO_ROOT / "docs" / "system-description-keys.md"


def keys_table() -> str:
    """Every key of a description, its type, default and meaning, from the model."""
    lines = [
        "# System description: every key",
        "",
        "Generated from the model that validates descriptions (`system/description.py`) by",
        "`python -m system.schema`; `make lint` fails when it is stale. `<name>` is a key",
        "you choose (a workload's, a value's, a rule's).",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{key}` | {kind} | {default} | {meaning} |"
        for key, kind, default, meaning in _rows(Description, "")
    ]
    return "\n".join(lines) + "\n"


def _rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        inner, shape = _inner(field.annotation)
        meaning = (field.description or _first_line(inner) or "").replace("|", "\\|")
        default = "required" if field.is_required() else _shown(field.default)
        special = _special(field.annotation, field.metadata)
        if special is not None:
            rows.append((key, special, default, meaning))
        elif inner is not None:
            rows.append(
                (key + shape, "table" if shape != "[]" else "array of tables", default, meaning)
            )
            rows += _rows(inner, key + shape + ".")
        else:
            rows.append((key, _type_name(field.annotation), default, meaning))
    return rows


def _inner(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model inside a field (X, X | None, dict[str, X], tuple[X, ...]) and its shape."""
    origin = get_origin(annotation)
    arguments = [argument for argument in get_args(annotation) if argument is not type(None)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    if origin is dict and len(arguments) == 2:
        found, _ = _inner(arguments[1])
        return found, ".<name>"
    if origin is tuple and arguments:
        found, _ = _inner(arguments[0])
        return found, "[]"
    if origin in (Union, UnionType) and len(arguments) == 1:
        return _inner(arguments[0])
    return None, ""


def _special(annotation: Any, metadata: list[Any]) -> str | None:
    """Types written as text in a description: request lines, durations, rates."""
    text = f"{annotation} {metadata}"
    many = get_origin(annotation) is tuple or "tuple[" in str(annotation)
    if "RequestLine" in text:
        kind = 'request line ("GET /path")'
        return f"array of {kind}s" if many else kind
    if "parse_duration" in text:
        return 'duration ("900ms", "20m")'
    if "parse_rate" in text:
        return 'rate ("60/min", "100/s")'
    if "ge=100" in text:
        return "status or array of statuses" if many else "HTTP status"
    return None


def _first_line(model: type[BaseModel] | None) -> str:
    doc = (model.__doc__ or "") if model is not None else ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def _type_name(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "").replace("NoneType", "None")
    for noisy in ("Annotated[", ", BeforeValidator", ", WithJsonSchema", ", FieldInfo"):
        text = text.replace(noisy, "[" if noisy == "Annotated[" else noisy)
    if "parse_duration" in text:
        return 'duration ("900ms", "20m")' + (" or none" if "None" in text else "")
    if "parse_rate" in text:
        return 'rate ("60/min", "100/s")' + (" or none" if "None" in text else "")
    return (
        text.replace("<class '", "").replace("'>", "").replace("|", "or")
        if len(text) < 60
        else "see the schema"
    )


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, BaseModel):
        return "(its defaults)"
    if value in ((), {}):
        return "empty"
    return f"`{value!r}`".replace("|", "\\|")


if __name__ == "__main__":
    sys.exit(main())

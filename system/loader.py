"""Read a system description: find it, apply overrides, validate, or one line of error.

A description is chosen by one setting (`--system`, `RELIABILITY_SYSTEM`, the profile's
`[target] system`): the name of a folder of `scenarios/` ("quotes"), a folder holding a
`system.toml`, or the TOML file itself. Overrides (`--set workloads.quotes.duration=30s`)
change one key of the document before it is validated, so an override is checked like
the file: a test shortens a 20-minute workload without a second copy of it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from fixtures.errors import HarnessError
from system.description import Description

REPO_ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = REPO_ROOT / "scenarios"
FILE_NAME = "system.toml"
DEFAULT_SYSTEM = "intelgraph"  # the reference target's description (design section 4)


class DescriptionError(HarnessError):
    """A system description that cannot be used: the message is one line (file, key, fix)."""


@dataclass(frozen=True)
class System:
    """A validated description and where it came from."""

    description: Description
    source: Path
    overrides: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.description.name

    @property
    def folder(self) -> Path:
        return self.source.parent

    def describe(self) -> str:
        return f"{self.name} ({self.source})"


def description_path(reference: str, relative_to: Path | None = None) -> Path:
    """The TOML file a `--system` value names; `DescriptionError` if there is none."""
    if not reference.strip():
        raise DescriptionError(
            "system description '' is empty: give a name under scenarios/, a folder or a file"
        )
    candidates = [Path(reference)]
    if relative_to is not None and not Path(reference).is_absolute():
        candidates.insert(0, relative_to / reference)
    if "/" not in reference and not reference.endswith(".toml"):
        candidates.append(SCENARIOS / reference)
    for candidate in candidates:
        if candidate.is_dir() and (candidate / FILE_NAME).is_file():
            return candidate / FILE_NAME
        if candidate.is_file():
            return candidate
    known = ", ".join(sorted(path.parent.name for path in SCENARIOS.glob(f"*/{FILE_NAME}")))
    raise DescriptionError(
        f"system description {reference!r} does not exist: give a name under scenarios/ "
        f"({known}), a folder with a {FILE_NAME}, or the file"
    )


def load_system(
    reference: str = DEFAULT_SYSTEM,
    overrides: Sequence[str] = (),
    relative_to: Path | None = None,
) -> System:
    """The description `reference` names, with `overrides` ("key.path=value") applied."""
    path = description_path(reference, relative_to)
    document = _read(path)
    for override in overrides:
        apply_override(document, override, path)
    try:
        description = Description.model_validate(document, context={"base": path.parent})
    except ValidationError as error:
        raise DescriptionError(f"system description {path}: {first_problem(error)}") from None
    return System(description, path.resolve(), tuple(overrides))


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise DescriptionError(
            f"system description {path} is not UTF-8 text (byte {error.start}): save it as UTF-8"
        ) from None
    except OSError as error:
        raise DescriptionError(
            f"system description {path} cannot be read: {error.strerror}"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise DescriptionError(f"system description {path} is not valid TOML: {error}") from None


def apply_override(document: dict[str, Any], override: str, path: Path) -> None:
    """Set one key ("workloads.quotes.duration=30s"); its parent tables must exist."""
    key, equals, raw = override.partition("=")
    parts = key.strip().split(".")
    if not equals or not all(parts):
        raise DescriptionError(
            f"override {override!r} for {path}: expected KEY=VALUE, e.g. "
            "workloads.quotes.duration=30s"
        )
    table: Any = document
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(table, dict) or part not in table:
            where = ".".join(parts[: depth + 1])
            known = ", ".join(sorted(table)) if isinstance(table, dict) else "none"
            raise DescriptionError(
                f"override {override!r}: {path} has no key '{where}' (there: {known})"
            )
        table = table[part]
    if not isinstance(table, dict):
        raise DescriptionError(f"override {override!r}: '{'.'.join(parts[:-1])}' is not a table")
    table[parts[-1]] = _value(raw.strip())


def _value(raw: str) -> Any:
    """A TOML value if it is one (30, true, "x", [1, 2]); else the text as a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def first_problem(error: ValidationError) -> str:
    """One line for the first problem: "key 'a.b' <what was expected>"."""
    problem = error.errors(include_url=False)[0]
    location = tuple(problem["loc"])
    key = _key(location)
    kind, message = problem["type"], str(problem["msg"])
    if kind == "extra_forbidden":
        known = known_keys(Description, location[:-1])
        expected = f" (expected one of: {', '.join(known)})" if known else ""
        return f"key '{key}' is unknown{expected}"
    if kind == "missing":
        return f"key '{key}' is required"
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "literal_error" or message.startswith("Input should be"):
        message = "must be " + message.removeprefix("Input should be ")
    got = problem.get("input")
    shown = (
        ""
        if isinstance(got, dict | list) or "got " in message or str(got) in message
        else f" (got {got!r})"
    )
    if not key:
        return f"{message}{shown}"
    separator = ": " if message.startswith(("'", "{")) else " "
    return f"key '{key}'{separator}{message[0].lower()}{message[1:]}{shown}"


def _key(location: Iterable[Any]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union", "literal[")):
            continue  # pydantic's own steps inside a union
        else:
            text += f".{part}" if text else str(part)
    return text


def known_keys(model: type[BaseModel], location: Sequence[Any]) -> list[str]:
    """The keys the table at `location` may have (by following the model's fields)."""
    annotation: Any = model
    for part in location:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    found = _model_in(annotation)
    if found is None or _is_mapping(annotation):
        return []
    return sorted(field.alias or name for name, field in found.model_fields.items())


def _step(annotation: Any, part: Any) -> Any:
    """The annotation one key (or index) below `annotation`, or None."""
    for candidate in _alternatives(annotation):
        origin = get_origin(candidate)
        arguments = get_args(candidate)
        if origin in (dict, Mapping) and len(arguments) == 2:
            return arguments[1]
        if origin in (tuple, list) and arguments and isinstance(part, int):
            return arguments[0]
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            for name, field in candidate.model_fields.items():
                if part in (name, field.alias):
                    return field.annotation
    return None


def _alternatives(annotation: Any) -> list[Any]:
    """The members of a union (Annotated unwrapped), else the annotation itself."""
    if get_origin(annotation) is Annotated:
        return _alternatives(get_args(annotation)[0])
    if get_origin(annotation) in (UnionType, Union):
        return [member for argument in get_args(annotation) for member in _alternatives(argument)]
    return [annotation]


def _is_mapping(annotation: Any) -> bool:
    return any(get_origin(member) in (dict, Mapping) for member in _alternatives(annotation))


def _model_in(annotation: Any) -> type[BaseModel] | None:
    for member in _alternatives(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def as_mapping(system: System) -> Mapping[str, Any]:
    """The validated description as plain data (what the evidence shows)."""
    return system.description.model_dump(mode="json", by_alias=True)


def check_secrets(system: System, environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The values of the `${NAME}` secrets the description's requests take from the
    environment (for redaction); `DescriptionError` naming the first one not set."""
    env = os.environ if environ is None else environ
    values = set()
    for name in sorted(system.description.secrets_needed()):
        if name not in env:
            raise DescriptionError(
                f"system description {system.source} needs environment variable {name} "
                "(a request's ${" + name + "}), which is not set: export it"
            )
        if env[name]:
            values.add(env[name])
    return frozenset(values)

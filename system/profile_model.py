"""The target profile's model (design section 5): what `fixtures.profile` validates a
profile against before it reads it, and what its JSON Schema is generated from.

The model checks the shape: tables, keys, types, positive bounds. What needs more than a
shape (a secret from the environment, a DSN that must parse, a file a key names, a DR
tool's own keys) stays with the reader (`fixtures/profile.py`), which only ever sees a
document this model accepted. Strict: TOML's types are exact, so "yes" is no bool.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Positive = float


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class Target(_Strict):
    name: str = Field(description="the environment's name, shown in reports")
    destructive: bool = Field(False, description="destructive tests may run here")
    allow_remote_load: bool = Field(False, description="load may leave loopback")
    system: str | None = Field(
        None, description="the system description it runs (relative to the profile)"
    )


class ProfileSlo(_Strict):
    """Bounds of this environment: each key given replaces the description's."""

    p95_seconds: float | None = Field(None, gt=0)
    error_rate: float | None = Field(None, gt=0)
    rpo_seconds: float | None = Field(None, gt=0)
    rto_seconds: float | None = Field(None, gt=0)


class Api(_Strict):
    url: str = Field(description="the target's base URL")
    entity_ids: str | None = Field(None, description="ids that exist there, e.g. '1-500'")
    entity_ids_file: str | None = Field(None, description="the same, one id per line")


class Postgres(_Strict):
    dsn: str
    password: str | None = None


class Neo4j(_Strict):
    uri: str
    user: str | None = None
    password: str | None = None


class Redis(_Strict):
    url: str
    password: str | None = None


class Url(_Strict):
    url: str


class Toxiproxy(_Strict):
    url: str
    proxies: dict[str, str] = Field({}, description="dependency -> the proxy carrying it")


class S3(_Strict):
    endpoint_url: str
    bucket: str
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str | None = None


class Services(_Strict):
    """Where each service is; a service left out skips the tests that need it."""

    api: Api | None = None
    postgres: Postgres | None = None
    neo4j: Neo4j | None = None
    redis: Redis | None = None
    prometheus: Url | None = None
    alertmanager: Url | None = None
    pushgateway: Url | None = None
    toxiproxy: Toxiproxy | None = None
    s3: S3 | None = None


class ChaosAllow(_Strict):
    allow: list[str] = Field([], description="fault kinds chaos experiments may inject here")


class AlertsInduce(_Strict):
    induce: list[str] = Field([], description="rules the harness may induce by pushing")


class DrArchive(_Strict):
    tool: str = Field(description='"barman-cloud" or "pgbackrest"')
    bucket: str
    prefix: str = ""
    server: str = "primary"
    stanza: str = ""
    tables: list[str] = []
    write_markers: bool = False


class Profile(_Strict):
    """A target profile: where the suites run, and what that environment allows."""

    target: Target
    slo: ProfileSlo = ProfileSlo()
    services: Services = Services()
    chaos: ChaosAllow = ChaosAllow()
    alerts: AlertsInduce = AlertsInduce()
    dr: DrArchive | None = None


def profile_problem(document: dict[str, Any]) -> str | None:
    """The first thing wrong with a profile's shape, as "key 'a.b' <expected>"; or None."""
    try:
        Profile.model_validate(document)
    except ValidationError as error:
        problems = error.errors(include_url=False)
        # An unknown key explains a missing one (a typo): say it first.
        unknown = [problem for problem in problems if problem["type"] == "extra_forbidden"]
        return _sentence((unknown or problems)[0])
    return None


_EXPECTED = {
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "model_attributes_type": "must be a table",
    "bool_type": "must be a bool, got {got!r}",
    "string_type": "must be a string, got {kind}",
    "greater_than": "must be a positive number, got {got!r}",
    "float_type": "must be a positive number, got {got!r}",
    "int_type": "must be a positive number, got {got!r}",
    "float_parsing": "must be a positive number, got {got!r}",
    "list_type": "must be a list of strings, got {got!r}",
    "missing": "is required",
}


def _sentence(problem: Any) -> str:
    location = [str(part) for part in problem["loc"]]
    kind, got = problem["type"], problem.get("input")
    if location and location[-1].isdigit():
        where = ".".join(location[:-1])
        return f"key '{where}' must be a list of strings, got an item {got!r}"
    key = ".".join(location)
    if kind == "extra_forbidden":
        return f"key '{key}' is unknown (expected one of: {', '.join(_known(location[:-1]))})"
    if (kind, location) == ("missing", ["target"]):
        return "key 'target' is required: a [target] table with at least name"
    template = _EXPECTED.get(kind)
    if template is None:
        return f"key '{key}': {problem['msg']}"
    return f"key '{key}' " + template.format(got=got, kind=type(got).__name__)


def _known(location: list[str]) -> list[str]:
    model: Any = Profile
    for part in location:
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        annotation = field.annotation if field is not None else None
        model = next(
            (
                argument
                for argument in (annotation, *getattr(annotation, "__args__", ()))
                if isinstance(argument, type) and issubclass(argument, BaseModel)
            ),
            None,
        )
        if model is None:
            return []
    return sorted(model.model_fields)

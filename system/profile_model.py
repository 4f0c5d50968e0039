"""The target profile's model (design section 5): what `fixtures.profile` validates a
profile against before it reads it, and what its JSON Schema is generated from.

The model checks the shape: tables, keys, types, positive bounds, each service's URL
(scheme, host, a port in 1-65535) and the fault kinds `[chaos] allow` names. What needs
more than a shape (a secret from the environment, a DSN that must parse, a file a key
names, a DR tool's own keys) stays with the reader (`fixtures/profile.py`), which only
ever sees a document this model accepted. Strict: TOML's types are exact, so "yes" is no
bool. Every command that takes a profile (pytest, `python -m drill`, `python -m chaos`)
reads it through the same reader (`plugins.settings.check_target`); `url_problem` and
`shown_url` also check and show the URLs the commands take as flags.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

Positive = float
# The fault kinds (design section 5): what a profile's `[chaos] allow` may name and an
# experiment's `fault` may be (chaos.experiments reads them from here).
FAULT_KINDS = (
    "latency", "partition", "kill", "pause", "disk", "cpu", "memory", "clock", "s3",
)  # fmt: skip
HTTP = ("http", "https")
NEO4J = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def shown_url(url: str) -> str:
    """The URL with whatever precedes "@" in its authority (user, password, token) masked:
    what a message may quote."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url if "@" not in url else "***@" + url.rpartition("@")[2]
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}://{authority}{slash}{path}"


def url_problem(url: str, schemes: Collection[str], example: str) -> str | None:
    """What is wrong with `url` as the address of a service: its scheme (one of `schemes`),
    its host, its port (1-65535); None when nothing is. The message never quotes the URL
    (it may hold a password). A part given as `${NAME}` is checked once it is substituted,
    by the service's own reader."""
    scheme, separator, rest = url.partition("://")
    wanted = " or ".join(f"{name}://" for name in schemes)
    fix = f"give a URL with scheme {wanted}, like {example}"
    if "${" in scheme:
        return None
    if not separator:
        return f"is not a URL (no scheme); {fix}"
    if scheme.lower() not in schemes:
        return f"has scheme {scheme!r}; {fix}"
    return _authority_problem(url, rest, fix)


def _authority_problem(url: str, rest: str, fix: str) -> str | None:
    """The host and the port of a URL whose scheme is right."""
    hostinfo = rest.partition("/")[0].partition("?")[0].partition("#")[0].rpartition("@")[2]
    port = hostinfo.rpartition("]")[2].partition(":")[2]  # after an IPv6 address's "]"
    problem = None
    if "${" in hostinfo:
        problem = None
    elif not urlsplit(url).hostname:
        problem = f"has no host; {fix}"
    elif port and not port.isdigit():
        problem = f"has port {port!r}, not a number; give the port the service listens on"
    elif port and not 1 <= int(port) <= 65535:
        problem = f"has port {int(port)}, outside 1-65535; give the port the service listens on"
    return problem


def _url(schemes: Collection[str], example: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        problem = url_problem(value, schemes, example)
        if problem is not None:
            raise ValueError(problem)
        return value

    return check


def _dsn(value: str) -> str:
    """A libpq DSN: its URL form is checked like a URL, but may name no host (a socket) or
    several ("h1:5432,h2:5432": only its scheme is checked); key=value pairs by the reader."""
    scheme, separator, rest = value.partition("://")
    if not separator:
        return value
    checked = f"{scheme}://localhost/" if "," in rest.partition("/")[0] else value
    problem = url_problem(checked, ("postgresql", "postgres"), "postgresql://app@db:5432/app")
    if problem is not None and not problem.startswith("has no host"):
        raise ValueError(problem)
    return value


HttpUrl = Annotated[str, AfterValidator(_url(HTTP, "https://api.example:8443"))]


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
    url: HttpUrl = Field(description="the target's base URL")
    entity_ids: str | None = Field(None, description="ids that exist there, e.g. '1-500'")
    entity_ids_file: str | None = Field(None, description="the same, one id per line")


class Postgres(_Strict):
    dsn: Annotated[str, AfterValidator(_dsn)]
    password: str | None = None
    standby_dsn: Annotated[str, AfterValidator(_dsn)] | None = Field(
        None,
        description="its streaming standby (same role and password): the failover rehearsal "
        "samples its lag",
    )


class Neo4j(_Strict):
    uri: Annotated[str, AfterValidator(_url(NEO4J, "bolt://graph.example:7687"))]
    user: str | None = None
    password: str | None = None


class Redis(_Strict):
    url: Annotated[str, AfterValidator(_url(("redis", "rediss"), "redis://cache.example:6379/0"))]
    password: str | None = None


class Url(_Strict):
    url: HttpUrl


class Toxiproxy(_Strict):
    url: Annotated[str, AfterValidator(_url(("http",), "http://toxiproxy.example:8474"))]
    proxies: dict[str, str] = Field({}, description="dependency -> the proxy carrying it")


class S3(_Strict):
    endpoint_url: HttpUrl
    bucket: str
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str | None = None
    ca_file: str | None = Field(
        None,
        description="CA certificate (PEM) its certificate is verified against, relative "
        "to the profile; default: the system's CAs",
    )


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

    @field_validator("allow")
    @classmethod
    def _known_kinds(cls, allow: list[str]) -> list[str]:
        unknown = sorted(set(allow) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(
                f"names unknown fault kind(s) {', '.join(unknown)}; known: {', '.join(FAULT_KINDS)}"
            )
        return allow


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


class Buckets(_Strict):
    replicas: dict[str, str] = Field(
        {}, description="source bucket -> its DR replica, both on [services.s3]'s endpoint"
    )


class LoadGenerators(_Strict):
    """Where the load is generated: this machine's processes, or a master and workers."""

    workers: int | None = Field(
        None, ge=1, le=64, description="a Locust master and this many workers (load.distributed)"
    )
    master_bind: str | None = Field(
        None, description="HOST:PORT the master listens on (default: 127.0.0.1, a free port)"
    )
    start_workers: bool = Field(
        True, description="the harness starts the workers here; false: they join from elsewhere"
    )


class Hooks(_Strict):
    """The environment's own commands for what the harness cannot do to a target it did not
    start (argv, no shell; `${NAME}` from the environment); each only with `[target]
    destructive = true`. `stop_api` makes the target stop answering (e.g. `kubectl scale
    deploy/api --replicas=0`), `start_api` brings it back; both or neither: used where
    `[chaos] allow` has "kill" and `[alerts] induce` names a rule brought about that way
    (ServiceDown). `fail_primary` fails the primary database the target writes to and
    `restore_primary` makes the environment whole again (a primary and its standby, the
    target on the primary); both or neither: the failover rehearsal. `promote_standby`
    and `repoint` are its steps where the environment does not take them by itself."""

    stop_api: list[str] | None = Field(None, min_length=1, description="argv: the target stops")
    start_api: list[str] | None = Field(
        None, min_length=1, description="argv: the target answers again (also run if the run dies)"
    )
    fail_primary: list[str] | None = Field(
        None, min_length=1, description="argv: the primary database fails (failover rehearsal)"
    )
    restore_primary: list[str] | None = Field(
        None,
        min_length=1,
        description="argv: a primary and a standby again, the target on the primary (also run "
        "if the run dies)",
    )
    promote_standby: list[str] | None = Field(
        None,
        min_length=1,
        description="argv: the standby promoted (omit where the environment promotes it)",
    )
    repoint: list[str] | None = Field(
        None,
        min_length=1,
        description="argv: the target pointed at the new primary (omit where its route follows)",
    )


class Profile(_Strict):
    """A target profile: where the suites run, and what that environment allows."""

    target: Target
    slo: ProfileSlo = ProfileSlo()
    services: Services = Services()
    chaos: ChaosAllow = ChaosAllow()
    alerts: AlertsInduce = AlertsInduce()
    dr: DrArchive | None = None
    buckets: Buckets = Buckets()
    load: LoadGenerators = LoadGenerators()
    hooks: Hooks = Hooks()


def profile_problem(document: dict[str, Any]) -> str | None:
    """The first thing wrong with a profile's shape, as "key 'a.b' <expected>"; or None."""
    try:
        Profile.model_validate(document)
    except ValidationError as error:
        problems = error.errors(include_url=False)
        # An unknown key explains a missing one (a typo): say it first; then the shape
        # (a key missing, a wrong type), then what a value says (a URL, a fault kind).
        unknown = [problem for problem in problems if problem["type"] == "extra_forbidden"]
        shape = [problem for problem in problems if problem["type"] != "value_error"]
        return _sentence((unknown or shape or problems)[0])
    return None


_EXPECTED = {
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "model_attributes_type": "must be a table",
    "bool_type": "must be a bool, got {got!r}",
    "string_type": "must be a string, got {kind}",
    "greater_than": "must be a positive number, got {got!r}",
    "greater_than_equal": "must be at least {ge}, got {got!r}",
    "less_than_equal": "must be at most {le}, got {got!r}",
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
    if kind == "value_error":  # the model's own checks: their message says what to do
        return f"key '{key}' " + str(problem["msg"]).removeprefix("Value error, ")
    template = _EXPECTED.get(kind)
    if template is None:
        return f"key '{key}': {problem['msg']}"
    limits = problem.get("ctx", {})
    return f"key '{key}' " + template.format(got=got, kind=type(got).__name__, **limits)


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

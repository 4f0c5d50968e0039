"""The system description's model: one pydantic model validates a description, gives its
JSON Schema (`python -m system.schema`) and holds its defaults.

A description is TOML (`scenarios/<system>/system.toml`); the reference target's is the
default. `system.loader` reads one, applies overrides and turns a validation error into
one line naming the file, the key and what was expected. Units are in the value
(`"900ms"`, `"20m"`, `"60/min"`); relative paths are taken from the description's folder.
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from system.criteria import is_criterion
from system.units import parse_duration, parse_rate

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
GATES = ("pr_gate", "drill")
PLACES = ("pr_gate", "drill", "staging")
# Services the harness can start for a system on the local default (fixtures/providers).
LOCAL_SERVICES = ("postgres", "neo4j", "redis")
# What a local command or environment value may name besides its services' endpoints.
LOCAL_PLACEHOLDERS = frozenset({"python", "host", "port", "records", "workdir"})
SERVICE_FIELDS: Mapping[str, frozenset[str]] = {
    "postgres": frozenset({"dsn", "host", "port", "user", "password", "dbname"}),
    "neo4j": frozenset({"uri", "host", "port", "user", "password"}),
    "redis": frozenset({"url", "host", "port"}),
}
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
# What a workload's `like` takes from another: what it sends and what succeeds.
TRAFFIC_KEYS = ("locustfile", "requests", "success", "follow_redirects", "content_type", "headers")
_USER_BASES = frozenset({"User", "HttpUser", "FastHttpUser", "PacedUser"})


def _duration_schema(example: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$", "examples": [example]}
    )


Duration = Annotated[float, BeforeValidator(parse_duration), _duration_schema("30s")]
Rate = Annotated[
    float,
    BeforeValidator(parse_rate),
    WithJsonSchema(
        {"type": "string", "pattern": r"^\d+(\.\d+)?/(s|sec|second|m|min|minute|h|hour)$",
         "examples": ["60/min", "100/s"]}
    ),
]  # fmt: skip
Ratio = Annotated[float, Field(gt=0, lt=1)]
Statuses = Annotated[
    tuple[Annotated[int, Field(ge=100, le=599)], ...],
    BeforeValidator(lambda value: (value,) if isinstance(value, int) else value),
]


def placeholders(template: str) -> set[str]:
    """The `{name}` fields of a template (`{{` escapes a brace); `ValueError` if malformed."""
    try:
        return {field for _, field, _, _ in string.Formatter().parse(template) if field}
    except ValueError as error:
        raise ValueError(f"template {template!r} is malformed: {error}") from None


def env_references(text: str) -> set[str]:
    """The `${NAME}` environment variables a value takes a secret from."""
    return set(_ENV.findall(text))


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a JSON-like value (keys excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RequestLine(_Strict):
    """`"GET /path"`: a method and a path (with `{value}` placeholders where allowed)."""

    method: str
    path: str

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            method, _, path = value.strip().partition(" ")
            if method.upper() not in METHODS or not path.strip().startswith("/"):
                raise ValueError(
                    f"must be a request line like 'GET /path' (method one of "
                    f"{', '.join(METHODS)}), got {value!r}"
                )
            return {"method": method.upper(), "path": path.strip()}
        return value

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


Request = Annotated[
    RequestLine, WithJsonSchema({"type": "string", "examples": ["GET /entities/{entity}"]})
]


def _path(value: str, info: ValidationInfo, *, directory: bool = False) -> str:
    """`value` from the description's folder, which must exist (file or directory)."""
    base = Path((info.context or {}).get("base", "."))
    path = (base / value).resolve()
    if directory and not path.is_dir():
        raise ValueError(f"names {path}, which is not a directory")
    if not directory and not path.is_file():
        raise ValueError(f"names {path}, which is not a file")
    return str(path)


class Health(_Strict):
    """The health check: the status that means healthy and, optionally, where the JSON body
    names each dependency's state. Without `dependencies`, claims about one dependency
    (chaos: "the health check names the failing dependency") are skipped, saying why."""

    path: str = Field("/healthz", description="the health check's path")
    status: int = Field(200, ge=100, le=599, description="the status that means healthy")
    dependencies: str | None = Field(
        None, description="dotted key of the JSON object naming each dependency's state"
    )
    ok: str = Field("ok", description="the state that means a dependency is fine")
    names: tuple[str, ...] = Field((), description="dependencies the body must name")
    timeout: Duration = Field(3.0, description="an answer slower than this is no answer")

    @field_validator("path")
    @classmethod
    def _slash(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"must be a path starting with '/', got {value!r}")
        return value


class Smoke(_Strict):
    """A post-deployment smoke check: one request and the answer it must get."""

    request: Request = Field(description="what is sent")
    name: str = Field("", description="the check's name in reports (default: the request)")
    body: Any = Field(None, alias="json", description="JSON body sent")
    headers: dict[str, str] = {}
    status: Statuses = (200,)
    json_keys: tuple[str, ...] = Field((), description="keys a 2xx JSON body must have")
    contains: tuple[str, ...] = Field((), description="strings the body must contain")

    @property
    def label(self) -> str:
        return self.name or str(self.request)


ValueKind = Literal["ids", "ids_file", "range", "choice", "sample", "unique"]


class Value(_Strict):
    """A named value generator for request templates (`{name}`): exactly one kind."""

    ids: str | None = Field(None, description="ids such as '1-10000' or '1-500,900-950,7'")
    ids_file: str | None = Field(None, description="ids, one per line (relative path)")
    range: tuple[int, int] | None = Field(None, description="an integer in [low, high]")
    choice: tuple[Any, ...] | None = Field(None, description="one of these values")
    sample: str | None = Field(None, description="`count` distinct ids of this ids value")
    count: int | None = Field(None, ge=1)
    unique: str | None = Field(None, description="a unique string: this prefix + 12 hex")
    profile: Literal["entity_ids"] | None = Field(
        None,
        description="the profile's [services.api] entity_ids (or entity_ids_file) replaces "
        "these ids in that environment",
    )
    check: Request | None = Field(
        None, description="sampled before a load run: most values must answer success"
    )

    @field_validator("ids_file")
    @classmethod
    def _file(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _path(value, info)

    @field_validator("ids")
    @classmethod
    def _ids(cls, value: str | None) -> str | None:
        if value is not None:
            _check_ids(value)
        return value

    @field_validator("range")
    @classmethod
    def _range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError(f"must be [low, high] with low <= high, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Value:
        kinds = [kind for kind in get_args(ValueKind) if getattr(self, kind) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"must have exactly one of {', '.join(get_args(ValueKind))}; got "
                f"{', '.join(kinds) or 'none'}"
            )
        if (self.count is None) != (self.sample is None):
            raise ValueError("'count' goes with 'sample' (how many distinct ids), and only there")
        if (self.profile or self.check) and self.kind not in ("ids", "ids_file"):
            raise ValueError("'profile' and 'check' go with 'ids' or 'ids_file' only")
        return self

    @property
    def kind(self) -> ValueKind:
        return next(kind for kind in get_args(ValueKind) if getattr(self, kind) is not None)


def _check_ids(spec: str) -> None:
    for part in spec.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()) or (high and int(high) < int(low)):
            raise ValueError(f"must be ids like '1-10000' or '1-500,900-950,7', got {spec!r}")


class MixRequest(_Strict):
    """One request of a declarative mix; `{value}` placeholders anywhere in it."""

    request: Request = Field(description="method and path template, e.g. 'GET /items/{item}'")
    name: str | None = Field(None, description="route name (default: the path template)")
    weight: int = Field(1, ge=1, description="its share of the mix")
    body: Any = Field(None, alias="json", description="JSON body template")
    headers: dict[str, str] = {}
    json_keys: tuple[str, ...] = Field((), description="keys a successful JSON answer has")

    @property
    def route(self) -> str:
        """The route this request is recorded under: `METHOD name`."""
        return f"{self.request.method} {self.name or self.request.path.split('?', 1)[0]}"

    def templates(self) -> Iterator[str]:
        yield self.request.path
        yield from self.headers.values()
        yield from strings_in(self.body)


class Bounds(_Strict):
    """Bounds on one workload or route. Latency percentiles from the intended send time."""

    p50: Duration | None = None
    p95: Duration | None = None
    p99: Duration | None = None
    error_rate: Ratio | None = Field(None, description="errors must stay below this share")
    availability: Ratio | None = Field(None, description="successes must stay above this share")
    throughput: Literal["baseline"] | Rate | None = Field(
        None,
        description="successful answers per second at least this rate, or 'baseline': the "
        "median of the earlier runs' (the planned rate when there are none)",
    )
    throughput_tolerance: Ratio = Field(
        0.1, description="how far below the baseline the throughput may fall (noise)"
    )

    @field_validator("throughput", mode="before")
    @classmethod
    def _throughput(cls, value: Any) -> Any:
        return value if value == "baseline" or value is None else parse_rate(value)

    def latency(self) -> dict[float, float]:
        """Percentile -> bound in seconds, for the percentiles bounded here."""
        found = {50.0: self.p50, 95.0: self.p95, 99.0: self.p99}
        return {percentile: bound for percentile, bound in found.items() if bound is not None}


class Workload(_Strict):
    """A load workload: its traffic (a Locust file, or a declarative mix), how much of it,
    for how long, in which runs, and the bounds it must meet."""

    locustfile: str | None = Field(
        None, description="a Locust file (relative path) with one or more user classes"
    )
    requests: tuple[MixRequest, ...] = Field((), description="a declarative request mix")
    rate: Rate = Field(description="the open model's arrival rate")
    duration: Duration = Field(description="how long it runs (the cap, with looks)")
    gates: tuple[Literal["pr_gate", "drill"], ...] = Field(
        (), description="runs that gate this workload"
    )
    first_look: Duration | None = Field(
        None, description="judge first after this long, then every look_every (sequential)"
    )
    look_every: Duration | None = None
    processes: int = Field(1, ge=1, description="load processes sharing the rate and VUs")
    max_in_flight: int | None = Field(
        None, ge=1, description="the VU pool (default: rate x bound x 4, Little's law)"
    )
    success: Statuses | None = Field(None, description="statuses that succeed (default: 2xx)")
    follow_redirects: bool = Field(False, description="a redirect followed counts as its answer")
    content_type: str | None = Field(
        None, description="e.g. 'application/json': an answer of another type is an error"
    )
    headers: dict[str, str] = Field({}, description="sent with every request; ${ENV} allowed")
    bounds: Bounds = Field(Bounds(), description="default: the description's [slo]")
    routes: dict[str, Bounds] = Field({}, description="bounds per route name")
    seed: int = Field(0, description="of its random values (default: its position)")

    @field_validator("locustfile")
    @classmethod
    def _locustfile(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        path = _path(value, info)
        _check_user_class(Path(path))
        return path

    @model_validator(mode="after")
    def _traffic(self) -> Workload:
        if (self.locustfile is None) == (not self.requests):
            raise ValueError("needs exactly one of 'locustfile' or 'requests' (its traffic)")
        if self.look_every is not None and self.first_look is None:
            raise ValueError("'look_every' needs 'first_look'")
        if self.first_look is not None and self.first_look > self.duration:
            raise ValueError(
                f"'first_look' ({self.first_look:g} s) is beyond 'duration' ({self.duration:g} s)"
            )
        return self

    def templates(self) -> Iterator[str]:
        for request in self.requests:
            yield from request.templates()

    @property
    def route_names(self) -> tuple[str, ...]:
        """The routes a declarative mix records (unknown for a Locust file: ())."""
        return tuple(dict.fromkeys(request.route for request in self.requests))


def _check_user_class(path: Path) -> None:
    """A Locust file must define a user class; read without importing it (importing Locust
    patches the process for gevent)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError) as error:
        raise ValueError(f"names {path}, which is not valid Python: {error}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases}
            if bases & _USER_BASES:
                return
    raise ValueError(
        f"names {path}, which defines no Locust user class (a class deriving from HttpUser, "
        "FastHttpUser or User)"
    )


class Capacity(_Strict):
    """The capacity search (drill): the rate rises by `factor` a step until a bound breaks."""

    workload: str
    start: Rate = 25.0
    factor: float = Field(1.5, gt=1)
    step: Duration = 20.0
    max: Rate = 2000.0
    required: Rate | None = Field(
        None,
        description="the rate it must hold within the bounds (e.g. one replica's share of "
        "production's peak); none: at least `start`",
    )
    gates: tuple[Literal["pr_gate", "drill"], ...] = ("drill",)


class WritePath(_Strict):
    """How to create a record and read it back: the lost-write ledger (chaos), the alert
    suites' own records, the DR recovery probe."""

    create: Request
    body: Any = Field(
        None,
        alias="json",
        description="JSON body template; {name} is a unique name the ledger reads back",
    )
    id: str = Field("id", description="the key of the created record's id in the answer")
    created: Statuses = (201,)
    read: Request = Field(description="{id}: the created record's id")
    compare: tuple[str, ...] = Field((), description="keys that must read back as written")

    @model_validator(mode="after")
    def _placeholders(self) -> WritePath:
        if "id" not in placeholders(self.read.path):
            raise ValueError(f"'read' must name the record as {{id}}, got {str(self.read)!r}")
        allowed = {"name", "link"}
        for text in strings_in(self.body):
            unknown = placeholders(text) - allowed
            if unknown:
                raise ValueError(
                    f"'json' names {{{sorted(unknown)[0]}}}; a write body may name "
                    "{name} (unique per write) and {link} (an existing record's id)"
                )
        return self


class PartHistogram(_Strict):
    """A histogram of one part of a request (a database query): never above the client."""

    name: str
    selector: str = ""


class Metrics(_Strict):
    """The target's own metrics, for the client-versus-server cross-check."""

    http_histogram: str = Field(description="request duration histogram (no _bucket suffix)")
    route_label: str = "route"
    selector: str = Field("", description="extra matchers, e.g. 'job=\"api\"'")
    exclude_routes: tuple[str, ...] = Field((), description="routes the load does not send")
    parts: tuple[PartHistogram, ...] = ()
    requests_counter: str | None = Field(None, description="request counter (for evidence)")


class Chaos(_Strict):
    """The system's Chaos Toolkit experiments and the dependencies they name."""

    experiments: str = Field("chaos", description="directory of experiment JSON files")
    dependencies: tuple[str, ...] = Field(
        (), description="dependencies whose traffic passes through a Toxiproxy proxy"
    )
    load: str | None = Field(None, description="the workload the harness's load uses")

    @field_validator("experiments")
    @classmethod
    def _directory(cls, value: str, info: ValidationInfo) -> str:
        return _path(value, info, directory=True)


class Push(_Strict):
    """A gauge pushed to the Pushgateway: its name, value and labels. A value may be a
    time: "now", or "now-36d" (36 days ago)."""

    metric: str
    value: float | str
    labels: dict[str, str] = {}

    @field_validator("value")
    @classmethod
    def _time(cls, value: float | str) -> float | str:
        if isinstance(value, str) and value != "now":
            ago = value.removeprefix("now-")
            if ago == value:
                raise ValueError(f"must be a number, 'now' or 'now-<duration>', got {value!r}")
            parse_duration(ago)
        return value

    def resolve(self, now: float) -> float:
        """The number to push, at wall-clock time `now`."""
        if isinstance(self.value, str):
            return now if self.value == "now" else now - parse_duration(self.value[4:])
        return float(self.value)


class ProfileFault(_Strict):
    """How a rule's condition is brought about against a profile, where the harness starts
    nothing: a fault on one dependency through the profile's Toxiproxy while `traffic` is
    sent, or (kind `kill`) the target itself stopped by the environment's own hook (the
    profile's `[hooks] stop_api`, undone by its `start_api`). Allowed only where the
    profile's `[alerts] induce` names the rule and its `[chaos] allow` the fault's kind."""

    dependency: str | None = Field(
        None, description="the dependency faulted: one of [chaos] dependencies (not for kill)"
    )
    kind: Literal["partition", "latency", "kill"] = Field(
        description="partition: its proxy down (connections refused); latency: slower; "
        "kill: the target stopped by the profile's [hooks] stop_api, then started again"
    )
    latency: Duration | None = Field(None, description="added to every answer (kind latency)")
    traffic: tuple[Request, ...] = Field(
        (), description="requests sent meanwhile (at least one, but for kill)"
    )
    clients: int = Field(4, ge=1, le=32)
    detection: Duration = Field(
        0.0, description="what the series need to show it (e.g. 1 % of a 5 m window: 3 s)"
    )

    @model_validator(mode="after")
    def _shape(self) -> ProfileFault:
        if (self.kind == "latency") != (self.latency is not None):
            raise ValueError('needs `latency` exactly when kind = "latency"')
        if self.kind == "kill":
            if self.dependency is not None:
                raise ValueError('kind = "kill" stops the target itself: remove `dependency`')
        elif self.dependency is None or not self.traffic:
            raise ValueError(f'kind = "{self.kind}" needs `dependency` and `traffic`')
        return self

    def describe(self) -> str:
        """What the fault is, for messages and criterion scopes."""
        if self.kind == "kill":
            return "the target stopped by the profile's [hooks] stop_api"
        return f"a {self.kind} of {self.dependency}"


class Inducement(_Strict):
    """How one alert rule's condition is brought about, end to end."""

    fault: str | None = Field(None, description="a [local.faults] fault the target starts with")
    traffic: tuple[Request, ...] = Field((), description="requests sent while it is induced")
    clients: int = Field(4, ge=1, le=32)
    kill: bool = Field(False, description="the target is killed (SIGKILL)")
    push: tuple[Push, ...] = Field((), description="results pushed to bring it about")
    resolve: tuple[Push, ...] = Field((), description="results pushed to end it")
    labels: dict[str, str] = Field({}, description="labels the alert must carry")
    detection: Duration | None = Field(None, description="what the series need to show it")
    warm: bool = True
    profile_fault: ProfileFault | None = Field(
        None, description="against a profile: a fault through its Toxiproxy, with traffic"
    )

    @model_validator(mode="after")
    def _one_way(self) -> Inducement:
        ways = [bool(self.fault or self.traffic), self.kill, bool(self.push)]
        if sum(ways) != 1:
            raise ValueError(
                "needs exactly one way to induce: a fault and/or traffic, kill = true, or push"
            )
        return self

    @property
    def needs_target(self) -> bool:
        return not self.push


class Inhibition(_Strict):
    """One inhibition the on-call relies on: while `source` fires, `target` of the same
    service is never notified; the same `target` from another service (`elsewhere`: the
    labels that differ) still is."""

    source: str = Field(description="the rule whose alert inhibits (e.g. a critical one)")
    target: str = Field(description="the rule whose alert it silences (e.g. a warning)")
    elsewhere: dict[str, str] = Field(
        min_length=1,
        description="labels that make `target` another service's alert, which must still "
        "be notified (catches an inhibit rule whose `equal` names a label the alerts lack)",
    )


class Routing(_Strict):
    """Who gets paged: the Alertmanager configuration the team deploys and, per value of
    one label of a rule (`by`, usually severity), the receivers its alerts must reach."""

    config: str = Field(description="the team's alertmanager.yml, from the description's folder")
    by: str = Field("severity", description="the rule label that decides the receivers")
    receivers: dict[str, tuple[str, ...]] = Field(
        min_length=1, description="`by` label value -> every receiver its alerts reach"
    )
    labels: dict[str, dict[str, str]] = Field(
        {},
        description="per rule, labels its alert carries beyond the rule's own and its "
        "inducement's (e.g. those its expression keeps: `job`)",
    )
    inhibit: tuple[Inhibition, ...] = Field((), description="inhibitions that must hold")

    @field_validator("config")
    @classmethod
    def _file(cls, value: str, info: ValidationInfo) -> str:
        return _path(value, info)


class SloBurst(_Strict):
    """The SLO's page proven end to end on the local default (`alerting/slo_e2e.py`): the
    SLO rules with every window and `for:` divided by `scale` (the test profile of SLO
    rules: its 30-day period becomes hours, its 1 h window seconds), a second instance of
    the target under the same scrape job started with `fault` (every answer an error), and
    `traffic` split between the two by count, so the error ratio is exactly the one sent:
    a near miss below the page's burn rate must not page, a burst above it must."""

    scale: float = Field(
        120.0,
        ge=1,
        description="every window of the SLO rules divided by this (120: 1 h -> 30 s)",
    )
    fault: str = Field(description="a [local.faults] fault that makes every answer an error")
    traffic: tuple[Request, ...] = Field(min_length=1, description="the requests sent")
    clients: int = Field(2, ge=1, le=16, description="concurrent clients sending them")


class SloAlerts(_Strict):
    """An SLO whose burn-rate alerts Sloth generates (github.com/slok/sloth), proven with
    promtool at the burn rates the math says (`alerting/slo.py`)."""

    spec: str = Field(description="Sloth's spec of the SLO (prometheus/v1, one SLO)")
    rules: str = Field(
        description="directory of its rules: Sloth's output as committed (the `*.rules.yml` "
        "saying 'Code generated by Sloth') and hand-written ones beside it"
    )
    windows: str | None = Field(
        None, description="Sloth's alert windows (--slo-period-windows-path); default: its own"
    )
    good: str = Field(
        description="a series the SLI counts as a success, e.g. "
        '\'http_requests_total{job="api",status="200"}\': the promtool tests\' traffic'
    )
    bad: str = Field(description="a series the SLI counts as an error (status 5xx)")
    burst: SloBurst | None = Field(
        None, description="the page proven end to end at scaled windows (local default)"
    )

    @field_validator("spec")
    @classmethod
    def _file(cls, value: str, info: ValidationInfo) -> str:
        return _path(value, info)

    @field_validator("rules")
    @classmethod
    def _directory(cls, value: str, info: ValidationInfo) -> str:
        return _path(value, info, directory=True)

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _path(value, info, directory=True)


class Alerts(_Strict):
    """The system's Prometheus rules, and how each rule's condition is induced."""

    rules: str = Field("alerts", description="directory of *.rules.yml (promtool tests in tests/)")
    job: str = Field("api", description="the scrape job of the target in the test Prometheus")
    induce: dict[str, Inducement] = {}
    healthy: tuple[Push, ...] = Field((), description="what a healthy system pushes")
    normal_traffic: tuple[Request, ...] = Field((), description="requests of normal load")
    routing: Routing | None = Field(None, description="the Alertmanager routes to prove")
    slo: SloAlerts | None = Field(
        None, description="the SLO behind burn-rate alerts Sloth generates"
    )

    @field_validator("rules")
    @classmethod
    def _directory(cls, value: str, info: ValidationInfo) -> str:
        return _path(value, info, directory=True)


class SchemaVersion(_Strict):
    query: str = Field(description="SQL whose one value is the schema version")
    expect: str = Field(description="the migration head a restore must have")


class Consistency(_Strict):
    """Postgres and Neo4j restored to one point must agree: the ids each query returns."""

    sql: str = Field(description="Postgres query whose first column is the records' ids")
    cypher: str = Field(description="Neo4j query returning the same records' ids as `id`")


class Standby(_Strict):
    """The database's streaming standby (a replica in a second region), failed over to."""

    synchronous: bool = Field(
        False,
        description="the standby is synchronous: a failover may lose no acknowledged write "
        "(`failover_writes_lost` is judged against 0); asynchronous: the writes lost are "
        "named and their window judged against `rpo`",
    )


class Replication(_Strict):
    """Buckets mirrored to a DR replica (a profile's `[buckets] replicas` names the pairs)."""

    prefixes: tuple[str, ...] = Field(
        (), description="the prefixes mirrored (none: the whole bucket)"
    )
    max_drift: float = Field(
        0.001, ge=0, lt=1, description="objects missing, changed or extra per source object"
    )
    max_lag: Duration = Field(
        86400.0, description="an object older than this must be in the replica"
    )


class Dr(_Strict):
    """What a restore of the system's database must hold."""

    tables: tuple[str, ...] = Field((), description="tables that must be there, with rows")
    schema_version: SchemaVersion | None = None
    consistency: Consistency | None = Field(
        None, description="the cross-store check of a restore of several stores"
    )
    production_size_gb: float | None = Field(
        None,
        gt=0,
        description="the production database's size in GB: the drill extrapolates the RTO "
        "it measures at 10 MB, 100 MB and 1 GB to it (a line per phase), against `rto`",
    )
    standby: Standby | None = Field(
        None, description="the standby the failover rehearsal promotes (none: not rehearsed)"
    )
    replication: Replication | None = Field(
        None, description="buckets mirrored to a DR replica, checked by manifest"
    )


class Publish(_Strict):
    """Names of the drill's results pushed to the Pushgateway (design section 6)."""

    rpo: str | None = Field(None, description="gauge of the measured RPO, by database")
    rto: str | None = Field(None, description="gauge of the measured RTO, by database")
    replication_lag: str | None = Field(
        None, description="gauge of the standby's replication lag before a failover, by database"
    )


class Requires(_Strict):
    """Criteria each kind of run must measure: one skipped there fails the run, named."""

    pr_gate: tuple[str, ...] = ()
    drill: tuple[str, ...] = ()
    staging: tuple[str, ...] = ()

    @field_validator("pr_gate", "drill", "staging")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if not is_criterion(name)]
        if unknown:
            raise ValueError(
                f"names unknown criterion {unknown[0]!r}; see docs/criteria.md for the list"
            )
        return value

    def of(self, place: str) -> tuple[str, ...]:
        return tuple(getattr(self, place))


class Seed(_Strict):
    command: tuple[str, ...] = Field(description="run with the target's environment")
    records: int = Field(10_000, ge=1, description="ids 1..records exist afterwards")


class WarmUp(_Strict):
    """Requests sent concurrently, in rounds, until the target answers them fast and their
    latency has stopped falling (a cold JVM, pools, caches)."""

    requests: tuple[Request, ...]
    fast: Duration = Field(0.1, description="a round's 90th percentile at most this")


class Fault(_Strict):
    """A named fault of the local target: extra environment it starts with."""

    environment: dict[str, str]
    warm_up: Literal["until_fast", "once", "none"] = "until_fast"


class Local(_Strict):
    """How the harness starts the system on the local default (the `local` profile)."""

    command: tuple[str, ...] = Field(description="{python} {host} {port} placeholders")
    outside_loopback: tuple[str, ...] = Field(
        (), description="arguments added when it runs in a network namespace of the harness"
    )
    services: tuple[Literal["postgres", "neo4j", "redis"], ...] = Field(
        (), description="started by the harness, each reached through a Toxiproxy proxy"
    )
    environment: dict[str, str] = Field({}, description="{postgres.dsn}, {redis.url}, ...")
    settings_prefix: str = Field(
        "", description="extra settings a test passes (faults, timeouts) must start with it"
    )
    seed: Seed | None = None
    warm_up: WarmUp | None = None
    faults: dict[str, Fault] = {}
    rehearsal_environment: dict[str, str] = Field(
        {},
        description="settings the staging rehearsal's target runs with, as the team's "
        "staging does (e.g. production's dependency timeouts); each starts with "
        "settings_prefix",
    )

    @model_validator(mode="after")
    def _placeholders(self) -> Local:
        known = set(LOCAL_PLACEHOLDERS)
        for service in self.services:
            known |= {f"{service}.{name}" for name in SERVICE_FIELDS[service]}
        texts = [*self.command, *self.environment.values()]
        texts += list(self.seed.command) if self.seed else []
        for text in texts:
            unknown = placeholders(text) - known
            if unknown:
                raise ValueError(
                    f"{text!r} names {{{sorted(unknown)[0]}}}; known here: "
                    + ", ".join(sorted(known))
                )
        settings = {f"fault {name!r}": fault.environment for name, fault in self.faults.items()}
        settings["rehearsal_environment"] = self.rehearsal_environment
        for where, environment in settings.items():
            wrong = [key for key in environment if not key.startswith(self.settings_prefix)]
            if wrong:
                raise ValueError(
                    f"{where} sets {wrong[0]}, which does not start with "
                    f"settings_prefix {self.settings_prefix!r}"
                )
        return self


class Slo(_Strict):
    """The default bounds of the system's workloads and DR; a profile's [slo] may tighten
    or loosen them for its environment."""

    p95: Duration = Field(1.5, description="P95 latency bound of a workload without bounds")
    error_rate: Ratio = Field(0.01, description="error-rate bound of a workload without bounds")
    rpo: Duration = Field(300.0, description="recovery point objective (measured by DR)")
    rto: Duration = Field(3600.0, description="recovery time objective (measured by DR)")


class Description(_Strict):
    """What must hold for one system (design section 9)."""

    version: Literal[1] = Field(description="the format's version")
    name: str = Field(description="the system's name, used in reports")
    title: str = Field("", description="one line about the system")
    slo: Slo = Slo()
    health: Health = Health()
    smoke: tuple[Smoke, ...] = ()
    values: dict[str, Value] = {}
    workloads: dict[str, Workload] = {}
    capacity: Capacity | None = None
    write_path: WritePath | None = None
    metrics: Metrics | None = None
    chaos: Chaos | None = None
    alerts: Alerts | None = None
    dr: Dr = Dr()
    publish: Publish = Publish()
    requires: Requires = Requires()
    local: Local | None = None

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, document: Any) -> Any:
        """A workload with `like = "other"` sends what `other` sends (its traffic keys),
        at its own rate, duration, gates and bounds."""
        workloads = document.get("workloads") if isinstance(document, dict) else None
        if not isinstance(workloads, dict):
            return document
        expanded = dict(workloads)
        for name, workload in workloads.items():
            if not isinstance(workload, dict) or "like" not in workload:
                continue
            base = workloads.get(workload["like"])
            if not isinstance(base, dict) or "like" in base:
                raise ValueError(
                    f"workloads.{name}.like names {workload['like']!r}, which is not a "
                    f"workload without a 'like' of its own (known: {', '.join(workloads)})"
                )
            inherited = {key: base[key] for key in TRAFFIC_KEYS if key in base}
            own = {key: value for key, value in workload.items() if key != "like"}
            expanded[name] = {**inherited, **own}
        return {**document, "workloads": expanded}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"must be a name of letters, digits, '_', '-', '.', got {value!r}")
        return value

    @model_validator(mode="after")
    def _references(self) -> Description:
        for name, workload in self.workloads.items():
            self._check_templates(f"workloads.{name}", workload.templates())
        for name, value in self.values.items():
            if value.sample is not None and value.sample not in self._ids_values():
                raise ValueError(
                    f"values.{name}.sample names {value.sample!r}, which is not an ids value "
                    f"(ids values: {', '.join(self._ids_values()) or 'none'})"
                )
            if value.check is not None:
                self._check_templates(f"values.{name}.check", [value.check.path])
        if self.capacity is not None and self.capacity.workload not in self.workloads:
            raise ValueError(self._unknown_workload("capacity.workload", self.capacity.workload))
        chaos_load = None if self.chaos is None else self.chaos.load
        if chaos_load is not None and chaos_load not in self.workloads:
            raise ValueError(self._unknown_workload("chaos.load", chaos_load))
        if self.local is not None and self.local.warm_up is not None:
            texts = [request.path for request in self.local.warm_up.requests]
            self._check_templates("local.warm_up", texts)
        self._check_inducements()
        return self

    def _check_inducements(self) -> None:
        if self.alerts is None:
            return
        faults = set(self.local.faults) if self.local is not None else set()
        for rule, recipe in self.alerts.induce.items():
            if recipe.fault is not None and recipe.fault not in faults:
                raise ValueError(
                    f"alerts.induce.{rule}.fault names {recipe.fault!r}, which is not a fault "
                    f"of [local.faults] (known: {', '.join(sorted(faults)) or 'none'})"
                )
            texts = [request.path for request in recipe.traffic]
            self._check_templates(f"alerts.induce.{rule}.traffic", texts)
            self._check_profile_fault(rule, recipe)
        burst = None if self.alerts.slo is None else self.alerts.slo.burst
        if burst is not None:
            if burst.fault not in faults:
                raise ValueError(
                    f"alerts.slo.burst.fault names {burst.fault!r}, which is not a fault "
                    f"of [local.faults] (known: {', '.join(sorted(faults)) or 'none'})"
                )
            texts = [request.path for request in burst.traffic]
            self._check_templates("alerts.slo.burst.traffic", texts)

    def _check_profile_fault(self, rule: str, recipe: Inducement) -> None:
        fault = recipe.profile_fault
        if fault is None:
            return
        where = f"alerts.induce.{rule}.profile_fault"
        self._check_templates(f"{where}.traffic", [request.path for request in fault.traffic])
        dependencies = self.chaos.dependencies if self.chaos is not None else ()
        if fault.dependency is not None and fault.dependency not in dependencies:
            raise ValueError(
                f"{where}.dependency names {fault.dependency!r}, which is not one of "
                f"[chaos] dependencies (known: {', '.join(dependencies) or 'none'})"
            )

    def _ids_values(self) -> list[str]:
        return [name for name, value in self.values.items() if value.kind in ("ids", "ids_file")]

    def _unknown_workload(self, key: str, name: str) -> str:
        known = ", ".join(self.workloads) or "none"
        return f"{key} names workload {name!r}, which is not declared (known: {known})"

    def _check_templates(self, where: str, texts: Any) -> None:
        for text in texts:
            unknown = placeholders(text) - set(self.values)
            if unknown:
                raise ValueError(
                    f"{where} names {{{sorted(unknown)[0]}}}, which is not a value of [values] "
                    f"(declared: {', '.join(self.values) or 'none'})"
                )

    # what the suites ask ---------------------------------------------------------------
    def workloads_in(self, gate: str) -> list[str]:
        """The workloads that run in `gate` ("pr_gate" or "drill"), in file order."""
        return [name for name, workload in self.workloads.items() if gate in workload.gates]

    def secrets_needed(self) -> set[str]:
        """Environment variables the workloads take secrets from (`${NAME}`)."""
        needed: set[str] = set()
        for workload in self.workloads.values():
            for text in [*workload.headers.values(), *workload.templates()]:
                needed |= env_references(text)
        for check in self.smoke:
            for text in [*check.headers.values(), *strings_in(check.body)]:
                needed |= env_references(text)
        return needed

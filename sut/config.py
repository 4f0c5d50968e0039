"""The reference target's configuration: read once from the environment at startup.

Every setting has one environment variable. A missing required variable or a malformed
value is a `ConfigError` whose message names the variable (and never echoes a secret);
`python -m sut` prints it as one line and exits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from psycopg.conninfo import conninfo_to_dict

PG_DSN = "TARGET_PG_DSN"
NEO4J_URI = "TARGET_NEO4J_URI"
NEO4J_USER = "TARGET_NEO4J_USER"
NEO4J_PASSWORD = "TARGET_NEO4J_PASSWORD"  # noqa: S105 - the variable's name, not a secret
NEO4J_DATABASE = "TARGET_NEO4J_DATABASE"
REDIS_URL = "TARGET_REDIS_URL"
PG_TIMEOUT = "TARGET_PG_TIMEOUT_SECONDS"
NEO4J_TIMEOUT = "TARGET_NEO4J_TIMEOUT_SECONDS"
REDIS_TIMEOUT = "TARGET_REDIS_TIMEOUT_SECONDS"
CACHE_TTL = "TARGET_CACHE_TTL_SECONDS"
PG_POOL_MAX = "TARGET_PG_POOL_MAX"
FAULT_GRAPH_DELAY = "TARGET_FAULT_GRAPH_DELAY_SECONDS"
FAULT_GRAPH_DELAY_SHARE = "TARGET_FAULT_GRAPH_DELAY_SHARE"
FAULT_ERROR_SHARE = "TARGET_FAULT_ERROR_SHARE"
FAULT_SEED = "TARGET_FAULT_SEED"
# Resilience the target claims, each removable for the chaos suite's negative tests.
FAULT_REDIS_NO_TIMEOUT = "TARGET_FAULT_REDIS_NO_TIMEOUT"
FAULT_HEALTHZ_UNCHECKED = "TARGET_FAULT_HEALTHZ_UNCHECKED"
FAULT_ACK_BEFORE_COMMIT = "TARGET_FAULT_ACK_BEFORE_COMMIT"
FAULT_PG_NO_RECONNECT = "TARGET_FAULT_PG_NO_RECONNECT"
FLAGS = (
    FAULT_REDIS_NO_TIMEOUT,
    FAULT_HEALTHZ_UNCHECKED,
    FAULT_ACK_BEFORE_COMMIT,
    FAULT_PG_NO_RECONNECT,
)

REQUIRED = (PG_DSN, NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD, REDIS_URL)
DEFAULT_TIMEOUT_SECONDS = 1.0
DEFAULT_CACHE_TTL_SECONDS = 300
DEFAULT_PG_POOL_MAX = 10
DEFAULT_NEO4J_DATABASE = "neo4j"
NEO4J_SCHEMES = frozenset({"bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"})
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


class ConfigError(ValueError):
    """A missing or malformed setting; the message names the environment variable."""


@dataclass(frozen=True)
class Faults:
    """Test-only faults, all off by default (see `sut.faults`)."""

    graph_delay_seconds: float = 0.0
    graph_delay_share: float = 0.0
    error_share: float = 0.0
    seed: int | None = None
    redis_no_timeout: bool = False  # Redis calls unbounded: a black-holed cache hangs reads
    healthz_unchecked: bool = False  # /healthz says ok without asking any dependency
    ack_before_commit: bool = False  # POST answers 201, then commits a second later
    pg_no_reconnect: bool = False  # after a Postgres connection failure, never recovers

    @property
    def flags(self) -> dict[str, bool]:
        return {
            "redis_no_timeout": self.redis_no_timeout,
            "healthz_unchecked": self.healthz_unchecked,
            "ack_before_commit": self.ack_before_commit,
            "pg_no_reconnect": self.pg_no_reconnect,
        }

    @property
    def active(self) -> bool:
        delayed = self.graph_delay_seconds > 0 and self.graph_delay_share > 0
        return self.error_share > 0 or delayed or any(self.flags.values())

    def describe(self) -> dict[str, float]:
        """The faults in effect, for /healthz and /metrics (empty when none is)."""
        described: dict[str, float] = {}
        if self.graph_delay_seconds > 0 and self.graph_delay_share > 0:
            described["graph_delay_seconds"] = self.graph_delay_seconds
            described["graph_delay_share"] = self.graph_delay_share
        if self.error_share > 0:
            described["error_share"] = self.error_share
        described.update({name: 1.0 for name, on in self.flags.items() if on})
        return described


@dataclass(frozen=True)
class TargetConfig:
    """Everything the target reads from its environment, frozen after startup."""

    pg_dsn: str = field(repr=False)
    neo4j_uri: str
    neo4j_user: str
    neo4j_password: str = field(repr=False)
    redis_url: str = field(repr=False)
    neo4j_database: str = DEFAULT_NEO4J_DATABASE
    pg_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    neo4j_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    redis_timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    cache_ttl_seconds: int = DEFAULT_CACHE_TTL_SECONDS
    pg_pool_max: int = DEFAULT_PG_POOL_MAX
    faults: Faults = Faults()


def load_config(environ: Mapping[str, str]) -> TargetConfig:
    """Read and check every setting; raise `ConfigError` naming the first bad variable.

    All missing required variables are named together, so one run tells the whole story.
    """
    missing = [name for name in REQUIRED if not environ.get(name, "").strip()]
    if missing:
        raise ConfigError(f"missing required environment variable(s): {', '.join(missing)}")
    _check_pg_dsn(environ[PG_DSN])
    _check_url(NEO4J_URI, environ[NEO4J_URI], NEO4J_SCHEMES)
    _check_url(REDIS_URL, environ[REDIS_URL], REDIS_SCHEMES)
    return TargetConfig(
        pg_dsn=environ[PG_DSN],
        neo4j_uri=environ[NEO4J_URI],
        neo4j_user=environ[NEO4J_USER],
        neo4j_password=environ[NEO4J_PASSWORD],
        redis_url=environ[REDIS_URL],
        neo4j_database=environ.get(NEO4J_DATABASE, "").strip() or DEFAULT_NEO4J_DATABASE,
        pg_timeout_seconds=_positive_float(environ, PG_TIMEOUT, DEFAULT_TIMEOUT_SECONDS),
        neo4j_timeout_seconds=_positive_float(environ, NEO4J_TIMEOUT, DEFAULT_TIMEOUT_SECONDS),
        redis_timeout_seconds=_positive_float(environ, REDIS_TIMEOUT, DEFAULT_TIMEOUT_SECONDS),
        cache_ttl_seconds=_positive_int(environ, CACHE_TTL, DEFAULT_CACHE_TTL_SECONDS),
        pg_pool_max=_positive_int(environ, PG_POOL_MAX, DEFAULT_PG_POOL_MAX),
        faults=load_faults(environ),
    )


def load_faults(environ: Mapping[str, str]) -> Faults:
    """The fault knobs; a share without the delay it applies to is an error, not a no-op."""
    delay = _float(environ, FAULT_GRAPH_DELAY, 0.0, minimum=0.0)
    delay_share_given = bool(environ.get(FAULT_GRAPH_DELAY_SHARE, "").strip())
    delay_share = _float(environ, FAULT_GRAPH_DELAY_SHARE, 1.0, minimum=0.0, maximum=1.0)
    if delay_share_given and delay == 0.0 and delay_share > 0.0:
        raise ConfigError(
            f"{FAULT_GRAPH_DELAY_SHARE} has no effect without {FAULT_GRAPH_DELAY} > 0"
        )
    return Faults(
        graph_delay_seconds=delay,
        graph_delay_share=delay_share if delay > 0 else 0.0,
        error_share=_float(environ, FAULT_ERROR_SHARE, 0.0, minimum=0.0, maximum=1.0),
        seed=_optional_int(environ, FAULT_SEED),
        redis_no_timeout=_flag(environ, FAULT_REDIS_NO_TIMEOUT),
        healthz_unchecked=_flag(environ, FAULT_HEALTHZ_UNCHECKED),
        ack_before_commit=_flag(environ, FAULT_ACK_BEFORE_COMMIT),
        pg_no_reconnect=_flag(environ, FAULT_PG_NO_RECONNECT),
    )


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = _raw(environ, name)
    if raw is None or raw == "0":
        return False
    if raw == "1":
        return True
    raise ConfigError(f"{name} must be 0 or 1, got {raw!r}")


def _raw(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _float(
    environ: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float,
    maximum: float = math.inf,
) -> float:
    raw = _raw(environ, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (minimum <= value <= maximum) or math.isinf(value):
        bounds = f"between {minimum:g} and {maximum:g}" if maximum < math.inf else f">= {minimum:g}"
        raise ConfigError(f"{name} must be a number {bounds}, got {raw!r}")
    return value


def _positive_float(environ: Mapping[str, str], name: str, default: float) -> float:
    value = _float(environ, name, default, minimum=0.0)
    if value <= 0:
        raise ConfigError(f"{name} must be a number > 0, got {environ[name].strip()!r}")
    return value


def _optional_int(environ: Mapping[str, str], name: str) -> int | None:
    raw = _raw(environ, name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    value = _optional_int(environ, name)
    if value is None:
        return default
    if value <= 0:
        raise ConfigError(f"{name} must be an integer > 0, got {value}")
    return value


def _check_pg_dsn(dsn: str) -> None:
    """Parse the DSN now; the error names the variable but never echoes it (passwords)."""
    try:
        params: dict[str, Any] = conninfo_to_dict(dsn)
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        if dsn in reason:
            reason = "cannot be parsed"
        raise ConfigError(f"{PG_DSN} is not a valid libpq DSN or URL: {reason}") from None
    if not params:
        raise ConfigError(f"{PG_DSN} is not a valid libpq DSN or URL: it names no parameter")


def _check_url(name: str, url: str, schemes: frozenset[str]) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ConfigError(f"{name} is not a valid URL") from None
    if parts.scheme not in schemes:
        raise ConfigError(
            f"{name} must use one of the schemes {', '.join(sorted(schemes))}, "
            f"got {parts.scheme or 'none'!r}"
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigError(f"{name} names no host")

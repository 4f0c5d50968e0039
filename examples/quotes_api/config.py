"""The quotes API's settings, read once from the environment at start-up.

A missing required variable or a malformed value is a `ConfigError` whose message names
the variable (and never echoes the DSN, which may hold a password); `python -m
examples.quotes_api` prints it as one line and exits with status 2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg.conninfo import conninfo_to_dict

DATABASE_URL = "QUOTES_DATABASE_URL"
DB_TIMEOUT = "QUOTES_DB_TIMEOUT_SECONDS"
FAULT_GENERATE_DELAY = "QUOTES_FAULT_GENERATE_DELAY_SECONDS"
FAULT_GENERATE_DELAY_SHARE = "QUOTES_FAULT_GENERATE_DELAY_SHARE"
FAULT_ERROR_SHARE = "QUOTES_FAULT_ERROR_SHARE"
FAULT_STATUS_UNCHECKED = "QUOTES_FAULT_STATUS_UNCHECKED"

DEFAULT_DB_TIMEOUT_SECONDS = 1.0


class ConfigError(ValueError):
    """A missing or malformed setting; the message names the environment variable."""


@dataclass(frozen=True)
class Faults:
    """Test-only faults, all off by default (see `examples.quotes_api.faults`)."""

    generate_delay_seconds: float = 0.0
    generate_delay_share: float = 0.0
    error_share: float = 0.0
    status_unchecked: bool = False  # GET /status says OK without asking the database

    def describe(self) -> dict[str, float]:
        """The faults in effect (empty when none is), for the `quotes_fault` gauge."""
        described: dict[str, float] = {}
        if self.generate_delay_seconds > 0 and self.generate_delay_share > 0:
            described["generate_delay_seconds"] = self.generate_delay_seconds
            described["generate_delay_share"] = self.generate_delay_share
        if self.error_share > 0:
            described["error_share"] = self.error_share
        if self.status_unchecked:
            described["status_unchecked"] = 1.0
        return described


@dataclass(frozen=True)
class QuotesConfig:
    database_url: str = field(repr=False)
    db_timeout_seconds: float = DEFAULT_DB_TIMEOUT_SECONDS
    faults: Faults = Faults()


def load_config(environ: Mapping[str, str]) -> QuotesConfig:
    """Read and check every setting; raise `ConfigError` naming the first bad variable."""
    database_url = environ.get(DATABASE_URL, "").strip()
    if not database_url:
        raise ConfigError(f"missing required environment variable {DATABASE_URL}")
    check_database_url(database_url)
    timeout = _float(environ, DB_TIMEOUT, DEFAULT_DB_TIMEOUT_SECONDS, minimum=0.0)
    if timeout <= 0:
        raise ConfigError(f"{DB_TIMEOUT} must be a number > 0, got {environ[DB_TIMEOUT]!r}")
    return QuotesConfig(
        database_url=database_url, db_timeout_seconds=timeout, faults=load_faults(environ)
    )


def load_faults(environ: Mapping[str, str]) -> Faults:
    """The fault knobs; a delay share without a delay is an error, not a silent no-op."""
    delay = _float(environ, FAULT_GENERATE_DELAY, 0.0, minimum=0.0)
    share_given = _raw(environ, FAULT_GENERATE_DELAY_SHARE) is not None
    share = _float(environ, FAULT_GENERATE_DELAY_SHARE, 1.0, minimum=0.0, maximum=1.0)
    if share_given and delay == 0.0 and share > 0.0:
        raise ConfigError(
            f"{FAULT_GENERATE_DELAY_SHARE} has no effect without {FAULT_GENERATE_DELAY} > 0"
        )
    return Faults(
        generate_delay_seconds=delay,
        generate_delay_share=share if delay > 0 else 0.0,
        error_share=_float(environ, FAULT_ERROR_SHARE, 0.0, minimum=0.0, maximum=1.0),
        status_unchecked=_flag(environ, FAULT_STATUS_UNCHECKED),
    )


def check_database_url(url: str) -> None:
    """Parse the DSN now; the error names the variable but never echoes the DSN."""
    try:
        params: dict[str, Any] = conninfo_to_dict(url)
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        if url in reason:
            reason = "cannot be parsed"
        raise ConfigError(f"{DATABASE_URL} is not a valid libpq DSN or URL: {reason}") from None
    if not params:
        raise ConfigError(f"{DATABASE_URL} is not a valid libpq DSN or URL: it names nothing")


def _raw(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(name, "").strip() or None


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = _raw(environ, name)
    if raw is None or raw == "0":
        return False
    if raw == "1":
        return True
    raise ConfigError(f"{name} must be 0 or 1, got {raw!r}")


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
    if not minimum <= value <= maximum or math.isinf(value):
        bounds = f"between {minimum:g} and {maximum:g}" if maximum < math.inf else f">= {minimum:g}"
        raise ConfigError(f"{name} must be a number {bounds}, got {raw!r}")
    return value

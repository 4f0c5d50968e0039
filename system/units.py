"""Units written in the value: durations ("900ms", "1.5s", "20m", "1h30m") and rates
("60/min", "100/s", "2/h"), as SREs write them in k6 options and Prometheus rules."""

from __future__ import annotations

import math
import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_RATE_SECONDS = {
    "s": 1.0, "sec": 1.0, "second": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0,
    "h": 3600.0, "hour": 3600.0,
}  # fmt: skip


def parse_duration(text: object) -> float:
    """Seconds in "900ms", "1.5s", "20m", "1h30m"; `ValueError` (what is expected) else."""
    expected = f"must be a duration with its unit, e.g. '900ms', '30s', '20m'; got {text!r}"
    compact = text.replace(" ", "") if isinstance(text, str) else ""
    parts = _DURATION_PART.findall(compact)
    if not parts or "".join(number + unit for number, unit in parts) != compact:
        raise ValueError(expected)
    seconds = sum(float(number) * _DURATION_SECONDS[unit] for number, unit in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"must be a duration > 0, got {text!r}")
    return seconds


def parse_rate(text: object) -> float:
    """Requests per second in "60/min", "100/s", "2/h"; `ValueError` (what is expected) else."""
    match = _RATE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"must be a rate with its unit, e.g. '60/min' or '100/s'; got {text!r}")
    per_second = float(match.group(1)) / _RATE_SECONDS[match.group(2)]
    if not math.isfinite(per_second) or per_second <= 0:
        raise ValueError(f"must be a rate > 0, got {text!r}")
    return per_second


def format_seconds(seconds: float) -> str:
    """A duration as people read it: "900ms", "1.5s", "20m"."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def format_rate(per_second: float) -> str:
    """A rate as people read it: "100/s", or "60/min" below one per second."""
    if per_second >= 1:
        return f"{per_second:g}/s"
    return f"{per_second * 60:g}/min"

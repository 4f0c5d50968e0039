"""The criteria contract in one typed place (design section 8): the verdicts, the row every
suite records, and the registry of criteria the gates, the summary, the publisher and the
descriptions' `[requires]` use.

Adding a bound to a description (e.g. a workload's `p99`) needs no code here: the latency
criteria exist for every percentile (`latency_criterion`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

SCHEMA = 1  # of the drill's summary.json (design section 8)


class Verdict(StrEnum):
    """The verdict of one criterion. Only `pass` counts as a pass; `skipped` never does."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    UNDECIDED = "undecided"  # the interval straddles the bound: a failure
    INVALID = "invalid"  # the harness could not measure (generator, host): a failed run
    SKIPPED = "skipped"  # with its reason; never a pass
    INCONCLUSIVE = "undecided"  # the load gates' older name of UNDECIDED (an alias)


FAILING = frozenset({Verdict.FAIL, Verdict.UNDECIDED, Verdict.INVALID})
Better = Literal["lower", "higher", "none"]


@dataclass(frozen=True)
class Criterion:
    """One kind of acceptance criterion: its unit, the suite that measures it, which way is
    better (`none`: reported, not bounded), and what it means."""

    name: str
    unit: str
    suite: str
    better: Better
    meaning: str


def _registry(*criteria: Criterion) -> Mapping[str, Criterion]:
    return MappingProxyType({criterion.name: criterion for criterion in criteria})


CRITERIA: Mapping[str, Criterion] = _registry(
    Criterion("smoke", "failures", "load", "lower", "smoke checks failing before the suites"),
    Criterion("p50_latency", "s", "load", "lower", "P50 latency under load, from intended time"),
    Criterion("p95_latency", "s", "load", "lower", "P95 latency under load, from intended time"),
    Criterion("p99_latency", "s", "load", "lower", "P99 latency under load, from intended time"),
    Criterion("error_rate", "ratio", "load", "lower", "share of requests that failed"),
    Criterion("availability", "ratio", "load", "higher", "share of requests that succeeded"),
    Criterion("throughput", "req/s", "load", "higher", "successful answers per second"),
    Criterion("capacity", "req/s", "load", "higher", "highest rate within the bounds"),
    Criterion("chaos_hypothesis", "ratio", "chaos", "higher", "success ratio during a fault"),
    Criterion("chaos_time_to_recover", "s", "chaos", "lower", "fault removed to steady state"),
    Criterion("chaos_writes_lost", "writes", "chaos", "lower", "acknowledged writes missing"),
    Criterion("pitr_exact", "rows", "dr", "lower", "rows wrong after a restore to a time"),
    Criterion("rpo", "s", "dr", "lower", "data lost when the primary is lost (measured)"),
    Criterion("rto", "s", "dr", "lower", "failure to a healthy target (measured)"),
    Criterion("schema_version", "match", "dr", "higher", "schema version after a restore"),
    Criterion("failover_rto", "s", "dr", "lower", "primary lost to healthy on the standby"),
    Criterion("failover_rpo", "s", "dr", "lower", "window of writes lost in a failover"),
    Criterion("failover_writes_lost", "writes", "dr", "lower", "acknowledged writes lost"),
    Criterion("replication_lag", "s", "dr", "lower", "the standby's lag before a failover"),
    Criterion("replica_drift", "ratio", "dr", "lower", "bucket objects differing in the replica"),
    Criterion("replica_overdue", "objects", "dr", "lower", "objects older than the lag unmirrored"),
    Criterion("alert_time_to_fire", "s", "alerts", "lower", "condition to notification"),
    Criterion("alert_time_to_resolve", "s", "alerts", "lower", "condition gone to resolution"),
    Criterion("alert_rule_units", "failures", "alerts", "lower", "promtool unit tests failing"),
    Criterion("no_false_alarms", "alerts", "alerts", "lower", "alerts on a healthy system"),
    Criterion("deployed_rules", "rules", "alerts", "lower", "rules not deployed as described"),
    Criterion(
        "alert_live_series", "selectors", "alerts", "lower", "rule selectors matching nothing"
    ),
    Criterion(
        "alert_routing", "receivers", "alerts", "lower", "receivers wrongly reached or missed"
    ),
    Criterion("alert_time_to_detect", "s", "alerts", "lower", "condition to the rule firing"),
    Criterion("alert_time_to_notify", "s", "alerts", "lower", "alert sent to receiver notified"),
    Criterion("alert_inhibition", "notifications", "alerts", "lower", "inhibitions wrong"),
    Criterion("alert_dedup", "notifications", "alerts", "lower", "repeats beyond one per group"),
)
# The criterion a suite's test stands for when it broke before it recorded one.
SUITE_CRITERION: Mapping[str, str] = MappingProxyType(
    {
        "load": "p95_latency",
        "chaos": "chaos_hypothesis",
        "dr": "pitr_exact",
        "alerts": "alert_time_to_fire",
    }
)
_LATENCY = re.compile(r"^p(\d{1,2}(?:\.\d+)?)_latency$")


def latency_criterion(percentile: float) -> str:
    """The criterion of a latency percentile: 95 -> "p95_latency", 99.9 -> "p99.9_latency"."""
    return f"p{percentile:g}_latency"


def criterion(name: str) -> Criterion:
    """The registered criterion `name` (any `pNN_latency` exists); `KeyError` otherwise."""
    if name in CRITERIA:
        return CRITERIA[name]
    match = _LATENCY.match(name)
    if match is not None and 0 < float(match.group(1)) < 100:
        return Criterion(name, "s", "load", "lower", f"P{match.group(1)} latency under load")
    raise KeyError(name)


def is_criterion(name: str) -> bool:
    try:
        criterion(name)
    except KeyError:
        return False
    return True


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class CriterionRow:
    """One measurement against one bound: a row of the drill's verdict table."""

    criterion: str
    scope: str
    bound: float | None
    unit: str
    measured: float | None
    verdict: Verdict
    test: str
    interval: tuple[float | None, float | None] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        *,
        criterion: str,
        scope: str,
        bound: float | None,
        unit: str,
        measured: float | None,
        verdict: str | Verdict,
        test: str,
        interval: Sequence[float | None] | None = None,
        details: dict[str, Any] | None = None,
    ) -> CriterionRow:
        """A row with its values checked: a known verdict, finite numbers or None."""
        try:
            checked = Verdict(verdict)
        except ValueError:
            known = ", ".join(sorted({member.value for member in Verdict}))
            raise ValueError(f"verdict {verdict!r} is not one of {known}") from None
        return cls(
            criterion=criterion,
            scope=scope,
            bound=_number(bound),
            unit=unit,
            measured=_number(measured),
            verdict=checked,
            test=test,
            interval=None if interval is None else (_number(interval[0]), _number(interval[1])),
            details=dict(details or {}),
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data


def measured_history(directory: Path, criterion: str, scope: str) -> list[float]:
    """What earlier drills measured for (criterion, scope), oldest first: the baseline of a
    `throughput = "baseline"` bound. Unreadable or other-schema files are left out."""
    found: list[float] = []
    for path in sorted(directory.glob("summary-*.json")):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(document, dict) or document.get("schema") != SCHEMA:
            continue
        for row in document.get("criteria", []):
            if not isinstance(row, dict) or (row.get("criterion"), row.get("scope")) != (
                criterion,
                scope,
            ):
                continue
            measured = row.get("measured")
            if isinstance(measured, int | float) and math.isfinite(measured):
                found.append(float(measured))
    return found

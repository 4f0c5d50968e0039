"""The drill's results, pushed where the platform's own alerts watch them (design section 6).

`python -m drill --publish URL` (or `RELIABILITY_RESULTS_PUSHGATEWAY`; the monthly workflow
takes it from a repository secret): once the verdict is known, each chaos experiment's
`chaos_experiment_passed{experiment}`, `chaos_drill_last_run_timestamp_seconds` (and
`chaos_drill_last_success_timestamp_seconds` when every experiment held), and the measured
RPO and RTO `{database}` go to that Pushgateway through the harness's one publisher, so
the system's drill and DR rules watch real drills. The RPO, RTO and replication lag gauges
are named by the system description's `[publish]` (`rpo`, `rto`, `replication_lag`); one
it does not name is not pushed, and `unpublished` says so. A skipped experiment is not
pushed. The URL may carry credentials: it is never printed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from fixtures.pushgateway_client import publish
from system.description import Publish

ENVIRONMENT = "RELIABILITY_RESULTS_PUSHGATEWAY"
Result = tuple[str, float, dict[str, str]]
# criterion of the verdict -> what its gauge holds (its help text)
DR_CRITERIA = {
    "rpo": "Measured RPO of the last DR drill",
    "rto": "Measured RTO of the last DR drill",
    "replication_lag": "Replication lag of the standby before the last failover rehearsal",
}


def dr_metrics(names: Publish) -> dict[str, str]:
    """Criterion ("rpo", "rto", "replication_lag") -> the gauge the description's
    `[publish]` names for it."""
    found = {"rpo": names.rpo, "rto": names.rto, "replication_lag": names.replication_lag}
    return {criterion: metric for criterion, metric in found.items() if metric is not None}


def results(document: Mapping[str, Any], now: float, names: Publish) -> list[Result]:
    """What a verdict document (`drill/summary.py`) pushes: metric, value, labels."""
    rows = document.get("criteria", [])
    chaos = [row for row in rows if row["criterion"] == "chaos_hypothesis"]
    decided = [row for row in chaos if row["verdict"] != "skipped"]
    pushed: list[Result] = [
        ("chaos_experiment_passed", 1.0 if row["verdict"] == "pass" else 0.0,
         {"experiment": str(row["scope"]).split("[", 1)[0]})
        for row in decided
    ]  # fmt: skip
    if decided:
        pushed.append(("chaos_drill_last_run_timestamp_seconds", now, {}))
        if all(row["verdict"] == "pass" for row in decided):
            pushed.append(("chaos_drill_last_success_timestamp_seconds", now, {}))
    metrics = dr_metrics(names)
    for row in rows:
        metric = metrics.get(row["criterion"])
        if metric is not None and row.get("measured") is not None:
            database = str((row.get("details") or {}).get("database", "postgres"))
            pushed.append((metric, float(row["measured"]), {"database": database}))
    return pushed


def unpublished(document: Mapping[str, Any], names: Publish) -> list[str]:
    """One line per measured DR result not pushed because `[publish]` names no gauge."""
    measured = {
        row["criterion"]
        for row in document.get("criteria", [])
        if row["criterion"] in DR_CRITERIA and row.get("measured") is not None
    }
    missing = sorted(measured - set(dr_metrics(names)))
    return [
        f"the measured {criterion.replace('_', ' ').upper()} is not pushed: the system "
        f"description's [publish] names no {criterion} gauge"
        for criterion in missing
    ]


def push(
    url: str,
    document: Mapping[str, Any],
    now: float,
    names: Publish,
    *,
    say: Callable[[str], None] | None = None,
) -> int:
    """Push every result; returns how many. What is not pushed for want of a name is said
    through `say`. Errors name the host only, never the URL."""
    for line in unpublished(document, names):
        if say is not None:
            say(line)
    help_texts = {metric: DR_CRITERIA[criterion] for criterion, metric in dr_metrics(names).items()}
    pushed = results(document, now, names)
    try:
        for name, value, labels in pushed:
            publish(url, name, value, labels, help_text=help_texts.get(name))
    except OSError as error:
        host = urlsplit(url).hostname or "?"
        raise PublishError(f"the Pushgateway at {host} refused the results: "
                           f"{type(error).__name__}") from None  # fmt: skip
    return len(pushed)


class PublishError(Exception):
    """The drill ran, but its results could not be pushed."""

"""The drill's results, pushed where the platform's own alerts watch them (design section 6).

`python -m drill --publish URL` (or `RELIABILITY_RESULTS_PUSHGATEWAY`; the monthly workflow
takes it from a repository secret): once the verdict is known, each chaos experiment's
`chaos_experiment_passed{experiment}`, `chaos_drill_last_run_timestamp_seconds` (and
`chaos_drill_last_success_timestamp_seconds` when every experiment held), and the measured
`intelgraph_dr_rpo_actual_seconds{database}` / `_rto_` go to that Pushgateway through the
harness's one publisher, so `ChaosDrillNotRun` and `ChaosDrillFailed` watch real drills. A
skipped experiment is not pushed. The URL may carry credentials: it is never printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fixtures.pushgateway_client import publish

ENVIRONMENT = "RELIABILITY_RESULTS_PUSHGATEWAY"
Result = tuple[str, float, dict[str, str]]
DR_METRICS = {"rpo": "intelgraph_dr_rpo_actual_seconds", "rto": "intelgraph_dr_rto_actual_seconds"}


def results(document: Mapping[str, Any], now: float) -> list[Result]:
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
    for row in rows:
        metric = DR_METRICS.get(row["criterion"])
        if metric is not None and row.get("measured") is not None:
            database = str((row.get("details") or {}).get("database", "postgres"))
            pushed.append((metric, float(row["measured"]), {"database": database}))
    return pushed


def push(url: str, document: Mapping[str, Any], now: float) -> int:
    """Push every result; returns how many. Errors name the host only, never the URL."""
    pushed = results(document, now)
    try:
        for name, value, labels in pushed:
            publish(url, name, value, labels)
    except OSError as error:
        host = urlsplit(url).hostname or "?"
        raise PublishError(f"the Pushgateway at {host} refused the results: "
                           f"{type(error).__name__}") from None  # fmt: skip
    return len(pushed)


class PublishError(Exception):
    """The drill ran, but its results could not be pushed."""

"""Does a target answer the design section 4 contract? The drill asks before it runs.

A profile's `[services.api]` may point at anything that answers `/healthz`; the suites
need the contract: the routes, their answers to good and bad input, the metrics by name.
Each check is a real request; what does not match is one line naming the route.
"""

from __future__ import annotations

from collections.abc import Callable

import requests

TIMEOUT_SECONDS = 5.0
METRICS = (
    "http_requests_total",
    "http_request_duration_seconds",
    "intelgraph_query_latency_seconds",
)
Check = Callable[[requests.Session, str], str | None]


def _healthz(session: requests.Session, url: str) -> str | None:
    answer = session.get(f"{url}/healthz", timeout=TIMEOUT_SECONDS)
    if answer.status_code not in (200, 503):
        return f"GET /healthz answered {answer.status_code}, not 200 or 503"
    body = _json(answer)
    checks = body.get("checks") if isinstance(body, dict) else None
    if not isinstance(checks, dict) or not {"postgres", "neo4j", "redis"} <= set(checks):
        return "GET /healthz does not name its checks postgres, neo4j and redis"
    return None


def _entity(session: requests.Session, url: str) -> str | None:
    answer = session.get(f"{url}/entities/1", timeout=TIMEOUT_SECONDS)
    if answer.status_code == 200:
        body = _json(answer)
        if not isinstance(body, dict) or not {"id", "name", "kind"} <= set(body):
            return "GET /entities/1 answered 200 without id, name and kind"
        return None
    if answer.status_code != 404:
        return f"GET /entities/1 answered {answer.status_code}, not 200 or 404"
    return None


def _bad_input(session: requests.Session, url: str) -> str | None:
    for path in ("/entities/not-an-id", "/graph/1/neighbors?depth=9"):
        status = session.get(f"{url}{path}", timeout=TIMEOUT_SECONDS).status_code
        if status != 400:
            return f"GET {path} answered {status}, not 400"
    return None


def _metrics(session: requests.Session, url: str) -> str | None:
    text = session.get(f"{url}/metrics", timeout=TIMEOUT_SECONDS).text
    missing = [name for name in METRICS if name not in text]
    if missing:
        return f"GET /metrics does not export {', '.join(missing)}"
    return None


CHECKS: tuple[Check, ...] = (_healthz, _entity, _bad_input, _metrics)


def _json(answer: requests.Response) -> object:
    try:
        return answer.json()
    except ValueError:
        return None


def contract_problems(url: str) -> list[str]:
    """One line per way the target at `url` does not answer the contract (none: it does)."""
    problems = []
    with requests.Session() as session:
        for check in CHECKS:
            try:
                problem = check(session, url.rstrip("/"))
            except requests.RequestException as error:
                problem = f"{check.__name__.strip('_')}: no answer ({type(error).__name__})"
            if problem is not None:
                problems.append(problem)
    return problems

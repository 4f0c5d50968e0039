"""A tiny stand-in for the reference target, for the load engine's own tests.

    python -m tests.integration.load_stub PORT [HOST]

Serves the routes of design section 4 that the load scenarios use, on HOST (127.0.0.1 by
default), with a per-request delay and an answer status set at run time:

- POST /_control {"delay": seconds, "status": code, "report_factor": x, "error_share": p,
  "seed": n, "html": bool}: set them, and reset the counter; a 3xx `status` redirects
  every request to /login (an HTML page), as a service behind a login does; `html`
  answers 200 with an HTML page instead of JSON; `error_share` answers that share of
  requests (drawn from a seeded generator) with 500; `report_factor` scales what /metrics
  reports (1 = the truth), so a test can make the server's metrics disagree with what the
  client measures;
- GET /_count: {"count": requests served since the last reset (control routes excluded),
  "clients": {client address: its share of them}};
- GET /metrics: `http_request_duration_seconds` and `intelgraph_query_latency_seconds`
  histograms (the delay stands in for the database query), as design section 4 names them.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from dataclasses import dataclass, field

import uvicorn
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route


@dataclass
class Knobs:
    delay: float = 0.0
    status: int = 200
    count: int = 0
    clients: dict[str, int] = field(default_factory=dict)
    report_factor: float = 1.0
    error_share: float = 0.0
    html: bool = False
    draws: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311


LOGIN_PAGE = "<html><body><form action='/login'>Sign in</form></body></html>"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0)


def template(path: str) -> str:
    if path.startswith("/entities/"):
        return "/entities/{id}"
    if path.startswith("/graph/"):
        return "/graph/{id}/neighbors"
    return path


def build_app() -> Starlette:
    knobs = Knobs()
    registry = CollectorRegistry()
    http = Histogram(
        "http_request_duration_seconds",
        "request duration",
        ["route", "method", "status"],
        buckets=BUCKETS,
        registry=registry,
    )
    query = Histogram(
        "intelgraph_query_latency_seconds",
        "database query latency",
        ["database", "operation"],
        buckets=BUCKETS,
        registry=registry,
    )

    async def serve(request: Request) -> Response:
        started = time.perf_counter()
        knobs.count += 1
        client = request.client.host if request.client is not None else ""
        knobs.clients[client] = knobs.clients.get(client, 0) + 1
        if knobs.delay > 0:
            await asyncio.sleep(knobs.delay)
        query.labels("neo4j", "stub").observe((time.perf_counter() - started) * knobs.report_factor)
        code = 201 if request.method == "POST" else 200
        code = knobs.status if knobs.status >= 400 else code
        if knobs.error_share > 0 and knobs.draws.random() < knobs.error_share:
            code = 500
        route = template(request.url.path)
        elapsed = (time.perf_counter() - started) * knobs.report_factor
        http.labels(route, request.method, str(code)).observe(elapsed)
        if code >= 400:
            return JSONResponse({"error": "told to fail"}, status_code=code)
        if 300 <= knobs.status < 400:
            return Response(status_code=knobs.status, headers={"Location": "/login"})
        if knobs.html:
            return HTMLResponse(LOGIN_PAGE)
        return JSONResponse({"id": int(request.path_params.get("id", 1)), "neighbors": []}, code)

    async def login(_: Request) -> HTMLResponse:
        return HTMLResponse(LOGIN_PAGE)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    async def control(request: Request) -> JSONResponse:
        body = await request.json()
        knobs.delay = float(body.get("delay", 0.0))
        knobs.status = int(body.get("status", 200))
        knobs.report_factor = float(body.get("report_factor", 1.0))
        knobs.error_share = float(body.get("error_share", 0.0))
        knobs.html = bool(body.get("html", False))
        knobs.draws = random.Random(int(body.get("seed", 0)))  # noqa: S311 - test faults
        knobs.count = 0
        knobs.clients = {}
        return JSONResponse({"ok": True})

    async def count(_: Request) -> JSONResponse:
        return JSONResponse({"count": knobs.count, "clients": knobs.clients})

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/entities/{id:int}", serve),
            Route("/entities", serve, methods=["POST"]),
            Route("/graph/{id:int}/neighbors", serve),
            Route("/healthz", healthz),
            Route("/login", login),
            Route("/metrics", metrics),
            Route("/_control", control, methods=["POST"]),
            Route("/_count", count),
        ]
    )


if __name__ == "__main__":
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    uvicorn.run(build_app(), host=host, port=int(sys.argv[1]), log_level="warning")

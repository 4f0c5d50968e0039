"""The HTTP API of the reference target (design section 4), as a Starlette app.

| route                       | answers                                                        |
|-----------------------------|----------------------------------------------------------------|
| GET /healthz                | 200 ok / 503 naming each failing check; faults when injected   |
| POST /entities              | 201 {"id"}; 400 bad body; 422 unknown link ids; 503 dependency |
| GET /entities/{id}          | 200 entity (X-Cache: hit, miss or bypass); 400; 404; 503       |
| GET /graph/{id}/neighbors   | 200 {"id","depth","neighbors"}; 400 bad id or depth; 404; 503  |
| GET /metrics                | Prometheus text exposition of this app's own registry          |

Neighbours are followed along `LINKS` in **either direction**: a graph query asks "what is
connected to this entity", and an entity created later that links to an older one is its
neighbour too.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sut.config import TargetConfig
from sut.dependencies import Dependencies
from sut.errors import DependencyError, StoresOutOfSyncError, UnknownLinksError
from sut.faults import FaultInjector
from sut.metrics import Metrics
from sut.validation import BadRequestError, parse_depth, parse_entity_id, parse_new_entity

UNMATCHED_ROUTE = "<unmatched>"
MAX_BODY_BYTES = 1 << 20

Endpoint = Callable[[Request], Awaitable[Response]]


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The route's path template (e.g. /entities/{id}), so metric labels stay bounded.

    A path that matches a route with another method (405) still gets that route's template.
    """
    partial: str | None = None
    for route in routes:
        if not isinstance(route, Route):
            continue
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route.path
        if match is Match.PARTIAL and partial is None:
            partial = route.path
    return partial if partial is not None else UNMATCHED_ROUTE


class RequestMetrics:
    """ASGI middleware: observe every HTTP request by route template, method and status.

    It wraps the whole app, so a 500 from an unhandled exception is counted as 500.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], metrics: Metrics) -> None:
        self.app = app
        self.routes = routes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_template(self.routes, scope)
        status = 500

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe_request(route, scope["method"], status, elapsed)


class Target:
    """The routes, and the dependencies they share (opened by the app's lifespan)."""

    def __init__(self, config: TargetConfig, metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or Metrics.create()
        self.faults = FaultInjector(config.faults)
        self.metrics.show_faults(config.faults)
        self._dependencies: Dependencies | None = None

    @property
    def dependencies(self) -> Dependencies:
        if self._dependencies is None:
            raise RuntimeError("the target's dependencies are not open (lifespan not started)")
        return self._dependencies

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        dependencies = Dependencies(self.config, self.metrics, self.faults)
        await dependencies.open()
        self._dependencies = dependencies
        try:
            yield
        finally:
            self._dependencies = None
            await dependencies.close()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/metrics", self.metrics_text, methods=["GET"]),
            Route("/entities", self.faultable(self.create_entity), methods=["POST"]),
            Route("/entities/{id}", self.faultable(self.read_entity), methods=["GET"]),
            Route("/graph/{id}/neighbors", self.faultable(self.neighbors), methods=["GET"]),
        ]

    def faultable(self, endpoint: Endpoint) -> Endpoint:
        """Answer 500 for `TARGET_FAULT_ERROR_SHARE` of requests, before any work."""

        async def maybe_fail(request: Request) -> Response:
            if self.faults.should_fail():
                share = self.config.faults.error_share
                return error(500, f"injected fault (TARGET_FAULT_ERROR_SHARE={share:g})")
            return await endpoint(request)

        return maybe_fail

    # routes ---------------------------------------------------------------------------
    async def healthz(self, _request: Request) -> Response:
        if self.config.faults.healthz_unchecked:  # test-only: a health check that checks nothing
            unchecked = dict.fromkeys(("postgres", "neo4j", "redis"), "ok")
            faults = self.config.faults.describe()
            return JSONResponse({"status": "faulted", "checks": unchecked, "faults": faults})
        checks = await self.dependencies.health()
        healthy = all(check == "ok" for check in checks.values())
        faults = self.config.faults.describe()
        status = "error" if not healthy else "faulted" if faults else "ok"
        body: dict[str, Any] = {"status": status, "checks": checks}
        if faults:
            body["faults"] = faults
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def metrics_text(self, _request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def create_entity(self, request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        new = parse_new_entity(body)
        entity_id = await self.dependencies.create_entity(new)
        return JSONResponse(
            {"id": entity_id}, status_code=201, headers={"Location": f"/entities/{entity_id}"}
        )

    async def read_entity(self, request: Request) -> Response:
        entity_id = parse_entity_id(request.path_params["id"])
        body, cache = await self.dependencies.read_entity(entity_id)
        if body is None:
            return error(404, f"entity {entity_id} not found", id=entity_id)
        return Response(body, media_type="application/json", headers={"X-Cache": cache})

    async def neighbors(self, request: Request) -> Response:
        entity_id = parse_entity_id(request.path_params["id"])
        depth = parse_depth(request.query_params.getlist("depth"))
        found = await self.dependencies.neighbors(entity_id, depth)
        if found is None:
            return error(404, f"entity {entity_id} not found", id=entity_id)
        return JSONResponse({"id": entity_id, "depth": depth, "neighbors": found})


async def bad_request(_request: Request, exc: Exception) -> Response:
    return error(400, str(exc))


async def unknown_links(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, UnknownLinksError):  # pragma: no cover - registered for it only
        raise exc
    return error(422, str(exc), unknown_ids=exc.ids)


async def dependency_failed(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, DependencyError):  # pragma: no cover - registered for it only
        raise exc
    return error(503, f"{exc.database} unavailable: {exc.reason}", dependency=exc.database)


async def out_of_sync(_request: Request, exc: Exception) -> Response:
    return error(500, str(exc))


def create_app(config: TargetConfig, metrics: Metrics | None = None) -> ASGIApp:
    """The ASGI app: Starlette routes wrapped by the request metrics middleware."""
    target = Target(config, metrics)
    routes = target.routes()
    app = Starlette(
        routes=routes,
        lifespan=target.lifespan,
        exception_handlers={
            BadRequestError: bad_request,
            UnknownLinksError: unknown_links,
            DependencyError: dependency_failed,
            StoresOutOfSyncError: out_of_sync,
        },
    )
    return RequestMetrics(app, routes, target.metrics)

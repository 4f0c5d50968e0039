"""The quotes API's routes (see the package docstring), as a Starlette app.

Every request is observed by `RequestMetrics` under its route template (`handler`);
a path no route knows is answered `302 Location: /login` and observed as `<unmatched>`.
A known path with a method it does not take keeps Starlette's 405.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from examples.quotes_api.config import QuotesConfig
from examples.quotes_api.domain import (
    BadRequestError,
    cents_to_number,
    parse_price_rows,
    parse_quote_id,
    parse_quote_request,
)
from examples.quotes_api.faults import FaultInjector
from examples.quotes_api.metrics import Metrics
from examples.quotes_api.store import DatabaseUnavailableError, QuoteStore, StoredQuote

UNMATCHED = "<unmatched>"
LOGIN_PATH = "/login"
MAX_BODY_BYTES = 256 * 1024
STATUS_OK = "OK"
STATUS_DEGRADED = "DEGRADED: database"

LOGIN_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Quotes - sign in</title></head>
<body>
<h1>Sign in</h1>
{message}<form method="post" action="/login">
<label>User <input name="user" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
</body>
</html>
"""

Endpoint = Callable[[Request], Awaitable[Response]]


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def handler_of(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The route template a request is counted under (bounded label values).

    A path that matches a route with another method (405) keeps that route's template.
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
    return partial if partial is not None else UNMATCHED


def quote_document(quote: StoredQuote, *, with_items: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "quote_id": quote.quote_id,
        "customer": quote.customer,
        "total": cents_to_number(quote.total_cents),
    }
    if with_items:
        document["items"] = [
            {
                "sku": item.sku,
                "quantity": item.quantity,
                "unit_price": cents_to_number(item.unit_cents),
                "line_total": cents_to_number(item.line_cents),
            }
            for item in quote.items
        ]
    return document


async def redirect_to_login(scope: Scope, receive: Receive, send: Send) -> None:
    """The router's default: what many real services answer for a path they do not know."""
    if scope["type"] == "websocket":
        await WebSocketClose()(scope, receive, send)
        return
    response = Response(status_code=302, headers={"Location": LOGIN_PATH})
    await response(scope, receive, send)


class RequestMetrics:
    """ASGI middleware: observe every HTTP request by handler, method and code.

    It wraps the whole app, so an unhandled exception is counted as the 500 it becomes.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], metrics: Metrics) -> None:
        self.app = app
        self.routes = routes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        handler = handler_of(self.routes, scope)
        code = 500

        async def send_and_record_code(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = int(message["status"])
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_record_code)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe_request(handler, scope["method"], code, elapsed)


class QuotesService:
    """The routes, and the store they share (opened by the app's lifespan)."""

    def __init__(self, config: QuotesConfig, metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or Metrics.create()
        self.faults = FaultInjector(config.faults)
        self.metrics.show_faults(config.faults)
        self._store: QuoteStore | None = None

    @property
    def store(self) -> QuoteStore:
        if self._store is None:
            raise RuntimeError("the quote store is not open (lifespan not started)")
        return self._store

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        store = QuoteStore(self.config, self.metrics)
        await store.open()
        self._store = store
        try:
            yield
        finally:
            self._store = None
            await store.close()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/quotes/generate", self.faultable(self.generate_quote), methods=["POST"]),
            Route("/api/v1/quotes/{quote_id}", self.faultable(self.read_quote), methods=["GET"]),
            Route("/api/v1/imports/bulk", self.faultable(self.bulk_import), methods=["POST"]),
            Route("/status", self.status, methods=["GET"]),
            Route("/metrics", self.metrics_text, methods=["GET"]),
            Route(LOGIN_PATH, self.login_page, methods=["GET", "POST"]),
        ]

    def faultable(self, endpoint: Endpoint) -> Endpoint:
        """Answer 500 for `QUOTES_FAULT_ERROR_SHARE` of the requests, before any work."""

        async def maybe_fail(request: Request) -> Response:
            if self.faults.should_fail():
                share = self.config.faults.error_share
                return error(500, f"injected fault (QUOTES_FAULT_ERROR_SHARE={share:g})")
            return await endpoint(request)

        return maybe_fail

    # routes ---------------------------------------------------------------------------
    async def generate_quote(self, request: Request) -> Response:
        await self.faults.delay_generate()
        quote_request = parse_quote_request(await bounded_body(request))
        quote = await self.store.create_quote(quote_request)
        return JSONResponse(
            quote_document(quote, with_items=False),
            status_code=201,
            headers={"Location": f"/api/v1/quotes/{quote.quote_id}"},
        )

    async def read_quote(self, request: Request) -> Response:
        quote_id = parse_quote_id(request.path_params["quote_id"])
        quote = await self.store.read_quote(quote_id)
        if quote is None:
            return error(404, f"quote {quote_id} not found")
        return JSONResponse(quote_document(quote, with_items=True))

    async def bulk_import(self, request: Request) -> Response:
        prices = parse_price_rows(await bounded_body(request))
        imported = await self.store.upsert_prices(prices)
        return JSONResponse({"imported": imported}, status_code=202)

    async def status(self, _request: Request) -> Response:
        if self.config.faults.status_unchecked:  # test-only: a status page that checks nothing
            return PlainTextResponse(STATUS_OK)
        if await self.store.ping():
            return PlainTextResponse(STATUS_OK)
        return PlainTextResponse(STATUS_DEGRADED, status_code=503)

    async def metrics_text(self, _request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def login_page(self, request: Request) -> Response:
        """A sign-in page that signs nobody in: it exists to be redirected to."""
        if request.method == "POST":
            message = "<p>Invalid user or password.</p>\n"
            return HTMLResponse(LOGIN_PAGE.format(message=message), status_code=401)
        return HTMLResponse(LOGIN_PAGE.format(message=""))


async def bounded_body(request: Request) -> bytes:
    """The request body, refused (413) past `MAX_BODY_BYTES` without reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLargeError
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise BodyTooLargeError
    return bytes(body)


class BodyTooLargeError(Exception):
    """The body is larger than `MAX_BODY_BYTES`; answered 413."""


async def bad_request(_request: Request, exc: Exception) -> Response:
    return error(400, str(exc))


async def too_large(_request: Request, _exc: Exception) -> Response:
    return error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")


async def database_unavailable(_request: Request, exc: Exception) -> Response:
    return error(503, f"database unavailable: {exc}")


def create_app(config: QuotesConfig, metrics: Metrics | None = None) -> ASGIApp:
    """The ASGI app: the routes, unknown paths redirected to /login, all observed."""
    service = QuotesService(config, metrics)
    routes = service.routes()
    app = Starlette(
        routes=routes,
        lifespan=service.lifespan,
        exception_handlers={
            BadRequestError: bad_request,
            BodyTooLargeError: too_large,
            DatabaseUnavailableError: database_unavailable,
        },
    )
    app.router.default = redirect_to_login
    app.router.redirect_slashes = False  # /status/ is an unknown path too: 302, not 307
    return RequestMetrics(app, routes, service.metrics)

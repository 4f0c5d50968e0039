"""Pure logic of the quotes API example: prices, bodies, route templates, settings, faults,
the seed data, and the routes that need no database, driven in-process (no server)."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg_pool import PoolTimeout
from starlette.routing import Route
from starlette.types import Message, Scope

from examples.quotes_api.__main__ import main as serve_main
from examples.quotes_api.app import UNMATCHED, QuotesService, create_app, handler_of
from examples.quotes_api.config import ConfigError, Faults, QuotesConfig, load_config
from examples.quotes_api.domain import (
    MAX_IMPORT_ROWS,
    MAX_ITEMS,
    BadRequestError,
    Item,
    PricedItem,
    derived_price_cents,
    parse_price_rows,
    parse_quote_id,
    parse_quote_request,
    price_items,
    price_to_cents,
    total_cents,
)
from examples.quotes_api.faults import FaultInjector
from examples.quotes_api.metrics import LATENCY_BUCKETS
from examples.quotes_api.schema import HEAD, MIGRATIONS, pending
from examples.quotes_api.seed import generate_quotes
from examples.quotes_api.seed import main as seed_main
from examples.quotes_api.store import is_unavailable

RULES = Path(__file__).resolve().parents[2] / "scenarios" / "quotes" / "alerts"
DSN = "postgresql://quotes@127.0.0.1:5432/quotes"
CONFIG = QuotesConfig(database_url=DSN)


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


# --- prices ------------------------------------------------------------------------------
def test_derived_prices_are_deterministic_and_in_range() -> None:
    assert derived_price_cents("QS-0001") == 40311  # pinned: a change would reprice everything
    assert derived_price_cents("widget") == 8141
    prices = {derived_price_cents(f"sku-{n}") for n in range(2000)}
    assert min(prices) >= 100
    assert max(prices) <= 100_000
    assert len(prices) > 1900  # spread, not a handful of values


def test_imported_prices_override_derived_ones() -> None:
    items = (Item("a", 2), Item("b", 3))
    priced = price_items(items, {"b": 250})
    assert priced == (PricedItem("a", 2, derived_price_cents("a")), PricedItem("b", 3, 250))
    assert total_cents(priced) == 2 * derived_price_cents("a") + 750


@pytest.mark.parametrize(
    ("price", "cents"), [(19.99, 1999), (0, 0), (5, 500), (0.1, 10), (1_000_000, 100_000_000)]
)
def test_prices_become_whole_cents(price: float, cents: int) -> None:
    assert price_to_cents(price) == cents


@pytest.mark.parametrize(
    "price", [0.1 + 0.2, 1.005, -1, 1_000_000.01, float("inf"), float("nan"), True, "5", None]
)
def test_prices_that_are_not_exact_cents_in_range_are_refused(price: Any) -> None:
    with pytest.raises(BadRequestError):
        price_to_cents(price)


# --- bodies ------------------------------------------------------------------------------
def test_a_quote_request_is_read() -> None:
    request = parse_quote_request(
        body(
            {
                "customer": "acme",
                "items": [{"sku": "a", "quantity": 1}, {"sku": "b", "quantity": 7}],
            }
        )
    )
    assert request.customer == "acme"
    assert request.items == (Item("a", 1), Item("b", 7))


def items(count: int) -> list[dict[str, Any]]:
    return [{"sku": f"s{n}", "quantity": 1} for n in range(count)]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (body([]), "JSON object"),
        (body({"customer": "c", "items": items(1), "extra": 1}), "unknown field"),
        (body({"items": items(1)}), "customer"),
        (body({"customer": "  ", "items": items(1)}), "customer"),
        (body({"customer": 5, "items": items(1)}), "customer"),
        (body({"customer": "c" * 201, "items": items(1)}), "customer"),
        (body({"customer": "c"}), "items"),
        (body({"customer": "c", "items": []}), "items"),
        (body({"customer": "c", "items": items(MAX_ITEMS + 1)}), "items"),
        (body({"customer": "c", "items": ["a"]}), r"items\[0\]"),
        (body({"customer": "c", "items": [{"sku": "", "quantity": 1}]}), r"items\[0\]\.sku"),
        (body({"customer": "c", "items": [{"sku": "a", "quantity": 0}]}), "quantity"),
        (body({"customer": "c", "items": [{"sku": "a", "quantity": "1"}]}), "quantity"),
        (body({"customer": "c", "items": [{"sku": "a", "quantity": True}]}), "quantity"),
        (body({"customer": "c", "items": [{"sku": "a", "quantity": 1.0}]}), "quantity"),
        (body({"customer": "c", "items": [{"sku": "a", "quantity": 100_001}]}), "quantity"),
        (body({"customer": "c", "items": [{"sku": "a"}]}), "quantity"),
        (body({"customer": "c", "items": [{"sku": "a", "quantity": 1, "x": 0}]}), "unknown"),
    ],
)
def test_bad_quote_requests_are_refused_naming_the_problem(raw: bytes, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        parse_quote_request(raw)


def test_exactly_the_maximum_of_items_is_accepted() -> None:
    request = parse_quote_request(body({"customer": "c", "items": items(MAX_ITEMS)}))
    assert len(request.items) == MAX_ITEMS


def test_price_rows_are_read_and_a_repeated_sku_keeps_its_last_price() -> None:
    rows = [{"sku": "a", "price": 1.5}, {"sku": "b", "price": 2}, {"sku": "a", "price": 3.25}]
    assert parse_price_rows(body({"rows": rows})) == {"a": 325, "b": 200}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "rows"),
        ({"rows": []}, "rows"),
        ({"rows": [{"sku": "a", "price": 1}] * (MAX_IMPORT_ROWS + 1)}, "rows"),
        ({"rows": [{"sku": "a"}]}, r"rows\[0\]\.price"),
        ({"rows": [{"sku": "a", "price": -1}]}, r"rows\[0\]\.price"),
        ({"rows": [{"sku": "a", "price": 1.234}]}, "two decimals"),
        ({"rows": [{"sku": 1, "price": 1}]}, r"rows\[0\]\.sku"),
        ({"rows": {"sku": "a"}}, "rows"),
    ],
)
def test_bad_price_rows_are_refused(document: Any, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        parse_price_rows(body(document))


def test_infinity_in_json_is_not_a_price() -> None:
    with pytest.raises(BadRequestError, match="finite"):
        parse_price_rows(b'{"rows": [{"sku": "a", "price": Infinity}]}')


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), ("42", 42), (str(2**63 - 1), 2**63 - 1)])
def test_quote_ids_are_positive_bigints(raw: str, expected: int) -> None:
    assert parse_quote_id(raw) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.5", "1e3", " 1", "\u0663", str(2**63)])
def test_other_quote_ids_are_bad_requests(raw: str) -> None:
    with pytest.raises(BadRequestError, match="quote id"):
        parse_quote_id(raw)


# --- route templates -------------------------------------------------------------------
def http_scope(path: str, method: str = "GET") -> Scope:
    return {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}


@pytest.mark.parametrize(
    ("path", "method", "handler"),
    [
        ("/api/v1/quotes/generate", "POST", "/api/v1/quotes/generate"),
        ("/api/v1/quotes/17", "GET", "/api/v1/quotes/{quote_id}"),
        ("/api/v1/quotes/generate", "GET", "/api/v1/quotes/{quote_id}"),  # a bad id: 400
        ("/api/v1/quotes/17", "DELETE", "/api/v1/quotes/{quote_id}"),  # 405 keeps its route
        ("/api/v1/imports/bulk", "POST", "/api/v1/imports/bulk"),
        ("/status", "GET", "/status"),
        ("/metrics", "GET", "/metrics"),
        ("/login", "POST", "/login"),
        ("/status/", "GET", UNMATCHED),
        ("/healthz", "GET", UNMATCHED),
        ("/api/v1/quotes", "GET", UNMATCHED),
        ("/api/v1/quotes/1/items", "GET", UNMATCHED),
    ],
)
def test_every_request_is_labelled_by_its_route_template(
    path: str, method: str, handler: str
) -> None:
    routes = [route for route in QuotesService(CONFIG).routes() if isinstance(route, Route)]
    assert handler_of(routes, http_scope(path, method)) == handler


# --- the app in-process, on routes that need no database ------------------------------
def call(
    config: QuotesConfig, method: str, path: str, payload: bytes = b""
) -> tuple[int, dict[str, str], bytes, bytes]:
    """One request through the ASGI app (no lifespan: no database), then its /metrics."""
    app = create_app(config)

    async def request(method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        scope: Scope = {
            **http_scope(path, method),
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "http",
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"host", b"quotes.test")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        messages: list[Message] = []
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: Message) -> None:
            messages.append(message)

        await app(scope, receive, send)
        start = next(m for m in messages if m["type"] == "http.response.start")
        headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        content = b"".join(
            m.get("body", b"") for m in messages if m["type"] == "http.response.body"
        )
        return int(start["status"]), headers, content

    async def both() -> tuple[int, dict[str, str], bytes, bytes]:
        status, headers, content = await request(method, path)
        _, _, metrics = await request("GET", "/metrics")
        return status, headers, content, metrics

    return asyncio.run(both())


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/admin"), ("POST", "/api/v2/quotes"), ("GET", "/status/")],
)
def test_unknown_paths_redirect_to_login_and_count_as_unmatched(method: str, path: str) -> None:
    status, headers, _, metrics = call(CONFIG, method, path)
    assert status == 302
    assert headers["location"] == "/login"
    expected = f'quotes_requests_total{{code="302",handler="<unmatched>",method="{method}"}} 1.0'
    assert expected in metrics.decode()


def test_the_login_page_is_html_and_signs_nobody_in() -> None:
    status, headers, content, _ = call(CONFIG, "GET", "/login")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert b"<form" in content
    status, headers, _, _ = call(CONFIG, "POST", "/login", b"user=a&password=b")
    assert status == 401
    assert headers["content-type"].startswith("text/html")


def test_a_known_path_with_another_method_is_405_not_a_redirect() -> None:
    status, _, _, metrics = call(CONFIG, "DELETE", "/api/v1/quotes/1")
    assert status == 405
    assert 'handler="/api/v1/quotes/{quote_id}",method="DELETE"' in metrics.decode()


def test_the_error_fault_answers_500_before_touching_the_database() -> None:
    faulted = QuotesConfig(database_url=DSN, faults=Faults(error_share=1.0))
    status, _, content, metrics = call(faulted, "GET", "/api/v1/quotes/1")
    assert status == 500
    assert "QUOTES_FAULT_ERROR_SHARE=1" in json.loads(content)["error"]
    assert 'quotes_fault{fault="error_share"} 1.0' in metrics.decode()


def test_the_unchecked_status_fault_says_ok_in_plain_text_without_a_database() -> None:
    faulted = QuotesConfig(database_url=DSN, faults=Faults(status_unchecked=True))
    status, headers, content, _ = call(faulted, "GET", "/status")
    assert (status, content) == (200, b"OK")
    assert headers["content-type"].startswith("text/plain")


def test_metrics_have_their_own_names_and_fine_buckets_around_the_bound() -> None:
    _, headers, text, _ = call(CONFIG, "GET", "/metrics")
    assert headers["content-type"].startswith("text/plain; version=")
    for name in ("quotes_request_seconds", "quotes_requests_total", "quotes_db_seconds"):
        assert f"# TYPE {name.removesuffix('_total')}" in text.decode()
    assert {0.8, 0.9, 1.0} <= set(LATENCY_BUCKETS)


# --- settings ----------------------------------------------------------------------------
def test_settings_default_to_no_fault_and_a_one_second_timeout() -> None:
    config = load_config({"QUOTES_DATABASE_URL": DSN})
    assert config.db_timeout_seconds == 1.0
    assert config.faults == Faults()
    assert not config.faults.describe()
    assert DSN not in repr(config)


def test_a_delay_alone_delays_every_generate() -> None:
    faults = load_config(
        {"QUOTES_DATABASE_URL": DSN, "QUOTES_FAULT_GENERATE_DELAY_SECONDS": "1.2"}
    ).faults
    assert (faults.generate_delay_seconds, faults.generate_delay_share) == (1.2, 1.0)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({}, "QUOTES_DATABASE_URL"),
        ({"QUOTES_DATABASE_URL": "  "}, "QUOTES_DATABASE_URL"),
        ({"QUOTES_DATABASE_URL": "host=127.0.0.1 port"}, "QUOTES_DATABASE_URL"),
        ({"QUOTES_DB_TIMEOUT_SECONDS": "0"}, "QUOTES_DB_TIMEOUT_SECONDS"),
        ({"QUOTES_DB_TIMEOUT_SECONDS": "soon"}, "QUOTES_DB_TIMEOUT_SECONDS"),
        ({"QUOTES_FAULT_GENERATE_DELAY_SECONDS": "-1"}, "QUOTES_FAULT_GENERATE_DELAY_SECONDS"),
        ({"QUOTES_FAULT_GENERATE_DELAY_SHARE": "0.5"}, "QUOTES_FAULT_GENERATE_DELAY_SHARE"),
        ({"QUOTES_FAULT_ERROR_SHARE": "1.5"}, "QUOTES_FAULT_ERROR_SHARE"),
        ({"QUOTES_FAULT_ERROR_SHARE": "nan"}, "QUOTES_FAULT_ERROR_SHARE"),
        ({"QUOTES_FAULT_STATUS_UNCHECKED": "yes"}, "QUOTES_FAULT_STATUS_UNCHECKED"),
    ],
)
def test_a_missing_or_malformed_setting_is_named(environ: dict[str, str], named: str) -> None:
    full = {"QUOTES_DATABASE_URL": DSN, **environ} if named != "QUOTES_DATABASE_URL" else environ
    with pytest.raises(ConfigError, match=named) as raised:
        load_config(full)
    assert "\n" not in str(raised.value)


def test_a_malformed_dsn_is_not_echoed() -> None:
    secret = "postgresql://u:hunter2@[::1/db"  # libpq's message quotes the whole URL
    with pytest.raises(ConfigError) as raised:
        load_config({"QUOTES_DATABASE_URL": secret})
    assert "hunter2" not in str(raised.value)


def test_the_server_exits_2_with_one_line_on_a_missing_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("QUOTES_DATABASE_URL", raising=False)
    assert serve_main(["--port", "8080"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "QUOTES_DATABASE_URL" in lines[0]


def test_the_server_refuses_a_non_loopback_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_main(["--host", "0.0.0.0"])  # noqa: S104 - refused == 2
    assert "loopback" in capsys.readouterr().err


# --- faults ------------------------------------------------------------------------------
def test_no_fault_never_fires_and_a_full_share_always_does() -> None:
    quiet = FaultInjector(Faults())
    assert not any(quiet.should_fail() for _ in range(1000))
    assert all(quiet.generate_delay_seconds() == 0 for _ in range(1000))
    loud = FaultInjector(
        Faults(generate_delay_seconds=1.5, generate_delay_share=1.0, error_share=1)
    )
    assert all(loud.should_fail() for _ in range(1000))
    assert all(loud.generate_delay_seconds() == 1.5 for _ in range(1000))


def test_fault_shares_are_honoured_and_reproducible() -> None:
    faults = Faults(generate_delay_seconds=1.0, generate_delay_share=0.25, error_share=0.1)
    first, second = FaultInjector(faults), FaultInjector(faults)
    draws = [first.should_fail() for _ in range(10_000)]
    assert draws == [second.should_fail() for _ in range(10_000)]
    assert 800 < sum(draws) < 1200
    delays = [first.generate_delay_seconds() for _ in range(10_000)]
    assert 2200 < sum(delay > 0 for delay in delays) < 2800


# --- database errors, schema, seed -------------------------------------------------------
def test_database_failures_are_told_from_bugs() -> None:
    assert is_unavailable(TimeoutError())
    assert is_unavailable(PoolTimeout())
    assert is_unavailable(psycopg.OperationalError("connection refused"))
    assert not is_unavailable(psycopg.errors.SyntaxError("oops"))
    assert not is_unavailable(KeyError("bug"))


def test_the_migration_head_is_the_last_migration() -> None:
    assert HEAD == "0002_prices"
    assert [migration.version for migration in MIGRATIONS] == ["0001_quotes", "0002_prices"]
    assert pending({"0001_quotes"}) == (MIGRATIONS[1],)
    assert pending({"0001_quotes", "0002_prices"}) == ()


def test_seed_quotes_are_deterministic_and_numbered_from_one() -> None:
    quotes = generate_quotes(300, seed=7)
    assert quotes == generate_quotes(300, seed=7)
    assert quotes != generate_quotes(300, seed=8)
    assert [quote.quote_id for quote in quotes] == list(range(1, 301))
    assert all(1 <= len(quote.items) <= 5 for quote in quotes)
    assert all(quote.total_cents == total_cents(quote.items) > 0 for quote in quotes)
    assert generate_quotes(0) == ()


def test_seed_cli_exits_2_with_one_line_without_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("QUOTES_DATABASE_URL", raising=False)
    assert seed_main(["--quotes", "5"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["quotes_api.seed: missing required environment variable QUOTES_DATABASE_URL"]


def test_seed_cli_reports_an_unreachable_database_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as unused:  # bound, never listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        monkeypatch.setenv("QUOTES_DATABASE_URL", f"postgresql://u:p@127.0.0.1:{port}/db")
        assert seed_main(["--quotes", "5"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("quotes_api.seed: seeding failed: OperationalError")


# --- alert rules ---------------------------------------------------------------------------
def test_the_alert_rules_are_its_own_with_labels_and_annotations() -> None:
    document = yaml.safe_load((RULES / "quotes.rules.yml").read_text())
    rules = {rule["alert"]: rule for group in document["groups"] for rule in group["rules"]}
    assert set(rules) == {"QuotesGenerateSlow", "QuotesErrorBudgetBurn", "QuotesDown"}
    assert {name: rule["for"] for name, rule in rules.items()} == {
        "QuotesGenerateSlow": "5m",
        "QuotesErrorBudgetBurn": "5m",
        "QuotesDown": "1m",
    }
    for rule in rules.values():
        assert rule["labels"]["severity"] == "page"
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
        assert "http_request" not in rule["expr"]  # the reference target's names, not ours
    assert 'handler="/api/v1/quotes/generate"' in rules["QuotesGenerateSlow"]["expr"]
    assert "> 0.9" in rules["QuotesGenerateSlow"]["expr"]
    assert "> 0.005" in rules["QuotesErrorBudgetBurn"]["expr"]
    assert rules["QuotesDown"]["expr"] == 'up{job="quotes"} == 0'


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not on PATH")
@pytest.mark.parametrize(
    "arguments",
    [("check", "rules", "quotes.rules.yml"), ("test", "rules", "tests/quotes.test.yml")],
)
def test_promtool_accepts_the_rules_and_their_tests_pass(arguments: tuple[str, ...]) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None
    result = subprocess.run(
        [promtool, *arguments], cwd=RULES, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr

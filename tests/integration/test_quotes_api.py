"""The quotes API example against a real Postgres, run as `python -m examples.quotes_api`.

Every route's status and body, the 302 to /login on an unknown path, the plain-text
/status (and its 503 when Postgres hangs or is gone, within the timeout), the metric
names, the fault knobs, the seed command and the migration head. The session's Postgres
holds a database of this module's own; the outage test starts a Postgres of its own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from examples.quotes_api.domain import derived_price_cents
from examples.quotes_api.seed import generate_quotes
from fixtures.lifecycle.ports import LOOPBACK, PortAllocator
from fixtures.providers.postgres import PostgresEndpoint
from system.deadline import NotYet, WaitTimeoutError, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PORTS = PortAllocator()
HTTP_TIMEOUT = 10.0
START_DEADLINE_SECONDS = 20.0
SEEDED_QUOTES = 40
SHORT_TIMEOUT = 0.5  # QUOTES_DB_TIMEOUT_SECONDS of the instance whose database fails
ANSWER_BOUND = SHORT_TIMEOUT + 1.0  # a failing database is answered within this, never hung
SLO_SECONDS = 0.9  # the bound of QuotesGenerateSlow


# --- the app process ---------------------------------------------------------------------
@dataclass(frozen=True)
class QuotesApp:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=HTTP_TIMEOUT, allow_redirects=False)

    def post(self, path: str, document: Any) -> requests.Response:
        data = document if isinstance(document, bytes) else json.dumps(document)
        headers = {"Content-Type": "application/json"}
        return requests.post(
            self.url + path, data=data, headers=headers, timeout=HTTP_TIMEOUT, allow_redirects=False
        )

    def generate(self, customer: str, items: list[tuple[str, int]]) -> requests.Response:
        body = {"customer": customer, "items": [{"sku": s, "quantity": q} for s, q in items]}
        return self.post("/api/v1/quotes/generate", body)

    def metrics(self) -> Metrics:
        answer = self.get("/metrics")
        assert answer.status_code == 200, answer.text
        return Metrics(answer.text)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


class Metrics:
    """A parsed /metrics page."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}

    def value(self, sample: str, **labels: str) -> float:
        """The sum of the samples named `sample` whose labels include `labels` (0 if none)."""
        return sum(
            found.value
            for family in self.families.values()
            for found in family.samples
            if found.name == sample and labels.items() <= found.labels.items()
        )

    def label_values(self, sample: str, label: str) -> set[str]:
        return {
            found.labels[label]
            for family in self.families.values()
            for found in family.samples
            if found.name == sample and label in found.labels
        }


def quotes_environment(database_url: str, **settings: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("QUOTES_")}
    return {**inherited, "QUOTES_DATABASE_URL": database_url, **settings}


@contextmanager
def running_app(database_url: str, **settings: str) -> Iterator[QuotesApp]:
    """The app on a free loopback port, answering HTTP (not necessarily with a database);
    always stopped afterwards."""
    port = PORTS.reserve()
    log_dir = Path(tempfile.mkdtemp(prefix="quotes-api-"))
    log_path = log_dir / "app.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.quotes_api", "--host", LOOPBACK, "--port", str(port)],
            cwd=ROOT,
            env=quotes_environment(database_url, **settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    app = QuotesApp(f"http://{LOOPBACK}:{port}", process, log_path)
    try:
        wait_until_answering(app)
        yield app
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log_path.unlink(missing_ok=True)
        log_dir.rmdir()


def wait_until_answering(app: QuotesApp) -> None:
    def answering() -> bool:
        if app.process.poll() is not None:
            pytest.fail(f"the quotes API exited with {app.process.returncode}:\n{app.log()}")
        return app.get("/login").status_code == 200

    try:
        wait_until(
            answering,
            seconds=START_DEADLINE_SECONDS,
            what="the quotes API answering /login",
            retry_on=(requests.ConnectionError,),
        )
    except WaitTimeoutError as timeout:
        pytest.fail(f"{timeout}:\n{app.log()}")


def eventually_answers(app: QuotesApp, code: int, seconds: float = 15.0) -> None:
    """Until /status answers `code`; else a failure naming its last answer, with the log."""

    def answers() -> bool | NotYet:
        status = app.get("/status").status_code
        return status == code or NotYet(f"HTTP {status}")

    try:
        wait_until(answers, seconds=seconds, what=f"/status answering {code}")
    except WaitTimeoutError as timeout:
        pytest.fail(f"{timeout}:\n{app.log()}")


def timed(call: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    started = time.perf_counter()
    answer = call()
    return answer, time.perf_counter() - started


def run_seed(database_url: str | None, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = quotes_environment(database_url or "")
    if database_url is None:
        del environment["QUOTES_DATABASE_URL"]
    return subprocess.run(
        [sys.executable, "-m", "examples.quotes_api.seed", *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def database_url(postgres: PostgresEndpoint) -> Iterator[str]:
    """A database of this module's own in the session's Postgres, dropped afterwards."""
    name = f"quotes_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")  # a generated identifier, not input
    try:
        yield dataclasses.replace(postgres, dbname=name).dsn
    finally:
        with psycopg.connect(postgres.dsn, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def app(database_url: str) -> Iterator[QuotesApp]:
    """The API, seeded, with no fault, ready (its /status says OK)."""
    seeded = run_seed(database_url, "--quotes", str(SEEDED_QUOTES))
    assert seeded.returncode == 0, seeded.stderr
    with running_app(database_url) as running:
        eventually_answers(running, 200)
        yield running


# --- routes ------------------------------------------------------------------------------
def test_seed_gives_ids_1_to_n_at_the_migration_head_and_new_quotes_follow(
    app: QuotesApp, database_url: str
) -> None:
    seeded = run_seed(database_url, "--quotes", "25")
    assert seeded.returncode == 0, seeded.stderr
    assert len(seeded.stdout.strip().splitlines()) == 1
    assert seeded.stdout.startswith("seeded 25 quotes")
    with psycopg.connect(database_url) as connection:
        ids = connection.execute("SELECT min(id), max(id), count(*) FROM quotes").fetchone()
        assert ids == (1, 25, 25)
        head = connection.execute("SELECT max(version) FROM schema_migrations").fetchone()
        assert head == ("0002_prices",)
        versions = connection.execute("SELECT version FROM schema_migrations ORDER BY 1")
        assert versions.fetchall() == [("0001_quotes",), ("0002_prices",)]
    expected = generate_quotes(25)[-1]
    answer = app.get("/api/v1/quotes/25")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "quote_id": 25,
        "customer": expected.customer,
        "total": expected.total_cents / 100,
        "items": [
            {
                "sku": item.sku,
                "quantity": item.quantity,
                "unit_price": item.unit_cents / 100,
                "line_total": item.line_cents / 100,
            }
            for item in expected.items
        ],
    }
    assert app.get("/api/v1/quotes/26").status_code == 404
    created = app.generate("after-seed", [("QS-0001", 1)])
    assert created.status_code == 201, created.text
    assert created.json()["quote_id"] == 26


def test_seed_without_its_variable_exits_2_with_one_line() -> None:
    result = run_seed(None, "--quotes", "3")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "quotes_api.seed: missing required environment variable QUOTES_DATABASE_URL"
    ]


def test_generate_stores_the_quote_and_it_reads_back(app: QuotesApp) -> None:
    answer = app.generate("acme", [("widget", 3), ("gadget", 1)])
    assert answer.status_code == 201, answer.text
    created = answer.json()
    expected_cents = 3 * derived_price_cents("widget") + derived_price_cents("gadget")
    assert set(created) == {"quote_id", "customer", "total"}
    assert created["customer"] == "acme"
    assert created["total"] == expected_cents / 100
    assert answer.headers["Location"] == f"/api/v1/quotes/{created['quote_id']}"
    read = app.get(f"/api/v1/quotes/{created['quote_id']}")
    assert read.status_code == 200
    assert read.headers["content-type"] == "application/json"
    document = read.json()
    assert {k: document[k] for k in ("quote_id", "customer", "total")} == created
    assert [(item["sku"], item["quantity"]) for item in document["items"]] == [
        ("widget", 3),
        ("gadget", 1),
    ]


def test_bulk_import_overrides_the_derived_prices(app: QuotesApp) -> None:
    rows = [
        {"sku": "imported-a", "price": 12.5},
        {"sku": "imported-b", "price": 0.99},
        {"sku": "imported-a", "price": 10},  # the last price of a sku wins
    ]
    answer = app.post("/api/v1/imports/bulk", {"rows": rows})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"imported": 2}
    quote = app.generate("importer", [("imported-a", 2), ("imported-b", 3)])
    assert quote.status_code == 201, quote.text
    assert quote.json()["total"] == 22.97
    many = [{"sku": f"bulk-{n}", "price": n / 100} for n in range(500)]
    assert app.post("/api/v1/imports/bulk", {"rows": many}).json() == {"imported": 500}


@pytest.mark.parametrize(
    ("method", "path", "document"),
    [
        ("POST", "/api/v1/quotes/generate", b"{not json"),
        ("POST", "/api/v1/quotes/generate", {"customer": "c", "items": []}),
        ("POST", "/api/v1/quotes/generate", {"customer": "c", "items": [{"sku": "a"}]}),
        ("POST", "/api/v1/quotes/generate", {"items": [{"sku": "a", "quantity": 1}]}),
        ("POST", "/api/v1/imports/bulk", {"rows": []}),
        ("POST", "/api/v1/imports/bulk", {"rows": [{"sku": "a", "price": -1}]}),
        ("POST", "/api/v1/imports/bulk", {"rows": [{"sku": "a", "price": 1}] * 501}),
        ("GET", "/api/v1/quotes/abc", None),
        ("GET", "/api/v1/quotes/0", None),
        ("GET", f"/api/v1/quotes/{2**63}", None),
    ],
)
def test_bad_requests_are_400_with_an_error(
    app: QuotesApp, method: str, path: str, document: Any
) -> None:
    answer = app.get(path) if method == "GET" else app.post(path, document)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]


def test_an_unknown_quote_is_404(app: QuotesApp) -> None:
    answer = app.get("/api/v1/quotes/987654321")
    assert answer.status_code == 404
    assert "987654321" in answer.json()["error"]


def test_status_is_plain_text_ok(app: QuotesApp) -> None:
    answer = app.get("/status")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == "OK"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/healthz"), ("GET", "/api/v1/quotes"), ("POST", "/entities")],
)
def test_unknown_paths_redirect_to_the_login_page(app: QuotesApp, method: str, path: str) -> None:
    answer = app.get(path) if method == "GET" else app.post(path, {})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login"
    # What a client that follows redirects sees: a 200 that is not the API's answer.
    followed = requests.request(method, app.url + path, timeout=HTTP_TIMEOUT)
    assert followed.status_code == 200
    assert followed.url == app.url + "/login"
    assert followed.headers["content-type"].startswith("text/html")
    assert "<form" in followed.text


def test_metrics_carry_the_apps_own_names_and_labels(app: QuotesApp) -> None:
    created = app.generate("metrics", [("QS-0002", 1)])
    assert created.status_code == 201
    assert app.get(f"/api/v1/quotes/{created.json()['quote_id']}").status_code == 200
    assert app.post("/api/v1/imports/bulk", {"rows": [{"sku": "m", "price": 1}]}).ok
    assert app.get("/status").status_code == 200
    assert app.get("/no/such/page").status_code == 302
    metrics = app.metrics()
    assert metrics.families["quotes_request_seconds"].type == "histogram"
    assert metrics.families["quotes_requests"].type == "counter"
    assert metrics.families["quotes_db_seconds"].type == "histogram"
    for absent in ("http_requests", "http_request_duration_seconds"):
        assert absent not in metrics.families
    samples = metrics.families["quotes_request_seconds"].samples
    assert {"handler", "method", "code"} <= set(samples[0].labels)
    assert {
        "/api/v1/quotes/generate",
        "/api/v1/quotes/{quote_id}",
        "/api/v1/imports/bulk",
        "/status",
        "<unmatched>",
    } <= metrics.label_values("quotes_requests_total", "handler")
    assert metrics.value("quotes_requests_total", handler="<unmatched>", code="302") >= 1
    assert (
        metrics.value("quotes_request_seconds_count", handler="/api/v1/quotes/generate", code="201")
        >= 1
    )
    assert "0.9" in metrics.label_values("quotes_request_seconds_bucket", "le")
    assert {"insert_quote", "select_quote", "upsert_prices", "ping"} <= metrics.label_values(
        "quotes_db_seconds_count", "statement"
    )


# --- faults ------------------------------------------------------------------------------
def test_the_generate_delay_makes_generate_slower_than_the_bound(
    app: QuotesApp, database_url: str
) -> None:
    with running_app(database_url, QUOTES_FAULT_GENERATE_DELAY_SECONDS="1.0") as slow:
        eventually_answers(slow, 200)
        for _ in range(2):
            answer, seconds = timed(lambda: slow.generate("slow", [("QS-0003", 1)]))
            assert answer.status_code == 201, answer.text
            assert seconds >= 1.0
        read, seconds = timed(lambda: slow.get(f"/api/v1/quotes/{answer.json()['quote_id']}"))
        assert read.status_code == 200
        assert seconds < SLO_SECONDS  # only generate is delayed
        metrics = slow.metrics()
    generate = {"handler": "/api/v1/quotes/generate", "code": "201"}
    assert metrics.value("quotes_request_seconds_count", **generate) == 2
    assert metrics.value("quotes_request_seconds_bucket", le="0.9", **generate) == 0
    assert metrics.value("quotes_fault", fault="generate_delay_seconds") == 1.0
    fast, seconds = timed(lambda: app.generate("fast", [("QS-0003", 1)]))
    assert fast.status_code == 201
    assert seconds < SLO_SECONDS


@pytest.mark.usefixtures("app")  # seeded: quote 1 exists
def test_the_error_share_answers_500_on_the_api_only(database_url: str) -> None:
    with running_app(database_url, QUOTES_FAULT_ERROR_SHARE="0.5") as failing:
        eventually_answers(failing, 200)
        answers = [failing.get("/api/v1/quotes/1") for _ in range(60)]
        assert all(failing.get("/status").status_code == 200 for _ in range(10))
        assert all(failing.get("/login").status_code == 200 for _ in range(10))
        metrics = failing.metrics()
    codes = [answer.status_code for answer in answers]
    assert set(codes) == {200, 500}
    assert 15 <= codes.count(500) <= 45
    injected = next(answer for answer in answers if answer.status_code == 500)
    assert injected.json() == {"error": "injected fault (QUOTES_FAULT_ERROR_SHARE=0.5)"}
    quote = {"handler": "/api/v1/quotes/{quote_id}", "method": "GET"}
    assert metrics.value("quotes_requests_total", code="500", **quote) == codes.count(500)
    assert metrics.value("quotes_requests_total", code="200", **quote) == codes.count(200)
    assert metrics.value("quotes_fault", fault="error_share") == 0.5


def test_status_degrades_within_the_timeout_when_postgres_hangs_or_is_gone(
    postgres_factory: Callable[..., Any],
) -> None:
    own = postgres_factory()
    url = own.endpoint.dsn
    with (
        running_app(url, QUOTES_DB_TIMEOUT_SECONDS=str(SHORT_TIMEOUT)) as checked,
        running_app(url, QUOTES_FAULT_STATUS_UNCHECKED="1") as unchecked,
    ):
        eventually_answers(checked, 200)
        assert checked.generate("before", [("QS-0004", 1)]).status_code == 201

        own.pause()  # frozen: connections stay open, nothing answers
        try:
            status, seconds = timed(lambda: checked.get("/status"))
            assert (status.status_code, status.text) == (503, "DEGRADED: database")
            assert status.headers["content-type"].startswith("text/plain")
            assert seconds < ANSWER_BOUND
            generate, seconds = timed(lambda: checked.generate("during", [("QS-0004", 1)]))
            assert generate.status_code == 503
            assert generate.json()["error"].startswith("database unavailable")
            assert seconds < ANSWER_BOUND
        finally:
            own.resume()
        eventually_answers(checked, 200)

        own.kill()  # gone (SIGKILL): a stop would wait for the app's connections to end
        status, seconds = timed(lambda: checked.get("/status"))
        assert (status.status_code, status.text) == (503, "DEGRADED: database")
        assert seconds < ANSWER_BOUND
        read, seconds = timed(lambda: checked.get("/api/v1/quotes/1"))
        assert read.status_code == 503
        assert seconds < ANSWER_BOUND
        # The faulted status page checks nothing: it says OK with no database at all.
        unchecked_status = unchecked.get("/status")
        assert (unchecked_status.status_code, unchecked_status.text) == (200, "OK")
        assert unchecked.get("/api/v1/quotes/1").status_code == 503

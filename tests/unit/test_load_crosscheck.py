"""Client P95 against the server's histogram: the tolerance rule, and the Prometheus API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from fixtures.lifecycle.loopback_http import serving
from load.crosscheck import (
    Agreement,
    Client,
    CrossCheckFailedError,
    Sample,
    ServerMetrics,
    bucket_of,
    crosscheck,
    judge,
    parse_vector,
    prometheus_query,
)
from load.errors import CrossCheckError
from tests.unit.load_samples import make_result

# The reference target's histograms (its description's [metrics]).
HTTP_METRIC = "http_request_duration_seconds"
DB_METRIC = "intelgraph_query_latency_seconds"
METRICS = ServerMetrics(
    HTTP_METRIC, exclude_routes=("/metrics", "/healthz"), parts=((DB_METRIC, ""),)
)

BOUNDS = [0.05, 0.1, 0.25, 0.5, 1.0, 1.25, 1.5, 2.0, 5.0, float("inf")]


def test_bucket_of() -> None:
    assert bucket_of(0.01, BOUNDS) == (0.0, 0.05)
    assert bucket_of(0.3, BOUNDS) == (0.25, 0.5)
    assert bucket_of(0.5, BOUNDS) == (0.25, 0.5)
    assert bucket_of(7.0, BOUNDS) is None


def test_http_agrees_within_bucket_width_plus_queueing_plus_network() -> None:
    client = Client(p95=0.52, queueing=0.0)
    ok = judge(HTTP_METRIC, "q", client, 0.30, BOUNDS, network=0.025)
    assert ok.agreement is Agreement.AGREE
    assert ok.tolerance == pytest.approx(0.25 + 0.025)
    assert "bucket 0.25-0.5 s" in ok.message
    far = judge(HTTP_METRIC, "q", Client(p95=1.2, queueing=0.0), 0.30, BOUNDS, network=0.025)
    assert far.agreement is Agreement.DISAGREE
    assert "disagree" in far.message
    queued = judge(HTTP_METRIC, "q", Client(p95=1.2, queueing=0.8), 0.30, BOUNDS, network=0.025)
    assert queued.agreement is Agreement.AGREE, "client-side queueing explains the gap"


def test_a_database_query_may_be_faster_but_not_slower_than_the_request() -> None:
    fast_db = judge(
        DB_METRIC, "q", Client(p95=1.2, queueing=0.0), 0.02, BOUNDS, network=0.025, part=True
    )
    assert fast_db.agreement is Agreement.AGREE
    slow_db = judge(
        DB_METRIC, "q", Client(p95=0.2, queueing=0.0), 1.4, BOUNDS, network=0.025, part=True
    )
    assert slow_db.agreement is Agreement.DISAGREE


def test_missing_data_and_the_inf_bucket_are_not_ok() -> None:
    none = judge(HTTP_METRIC, "q", Client(0.2, 0.0), None, BOUNDS, network=0.025)
    assert none.agreement is Agreement.NO_DATA
    assert not none.ok
    top = judge(HTTP_METRIC, "q", Client(0.2, 0.0), 5.0, BOUNDS, network=0.025)
    assert top.agreement is Agreement.UNRESOLVED
    assert "+Inf bucket" in top.message


def test_parse_vector_rejects_errors_and_other_types() -> None:
    with pytest.raises(CrossCheckError, match="parse error"):
        parse_vector({"status": "error", "error": "parse error"}, "x(")
    with pytest.raises(CrossCheckError, match="'matrix'"):
        parse_vector({"status": "success", "data": {"resultType": "matrix", "result": []}}, "x")


class FakePrometheus(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, list[Sample]]] = {}
    seen: ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        params = parse_qs(urlsplit(self.path).query)
        self.seen.append(params)
        promql = params["query"][0]
        metric = HTTP_METRIC if HTTP_METRIC in promql else DB_METRIC
        kind = "quantile" if promql.startswith("histogram_quantile") else "buckets"
        result = [
            {"metric": dict(labels), "value": [0, str(value)]}
            for labels, value in self.answers.get(f"{metric}:{kind}", [])
        ]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    with serving(FakePrometheus) as url:
        yield url


def buckets(values: list[float]) -> list[Sample]:
    return [({"le": "+Inf" if v == float("inf") else str(v)}, 1.0) for v in values]


def test_crosscheck_against_a_prometheus_api(prometheus: str) -> None:
    FakePrometheus.seen.clear()
    FakePrometheus.answers = {
        f"{HTTP_METRIC}:quantile": [({}, 0.29)],
        f"{HTTP_METRIC}:buckets": buckets(BOUNDS),
        f"{DB_METRIC}:quantile": [({}, float("nan"))],
        f"{DB_METRIC}:buckets": [],
    }
    result = make_result([0.3] * 1000, seconds=60.0)
    check = crosscheck(result, prometheus, metrics=METRICS)
    http, db = check.comparisons
    assert http.agreement is Agreement.AGREE
    assert http.server_p95 == pytest.approx(0.29)
    assert db.agreement is Agreement.NO_DATA
    assert not check.ok
    with pytest.raises(CrossCheckFailedError, match="server P95 unknown"):
        check.require()
    first = FakePrometheus.seen[0]
    assert first["query"][0] == (
        f"histogram_quantile(0.95, sum by (le) (rate({HTTP_METRIC}_bucket"
        '{route!~"/metrics|/healthz"}[60s])))'
    )
    assert float(first["time"][0]) == pytest.approx(result.ended_at)


def test_a_selector_keeps_other_services_of_a_shared_prometheus_out() -> None:
    shared = ServerMetrics(
        "quotes_request_seconds",
        route_label="handler",
        selector='job="quotes"',
        exclude_routes=("/metrics", "/status"),
        parts=(("quotes_db_seconds", 'statement="ping"'),),
    )
    assert shared.http_matchers() == '{handler!~"/metrics|/status",job="quotes"}'
    assert shared.part_matchers('statement="ping"') == '{job="quotes",statement="ping"}'
    assert ServerMetrics("h").http_matchers() == ""


def test_an_unreachable_prometheus_is_an_error() -> None:
    query = prometheus_query("http://127.0.0.1:9", timeout=1.0)
    with pytest.raises(CrossCheckError, match="did not answer"):
        query("up", 0.0)

"""Rules against live series (`alerting/series.py`): the selectors a rule's expression
holds, and what a selector's live series make of it (pure logic; one test fakes the
Prometheus's answers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from alerting import series as live
from alerting.errors import LiveSeriesError
from alerting.rules import AlertRule, load_rules, rule_files
from alerting.series import (
    Grouping,
    Matcher,
    Selector,
    classify,
    classify_grouping,
    extract,
)
from system.loader import load_system

BUCKETS = [
    {"__name__": "latency_bucket", "job": "api", "database": "neo4j", "le": "0.1"},
    {"__name__": "latency_bucket", "job": "api", "database": "postgres", "le": "+Inf"},
]
REQUESTS = [
    {"__name__": "http_requests_total", "job": "api", "route": "/entities", "status": "200"},
    {"__name__": "http_requests_total", "job": "api", "route": "/metrics", "status": "200"},
    {"__name__": "http_requests_total", "job": "api", "route": "/graph", "status": "404"},
]


def texts(expr: str) -> list[str]:
    return [selector.text() for selector in extract(expr).selectors]


def selector(expr: str) -> Selector:
    (only,) = extract(expr).selectors
    return only


# --- extraction ---------------------------------------------------------------------


def test_every_selector_of_an_expression_is_found_once_with_its_matchers() -> None:
    expr = """
      sum by (job) (rate(http_requests_total{route!="/metrics", status=~"5.."}[5m]))
        / sum by (job) (rate(http_requests_total{route!="/metrics"}[5m])) > 0.01
    """
    assert texts(expr) == [
        'http_requests_total{route!="/metrics",status=~"5.."}',
        'http_requests_total{route!="/metrics"}',
    ]
    first = extract(expr).selectors[0]
    assert first.metric == "http_requests_total"
    assert first.matchers == (Matcher("route", "!=", "/metrics"), Matcher("status", "=~", "5.."))
    assert texts("up == 0 or up == 0") == ["up"]


def test_selectors_are_found_through_functions_subqueries_offsets_and_operators() -> None:
    expr = (
        "time() - last_success_seconds offset 5m > 35 * 86400"
        " and -max_over_time(queue_depth[10m:1m]) < topk(3, (errors_total @ 100))"
    )
    assert texts(expr) == ["last_success_seconds", "queue_depth", "errors_total"]


def test_selectors_inside_absent_are_exempt() -> None:
    assert texts('absent(up{job="api"}) or absent_over_time(pushed_total[1h])') == []
    assert texts('absent(up{job="api"}) or up{job="api"} == 0') == ['up{job="api"}']


def test_a_selector_without_a_metric_name_and_its_universe() -> None:
    named = selector('{__name__=~"a_total|b_total", job="api"}')
    assert named.metric is None
    assert named.universe() == '{__name__=~"a_total|b_total"}'
    assert named.label_matchers() == (Matcher("job", "=", "api"),)
    anonymous = selector('{job="api"}')
    assert anonymous.universe() == '{job="api"}'
    assert selector("up").universe() == '{__name__="up"}'


def test_a_value_with_quotes_and_backslashes_is_written_back_as_promql() -> None:
    assert texts(r'm{a="say \"hi\"", b=~"x\\.y"}') == [r'm{a="say \"hi\"",b=~"x\\.y"}']


def test_aggregation_groupings_name_the_selectors_they_group() -> None:
    expr = "histogram_quantile(0.95, sum by (job, database, le) (rate(latency_bucket[5m])))"
    (grouping,) = extract(expr).groupings
    assert grouping.clause == "sum by (job, database, le)"
    assert grouping.labels == ("job", "database", "le")
    assert [s.text() for s in grouping.selectors] == ["latency_bucket"]
    (without,) = extract("count without (instance) (up)").groupings
    assert without.clause == "count without (instance)"
    assert extract("sum(up)").groupings == ()


def test_labels_made_below_an_aggregation_are_known_to_it() -> None:
    expr = 'sum by (service) (label_replace(up, "service", "$1", "job", "(.*)"))'
    (grouping,) = extract(expr).groupings
    assert grouping.made == frozenset({"service"})
    (counted,) = extract('count by (version) (count_values("version", build_info))').groupings
    assert counted.made == frozenset({"version"})


def test_an_expression_that_does_not_parse_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="parenthesis"):
        extract("sum(rate(x[5m])")


def test_every_shipped_rule_parses_and_selects_something() -> None:
    for name in ("intelgraph", "quotes"):
        alerts = load_system(name).description.alerts
        assert alerts is not None
        for rule in load_rules(rule_files(alerts.rules)).values():
            assert extract(rule.expr).selectors, f"{rule.name} holds no selector"


# --- matchers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matcher", "needs"),
    [
        (Matcher("a", "=", "x"), True),
        (Matcher("a", "=", ""), False),
        (Matcher("a", "!=", "x"), False),
        (Matcher("a", "!=", ""), True),
        (Matcher("a", "=~", "5.."), True),
        (Matcher("a", "=~", ".+"), True),
        (Matcher("a", "=~", ".*"), False),
        (Matcher("a", "=~", "x|"), False),
        (Matcher("a", "!~", "x"), False),
        (Matcher("a", "!~", ""), True),
    ],
)
def test_a_matcher_needs_its_label_when_the_empty_value_fails_it(
    matcher: Matcher, needs: bool
) -> None:
    assert matcher.needs_label() is needs


def test_regular_expressions_are_anchored_as_in_prometheus() -> None:
    assert Matcher("status", "=~", "5..").matches("503") is True
    assert Matcher("status", "=~", "5..").matches("5030") is False
    assert Matcher("status", "=~", "(").matches("5") is None


# --- classification --------------------------------------------------------------------


def test_a_metric_without_series_is_a_problem_with_a_close_name_suggested() -> None:
    problems, notes = classify(selector("http_requests_totl"), [], ["http_requests_total", "up"])
    assert problems == ["no series named http_requests_totl (did you mean http_requests_total?)"]
    assert notes == []
    assert classify(selector("zzz"), [], ["up"])[0] == ["no series named zzz"]


def test_a_nameless_selector_selecting_nothing_names_itself() -> None:
    problems, _ = classify(selector('{job="gone"}'), [])
    assert problems == ['no series matches {job="gone"}']


def test_a_label_no_series_of_the_metric_has_is_a_problem_naming_the_labels_it_has() -> None:
    problems, notes = classify(selector('latency_bucket{databse="neo4j"}'), BUCKETS)
    assert problems == [
        "no series of latency_bucket has label databse (its labels: database, job, le)"
    ]
    assert notes == []


def test_a_matcher_the_empty_value_satisfies_needs_no_label() -> None:
    assert classify(selector('latency_bucket{databse!="x", zone=~".*"}'), BUCKETS) == ([], [])


def test_a_value_a_healthy_target_did_not_show_is_a_note_not_a_problem() -> None:
    problems, notes = classify(selector('http_requests_total{status=~"5.."}'), REQUESTS)
    assert problems == []
    assert notes == [
        'no series of http_requests_total has status=~"5.." (not seen on a healthy target)'
    ]


def test_matchers_seen_apart_but_never_together_are_a_note() -> None:
    together = selector('http_requests_total{route="/graph", status="200"}')
    assert classify(together, REQUESTS) == (
        [],
        ["no series of http_requests_total matches all its matchers (not seen on a healthy "
         "target)"],
    )  # fmt: skip
    assert classify(selector('http_requests_total{route="/graph"}'), REQUESTS) == ([], [])


def test_a_regex_python_cannot_read_is_noted_not_judged() -> None:
    unicode_class = selector(r'http_requests_total{status=~"\\pN+"}')  # RE2's, not Python's
    problems, notes = classify(unicode_class, REQUESTS)
    assert problems == []
    assert notes == [r'status=~"\\pN+": not checked (a regex Python' "'s re cannot read)"]


def test_a_grouping_label_no_series_has_is_a_problem() -> None:
    expr = "sum by (job, databse, le) (rate(latency_bucket[5m]))"
    (grouping,) = extract(expr).groupings
    series = {grouping.selectors[0]: BUCKETS}
    assert classify_grouping(grouping, series) == [
        "sum by (job, databse, le): no series of latency_bucket has label databse "
        "(its labels: database, job, le)"
    ]


def test_a_grouping_label_on_any_selector_below_or_made_there_is_fine() -> None:
    expr = "sum by (job, route) (rate(http_requests_total[5m]) / on (job) group_left up)"
    (grouping,) = extract(expr).groupings
    up = [{"__name__": "up", "job": "api", "instance": "x"}]
    below = dict(zip(grouping.selectors, [REQUESTS, up], strict=True))
    assert classify_grouping(grouping, below) == []
    made = Grouping("sum by (svc)", ("svc",), grouping.selectors, frozenset({"svc"}))
    assert classify_grouping(made, {grouping.selectors[1]: up}) == []


def test_a_grouping_over_selectors_without_series_says_nothing_more() -> None:
    (grouping,) = extract("sum by (nope) (gone_total)").groupings
    assert classify_grouping(grouping, {grouping.selectors[0]: []}) == []


# --- against a Prometheus's answers (faked) -------------------------------------------------


class FakeAnswer:
    def __init__(self, data: Any, status: int = 200) -> None:
        self.status_code = status
        self._body = {"status": "success" if status == 200 else "error", "data": data}
        if status != 200:
            self._body["error"] = "bad match[]"

    def json(self) -> dict[str, Any]:
        return self._body


def fake_prometheus(series: dict[str, list[dict[str, str]]], asked: list[dict[str, Any]]) -> Any:
    def get(url: str, params: dict[str, str], timeout: float) -> FakeAnswer:
        asked.append({"url": url, **params})
        if url.endswith("/api/v1/label/__name__/values"):
            return FakeAnswer(sorted({one["__name__"] for ones in series.values() for one in ones}))
        return FakeAnswer(series.get(params["match[]"], []))

    return get


def rule(name: str, expr: str) -> AlertRule:
    return AlertRule(name=name, expr=expr, for_seconds=0.0, file=Path("x.rules.yml"))


def test_rules_are_checked_against_the_prometheus_series_of_the_last_minutes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[dict[str, Any]] = []
    series = {'{__name__="latency_bucket"}': BUCKETS, '{__name__="http_requests_total"}': REQUESTS}
    monkeypatch.setattr(requests, "get", fake_prometheus(series, asked))
    rules = [
        rule("Slow", "histogram_quantile(0.95, sum by (job, le) (rate(latency_bucket[5m]))) > 1"),
        rule("Errors", 'sum(rate(http_requests_totl{status=~"5.."}[5m])) > 0'),
        rule("Typo", 'sum by (databse) (latency_bucket{databse="neo4j"}) > 0'),
        rule("Unseen", 'rate(http_requests_total{status=~"5.."}[5m]) > 0'),
        rule("Gone", "absent(never_pushed_seconds)"),
        rule("Broken", "sum(rate(x[5m])"),
    ]
    report = live.check_live_series("http://127.0.0.1:9090/", rules)
    assert [str(problem) for problem in report.problems] == [
        'Errors: http_requests_totl{status=~"5.."}: no series named http_requests_totl '
        "(did you mean http_requests_total?)",
        'Typo: latency_bucket{databse="neo4j"}: no series of latency_bucket has label databse '
        "(its labels: database, job, le)",
        'Typo: latency_bucket{databse="neo4j"}: sum by (databse): no series of latency_bucket '
        "has label databse (its labels: database, job, le)",
    ]
    assert report.failing_selectors == 2
    assert report.by_rule["Slow"] == ()
    assert len(report.by_rule["Typo"]) == 2
    assert [note.rule for note in report.notes] == ["Unseen", "Broken"]
    assert (report.rules, report.selectors) == (6, 4)
    assert "2 selector(s) of 6 rules select no live series" in report.summary()
    windows = {(float(one["end"]) - float(one["start"])) for one in asked}
    assert windows == {live.WINDOW_SECONDS}
    assert {one["url"] for one in asked} <= {
        "http://127.0.0.1:9090/api/v1/series",
        "http://127.0.0.1:9090/api/v1/label/__name__/values",
    }
    # each universe asked once, however many rules select from it
    assert sum(one.get("match[]") == '{__name__="latency_bucket"}' for one in asked) == 1


def test_a_prometheus_refusing_or_absent_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(requests, "get", lambda *_a, **_k: FakeAnswer(None, status=400))
    with pytest.raises(LiveSeriesError, match=r"refused /api/v1/series .* HTTP 400, bad"):
        live.check_live_series("http://127.0.0.1:9", [rule("R", "up == 0")])
    report = live.check_live_series("http://127.0.0.1:9", [])
    assert report.problems == ()
    assert report.summary().startswith("every selector of 0 rules")

"""The SLO page's end-to-end plan (`alerting/slo_e2e.py`): the rules' windows scaled, the
crossing math of a burst after a near miss, the phases' shares and bounds. The run itself
is in suites/alerts/test_slo_burn_rate.py and tests/integration/test_slo_faults.py."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from alerting.bounds import Timing
from alerting.errors import AlertRuleError
from alerting.rules import parse_duration
from alerting.slo import fires_after, load_windows, read_slo
from alerting.slo_e2e import (
    BURST_MULTIPLE,
    NEAR_MULTIPLE,
    check_scale,
    crossing_from,
    fine_duration,
    plan_burst,
    scale_rules,
    scale_windows,
)
from alerting.traffic import SplitTraffic
from system.description import RequestLine
from system.sampling import Sampler
from tests.reference import DESCRIPTION

SLO = Path("scenarios/intelgraph/slo")
TIMING = Timing()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(2.5, "2s500ms"), (30, "30s"), (21600, "6h"), (2160, "36m"), (0.001, "1ms"), (0, "0s")],
)
def test_fine_duration(seconds: float, text: str) -> None:
    assert fine_duration(seconds) == text
    assert parse_duration(text) == seconds


def _rules() -> list[dict[str, object]]:
    text = (SLO / "slo.rules.yml").read_text()
    document = yaml.safe_load(scale_rules(text, 120))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_window_of_the_generated_rules_is_divided() -> None:
    rules = {str(rule.get("record") or rule.get("alert")): str(rule["expr"]) for rule in _rules()}
    assert "[2s500ms]" in rules["slo:sli_error:ratio_rate5m"]
    assert "[30s]" in rules["slo:sli_error:ratio_rate1h"]
    assert "[36m]" in rules["slo:sli_error:ratio_rate3d"]
    assert "[6h]" in rules["slo:sli_error:ratio_rate30d"]
    # thresholds, names and labels stay as Sloth wrote them
    alerts = [str(rule["expr"]) for rule in _rules() if "alert" in rule]
    assert any("(14.4 * 0.0009999999999999432)" in expr for expr in alerts)
    assert all("[5m]" not in expr and "[1h]" not in expr for expr in rules.values())


def test_for_is_divided_and_offsets_are_refused() -> None:
    text = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: rate(x[1h]) > 0\n    for: 10m\n"
    (rule,) = yaml.safe_load(scale_rules(text, 120))["groups"][0]["rules"]
    assert (rule["for"], rule["expr"]) == ("5s", "rate(x[30s]) > 0")
    with pytest.raises(AlertRuleError, match="offset, @ or subquery"):
        scale_rules(text.replace("x[1h]", "x[1h] offset 1h"), 120)
    with pytest.raises(AlertRuleError, match="offset, @ or subquery"):
        scale_rules(text.replace("x[1h]", "max_over_time(x[1h:5m])"), 120)


def test_a_scale_leaving_a_window_under_two_scrapes_is_refused() -> None:
    windows = load_windows(SLO / "windows")
    check_scale(windows, 120, TIMING)  # 5 m -> 2.5 s: two scrapes fit
    with pytest.raises(AlertRuleError, match=r"scale = 200 .* use a scale of at most 150"):
        check_scale(windows, 200, TIMING)


def test_crossing_from_a_full_window_at_another_ratio() -> None:
    assert crossing_from(30, 0.0144, 0.01, 0.0288) == pytest.approx(30 * 0.0044 / 0.0188)
    assert crossing_from(30, 0.0144, 0.0, 0.0288) == pytest.approx(15)
    assert crossing_from(30, 0.0144, 0.02, 0.03) == 0.0  # already over
    assert crossing_from(30, 0.0144, 0.0, 0.0144) is None  # exactly the threshold: never


def test_the_plan_of_the_reference_slo() -> None:
    slo = read_slo(SLO / "slos.yml")
    windows = scale_windows(load_windows(SLO / "windows"), 120)
    assert (windows.period, windows.page[0].long, windows.page[0].short) == (21600, 30, 2.5)
    plan = plan_burst(slo, windows, TIMING)
    threshold = 14.4 * slo.budget
    assert plan.thresholds == pytest.approx((threshold, threshold))
    assert plan.near == pytest.approx(NEAR_MULTIPLE * threshold)
    assert plan.burst == pytest.approx(BURST_MULTIPLE * threshold)
    # the long window decides: from 30 s at 0.7x to 2x, the ratio over it crosses 1x at
    # 30 * 0.3 / 1.3 s; the short one at 2.5 * 0.3 / 1.3 s
    assert plan.page_after == pytest.approx(30 * 0.3 / 1.3)
    assert plan.page_bound == pytest.approx(1 + 1 + 0 + plan.page_after + 1 + 2)
    assert plan.resolve_bound == pytest.approx(1 + 1 + 2.5 + 1 + 2)
    assert plan.near_seconds >= windows.page[0].long
    # 0.7x of the page is 10x the sustainable rate: the 6x ticket opens, as the math says
    assert plan.ticket_expected
    assert fires_after(windows.ticket, windows.period, slo.budget, plan.near, 0.0) == 0.0
    assert fires_after(windows.page, windows.period, slo.budget, plan.near, 0.0) is None


def test_split_traffic_sends_exactly_the_share_evenly() -> None:
    sampler = Sampler(DESCRIPTION)
    lines = (RequestLine(method="GET", path="/entities/1"),)
    # an expired cap: no request is sent, the split is asked directly
    traffic = SplitTraffic(
        "http://127.0.0.1:9", "http://127.0.0.1:10", lines, sampler,
        concurrency=1, deadline_seconds=0, share=0.0,
    )  # fmt: skip
    traffic.stop()
    traffic.share = 0.01008
    picks = [traffic._base() == traffic.other_url for _ in range(10_000)]
    assert sum(picks) == 100  # floor(10000 * 0.01008)
    gaps = [b - a for a, b in itertools.pairwise(i for i, other in enumerate(picks) if other)]
    assert min(gaps) >= 99  # evenly spread: never two errors close together
    assert traffic.sent_share == pytest.approx(0.01)
    traffic.share = 0.0288
    assert [traffic._base() == traffic.other_url for _ in range(1000)].count(True) == 28
    with pytest.raises(ValueError, match="between 0 and 1"):
        traffic.share = 1.5
    with pytest.raises(ValueError, match="loopback only"):
        SplitTraffic("http://127.0.0.1:9", "http://10.0.0.1:10", lines, sampler,
                     concurrency=1, deadline_seconds=0)  # fmt: skip

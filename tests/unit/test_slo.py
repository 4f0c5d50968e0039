"""SLO burn-rate alerts (`alerting/slo.py`): the burn-rate math, its edges in Sloth's
floating point, and the promtool tests generated from it (their shape; promtool itself runs
in suites/alerts/test_slo_burn_rate.py)."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from pathlib import Path

import pytest

from alerting.errors import AlertRuleError
from alerting.slo import (
    DEFAULT_PERIOD,
    SLOTH_DEFAULT_WINDOWS,
    SLOTH_VERSION,
    Burn,
    Firing,
    WindowPair,
    burns,
    counts,
    crossing_time,
    duration,
    evaluations,
    expanding,
    expected_firing,
    find_sloth,
    fires_after,
    generated_part,
    header,
    load_windows,
    pair_fires_after,
    promtool_tests,
    read_slo,
    read_slo_rules,
    regenerate,
    without_version,
)
from system.description import SloAlerts
from system.loader import DescriptionError, load_system
from tests.reference import DESCRIPTION


def _reference_slo() -> SloAlerts:
    slo = DESCRIPTION.alerts.slo if DESCRIPTION.alerts else None
    assert slo is not None, "the reference describes its SLO in [alerts.slo]"
    return slo


SLO_CONFIG = _reference_slo()
SPEC = Path(SLO_CONFIG.spec)
WINDOWS_DIR = Path(SLO_CONFIG.windows) if SLO_CONFIG.windows else None
RULES_DIR = Path(SLO_CONFIG.rules)
SLO = read_slo(SPEC)
WINDOWS = load_windows(WINDOWS_DIR)
HOUR, MINUTE = 3600.0, 60.0
BUDGET = SLO.budget
PAGE, WARNING_6H, INFO_3D = WINDOWS.page[0], WINDOWS.ticket[0], WINDOWS.ticket[1]


def test_the_reference_slo_and_its_windows_are_the_requirements() -> None:
    assert (SLO.service, SLO.objective) == ("intelgraph-api", 99.9)
    assert WINDOWS.period == 30 * 86400
    # page: 2 % of the budget in 1 h, both pairs; ticket: 5 % in 6 h and 10 % in 3 days
    assert WINDOWS.page == (WindowPair(2, HOUR, 5 * MINUTE),) * 2
    assert WINDOWS.ticket == (
        WindowPair(5, 6 * HOUR, 30 * MINUTE),
        WindowPair(10, 72 * HOUR, 6 * HOUR),
    )
    assert [pair.factor(WINDOWS.period) for pair in WINDOWS.pairs()] == [14.4, 14.4, 6.0, 1.0]


def test_sloths_budget_is_a_little_under_the_decimal_one() -> None:
    """Sloth writes (100 - 99.9) / 100 into its alerts and 1 - 99.9/100 into its recorded
    budget: both floats fall short of 0.001, so an exact 1x burn is over its `> 1 * budget`."""
    assert BUDGET == 0.0009999999999999432
    assert SLO.recorded_budget == 0.0009999999999998899
    assert BUDGET < 0.001
    assert SLO.recorded_budget < 0.001
    assert SLO.exact_budget == Fraction(1, 1000)


def test_the_long_window_crosses_after_window_times_threshold_over_ratio() -> None:
    threshold = 14.4 * BUDGET
    ratio = 25.2 * BUDGET
    assert crossing_time(HOUR, threshold, ratio) == pytest.approx(HOUR * 14.4 / 25.2)
    assert crossing_time(5 * MINUTE, threshold, ratio) == pytest.approx(300 * 14.4 / 25.2)
    assert crossing_time(HOUR, threshold, 20 * BUDGET) == pytest.approx(43.2 * MINUTE)


def test_at_or_below_the_factor_a_window_never_crosses() -> None:
    threshold = 6 * BUDGET
    assert crossing_time(6 * HOUR, threshold, 5 * BUDGET) is None
    assert crossing_time(6 * HOUR, threshold, threshold) is None
    assert pair_fires_after(WARNING_6H, DEFAULT_PERIOD, BUDGET, 5.9 * BUDGET) is None
    assert fires_after(WINDOWS.page, DEFAULT_PERIOD, BUDGET, 14 * BUDGET) is None


def test_a_window_younger_than_itself_holds_the_whole_history() -> None:
    threshold, ratio = BUDGET, 25.2 * BUDGET
    assert crossing_time(72 * HOUR, threshold, ratio, healthy=0) == 0
    # one hour of clean history in a 3-day window: ratio * x / (1 h + x) > threshold
    early = crossing_time(72 * HOUR, threshold, ratio, healthy=HOUR)
    assert early == pytest.approx(HOUR / 24.2)
    # a full window of clean history: the plain formula
    assert crossing_time(HOUR, threshold, ratio, healthy=HOUR) == pytest.approx(HOUR / 25.2)


def test_a_pair_fires_at_the_later_crossing_an_alert_at_its_earliest_pair() -> None:
    ratio = 10.2 * BUDGET
    long = 6 * HOUR * 6 / 10.2
    assert pair_fires_after(WARNING_6H, DEFAULT_PERIOD, BUDGET, ratio) == pytest.approx(long)
    info = 72 * HOUR / 10.2
    assert pair_fires_after(INFO_3D, DEFAULT_PERIOD, BUDGET, ratio) == pytest.approx(info)
    assert fires_after(WINDOWS.ticket, DEFAULT_PERIOD, BUDGET, ratio) == pytest.approx(long)


def test_the_alert_fires_at_the_first_evaluation_after_the_crossing() -> None:
    assert evaluations(34.29 * MINUTE) == Firing(quiet=34 * MINUTE, fires=35 * MINUTE)
    # exactly at an evaluation: floating point decides it, the ones either side are sure
    assert evaluations(108 * MINUTE) == Firing(quiet=107 * MINUTE, fires=109 * MINUTE)
    assert evaluations(108 * MINUTE - 1e-9) == Firing(quiet=107 * MINUTE, fires=109 * MINUTE)
    # from the first request on: the first evaluation with a rate
    assert evaluations(0.0) == Firing(quiet=0.0, fires=MINUTE)


@pytest.mark.parametrize("multiple", [25.2, 20, 10.2, 7, 3.5, 1.1])
def test_the_math_agrees_with_the_window_ratios_minute_by_minute(multiple: float) -> None:
    """The ratio over a window of a clean history after x minutes of errors is
    ratio * min(x, window) / window: the first minute every window of a pair is over its
    threshold is the one `evaluations(fires_after(...))` names."""
    ratio = multiple * BUDGET
    for pairs in (WINDOWS.page, WINDOWS.ticket, SLOTH_DEFAULT_WINDOWS.page):
        after = fires_after(pairs, DEFAULT_PERIOD, BUDGET, ratio)
        first = next(
            (
                minute
                for minute in range(1, 6000)
                if any(
                    all(
                        ratio * min(minute * MINUTE, window) / window
                        > pair.factor(DEFAULT_PERIOD) * BUDGET
                        for window in (pair.long, pair.short)
                    )
                    for pair in pairs
                )
            ),
            None,
        )
        if after is None:
            assert first is None
        else:
            firing = evaluations(after)
            assert first is not None
            assert firing.quiet < first * MINUTE <= firing.fires


def test_exactly_1x_never_pages_and_its_ticket_is_left_to_floating_point() -> None:
    exact = Burn("1x", 1, 1000, 0, 360)
    assert expected_firing(exact, SLO, WINDOWS, "page") is None
    assert isinstance(expected_firing(exact, SLO, WINDOWS, "ticket"), str)
    assert isinstance(expected_firing(exact, SLO, WINDOWS, "budget"), str)
    below, above = Burn("0.9x", 9, 10000, 0, 360), Burn("1.1x", 11, 10000, 0, 360)
    assert expected_firing(below, SLO, WINDOWS, "ticket") is None
    assert expected_firing(below, SLO, WINDOWS, "budget") is None
    assert expected_firing(above, SLO, WINDOWS, "ticket") == Firing(0.0, MINUTE)
    assert expected_firing(above, SLO, WINDOWS, "budget") == Firing(0.0, MINUTE)
    assert expected_firing(above, SLO, WINDOWS, "page") is None


def test_the_cases_of_the_reference_and_of_sloths_own_windows() -> None:
    cases = {burn.name: burn for burn in burns(SLO, WINDOWS)}
    assert list(cases) == [
        "fast burn 25.2x pages",
        "10.2x: the ticket, never the page",
        "slow burn 3.5x: the ticket's longest windows only",
        "exactly 1x from the start never pages",
        "0.9x from the start: no ticket, budget kept",
        "1.1x from the start: the ticket, budget spent",
        "no errors, no 5xx series, an idle hour: nothing",
    ]
    fast = cases["fast burn 25.2x pages"]
    # after 6 h of clean history (the longest short window): the page from full windows,
    # the ticket's 3-day pair from the 6 h it holds
    assert (fast.errors, fast.total, fast.healthy) == (63, 2500, 6 * 60)
    assert expected_firing(fast, SLO, WINDOWS, "page") == Firing(34 * MINUTE, 35 * MINUTE)
    assert expected_firing(fast, SLO, WINDOWS, "ticket") == Firing(14 * MINUTE, 15 * MINUTE)
    assert fast.steps == 35
    slow = cases["slow burn 3.5x: the ticket's longest windows only"]
    assert expected_firing(slow, SLO, WINDOWS, "page") is None
    assert expected_firing(slow, SLO, WINDOWS, "ticket") == Firing(143 * MINUTE, 145 * MINUTE)
    sloths = [burn.name for burn in burns(SLO, SLOTH_DEFAULT_WINDOWS)]
    assert sloths[:3] == [
        "fast burn 25.2x pages",
        "4.5x: the ticket, never the page",
        "slow burn 2x: the ticket's longest windows only",
    ]


def test_counts_burn_exactly_the_multiple() -> None:
    assert counts(Fraction(1), Fraction(1, 1000)) == (1, 1000)
    assert counts(Fraction(126, 5), Fraction(1, 1000)) == (63, 2500)
    assert counts(Fraction(9, 10), Fraction(1, 1000)) == (9, 10000)
    assert counts(Fraction(1), Fraction(1, 100)) == (10, 1000)


def test_counters_in_promtools_expanding_notation() -> None:
    assert expanding([(1000, 2)]) == "0+1000x2"
    assert expanding([(1000, 2), (0, 1)]) == "0+1000x2 2000+0x0"
    assert expanding([(0, 3), (25, 2)]) == "0+0x3 25+25x1"
    assert expanding([]) == "0"
    assert duration(3 * 86400 + 35 * 60) == "3d35m"
    assert duration(0) == "0s"
    assert duration(60) == "1m"


def test_the_generated_promtool_tests_expect_sloths_alerts() -> None:
    rules = read_slo_rules(RULES_DIR, SLO, WINDOWS.period)
    document = promtool_tests(rules, SLO, WINDOWS, good=SLO_CONFIG.good, bad=SLO_CONFIG.bad)
    assert [Path(path).name for path in document["rule_files"]] == [
        "slo.rules.yml",
        "budget.rules.yml",
    ]
    assert document["evaluation_interval"] == "1m"
    order = document["group_eval_order"]
    assert order.index(f"sloth-slo-sli-recordings-{rules.page.labels['sloth_id']}") == 0
    assert order[-1] == "intelgraph-slo-budget"
    assert len(document["tests"]) == len(burns(SLO, WINDOWS))
    for group in document["tests"]:
        assert group["interval"] == "1m"
        for series in group["input_series"]:
            assert re.fullmatch(r"\d+\+\d+x\d+( \d+\+\d+x\d+)*", series["values"]), series
        for case in group["alert_rule_test"]:
            assert set(case) == {"eval_time", "alertname", "exp_alerts"}
            for alert in case["exp_alerts"]:
                assert "{{" not in str(alert["exp_annotations"])
    fast = document["tests"][0]
    assert fast["input_series"][1]["values"] == "0+0x360 63+63x34"
    by_time = {case["eval_time"]: case["exp_alerts"] for case in fast["alert_rule_test"]}
    assert by_time["6h14m"] == []
    assert [alert["exp_labels"]["severity"] for alert in by_time["6h34m"]] == ["warning"]
    page, _ = by_time["6h35m"]
    assert page["exp_labels"] == {
        "job": "intelgraph-api",
        "sloth_id": "intelgraph-api-requests-availability",
        "sloth_service": "intelgraph-api",
        "sloth_slo": "requests-availability",
        "severity": "critical",
        "sloth_severity": "page",
    }
    assert page["exp_annotations"]["title"] == (
        "(page) intelgraph-api requests-availability SLO error budget burn rate is too fast."
    )
    assert {alert["exp_labels"]["severity"] for alert in by_time["6h35m"]} == {
        "critical",
        "warning",
    }
    # exactly 1x: the ticket is undecided, so "never pages" is asked of the ALERTS series
    exact = document["tests"][3]
    assert exact["alert_rule_test"] == []
    (never,) = exact["promql_expr_test"]
    assert 'sloth_severity="page"' in never["expr"]
    assert never["exp_samples"] == []
    # no errors: the whole budget remains (an empty error query or a 0/0 would not)
    quiet = document["tests"][-1]
    assert len(quiet["input_series"]) == 1
    (remaining,) = quiet["promql_expr_test"]
    assert remaining["exp_samples"][0]["value"] == 1
    assert 'sloth_window="30d"' in remaining["exp_samples"][0]["labels"]
    budget = rules.budget[0]
    assert budget.labels["severity"] == "critical"


def test_the_committed_rules_carry_the_command_that_made_them() -> None:
    rules = read_slo_rules(RULES_DIR, SLO)
    text = rules.generated.read_text()
    assert text.startswith(
        header(
            Path("scenarios/intelgraph/slo/slos.yml"),
            Path("scenarios/intelgraph/slo/windows"),
            Path("scenarios/intelgraph/slo/slo.rules.yml"),
        )
    )
    assert SLOTH_VERSION in text.splitlines()[0]
    body = generated_part(text)
    assert body.startswith("\n---\n# Code generated by Sloth (dev)")
    assert "sloth_version: *" in without_version(body)
    assert "(dev)" not in without_version(body)


def test_regenerate_runs_sloth_and_names_its_complaint(tmp_path: Path) -> None:
    fake = tmp_path / "sloth"
    fake.write_text(
        '#!/bin/sh\nif [ "$3" = bad ]; then echo "invalid spec" >&2; exit 1; fi\necho "$@"\n'
    )
    fake.chmod(0o755)
    spec, windows = tmp_path / "slos.yml", tmp_path / "windows"
    assert regenerate(spec, fake, windows) == (
        f"generate -i {spec} --slo-period-windows-path {windows}\n"
    )
    with pytest.raises(AlertRuleError, match="sloth generate -i bad failed: invalid spec"):
        regenerate(Path("bad"), fake)


def test_sloth_is_found_where_bootstrap_puts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELIABILITY_TOOLS_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert find_sloth() is None
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sloth").write_text("")
    assert find_sloth() == tmp_path / "bin" / "sloth"


def test_a_spec_of_several_slos_or_not_sloths_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "slos.yml"
    spec.write_text('version: "prometheus/v1"\nservice: a\nslos: [{name: x}, {name: y}]\n')
    with pytest.raises(AlertRuleError, match="expected exactly one SLO, found 2"):
        read_slo(spec)
    spec.write_text("version: v2\n")
    with pytest.raises(AlertRuleError, match="expected version 'prometheus/v1'"):
        read_slo(spec)
    with pytest.raises(AlertRuleError, match="no AlertWindows of sloPeriod"):
        load_windows(tmp_path, 7 * 86400)
    assert load_windows(None) == SLOTH_DEFAULT_WINDOWS
    assert math.isclose(SLOTH_DEFAULT_WINDOWS.page[1].factor(DEFAULT_PERIOD), 6)


def test_the_descriptions_slo_names_existing_files(tmp_path: Path) -> None:
    (tmp_path / "alerts").mkdir()
    text = (
        'version = 1\nname = "shop"\n[alerts]\n[alerts.slo]\nspec = "slo/slos.yml"\n'
        'rules = "slo"\ngood = \'x{s="200"}\'\nbad = \'x{s="500"}\'\n'
    )
    path = tmp_path / "system.toml"
    path.write_text(text)
    with pytest.raises(DescriptionError, match=r"alerts\.slo\.spec.*which is not a file"):
        load_system(str(path))
    (tmp_path / "slo").mkdir()
    (tmp_path / "slo" / "slos.yml").write_text("")
    slo = load_system(str(path)).description.alerts
    assert slo is not None
    assert slo.slo is not None
    assert slo.slo.windows is None
    assert Path(slo.slo.rules) == tmp_path / "slo"

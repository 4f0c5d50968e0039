"""The burn-rate proof catches broken SLO rules: the promtool tests generated from the
spec's math fail on the reference's Sloth rules with one thing broken — a page factor
lowered (it pages too early), an error query without `or on() vector(0)` (a healthy
service without 5xx series records no ratio, and the budget is not whole), a threshold
raised above the burn (it never pages). promtool for real; the rules copied and edited.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alerting.rules import run_rule_tests
from alerting.slo import (
    load_windows,
    promtool_tests,
    read_slo,
    read_slo_rules,
    write_promtool_tests,
)
from system.description import SloAlerts
from tests.reference import DESCRIPTION

pytestmark = pytest.mark.integration

assert DESCRIPTION.alerts is not None
assert DESCRIPTION.alerts.slo is not None
CONFIG: SloAlerts = DESCRIPTION.alerts.slo
SLO = read_slo(Path(CONFIG.spec))
WINDOWS = load_windows(Path(CONFIG.windows) if CONFIG.windows else None)
PAGE = "> (14.4 * 0.0009999999999999432)"
ERRORS_OR_ZERO = " or on() vector(0))\n"


def _prove(tmp_path: Path, wrong: str, right: str) -> str:
    """promtool's verdict on the reference's SLO rules with `right` replaced by `wrong`."""
    rules_dir = tmp_path / "slo"
    shutil.copytree(CONFIG.rules, rules_dir, ignore=shutil.ignore_patterns("windows"))
    generated = next(path for path in rules_dir.glob("*.rules.yml") if "Sloth" in path.read_text())
    text = generated.read_text()
    assert right in text, f"{right!r} not in {generated.name}: update this test"
    generated.write_text(text.replace(right, wrong))
    rules = read_slo_rules(rules_dir, SLO, WINDOWS.period)
    document = promtool_tests(rules, SLO, WINDOWS, good=CONFIG.good, bad=CONFIG.bad)
    tests = write_promtool_tests(document, tmp_path / "slo.test.yml")
    with pytest.raises(AssertionError) as failed:
        run_rule_tests(tests)
    return str(failed.value)


def test_a_page_factor_lowered_pages_before_the_math_says(tmp_path: Path) -> None:
    output = _prove(tmp_path, "> (12 * 0.0009999999999999432)", PAGE)
    assert "fast burn 25.2x pages" in output
    assert "alertname: IntelgraphAvailabilityBudgetBurn" in output


def test_a_page_threshold_above_the_burn_never_pages(tmp_path: Path) -> None:
    output = _prove(tmp_path, "> (30 * 0.0009999999999999432)", PAGE)
    assert "fast burn 25.2x pages" in output


def test_an_error_query_without_a_zero_for_no_5xx_series_is_caught(tmp_path: Path) -> None:
    output = _prove(tmp_path, ")\n", ERRORS_OR_ZERO)
    assert 'expr: "slo:period_error_budget_remaining:ratio"' in output
    assert "got: nil" in output  # no ratio recorded without errors: no budget at all

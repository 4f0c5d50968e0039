"""The burn-rate proof catches broken SLO rules: the promtool tests generated from the
spec's math fail on the reference's Sloth rules with one thing broken — a page factor
lowered (it pages too early), an error query without `or on() vector(0)` (a healthy
service without 5xx series records no ratio, and the budget is not whole), a threshold
raised above the burn (it never pages). promtool for real; the rules copied and edited.

End to end (`alerting/slo_e2e.py`, two real targets, Prometheus and Alertmanager, windows
scaled): a page threshold under the near miss's burn pages on it, and the run reports it,
naming the alert, the share failing and the threshold (a threshold over the burst's burn,
which never pages, is caught by the promtool test above at a fraction of the cost).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from alerting.rules import run_rule_tests
from alerting.slo import (
    load_windows,
    promtool_tests,
    read_slo,
    read_slo_rules,
    write_promtool_tests,
)
from alerting.slo_e2e import (
    BurstResult,
    plan_burst,
    prepare_burst,
    run_burst,
    scale_rules,
    scale_windows,
)
from alerting.stack import TIMING
from alerting.webhook import WebhookReceiver
from system.description import SloAlerts, SloBurst
from system.sampling import Sampler
from tests.reference import DESCRIPTION

pytestmark = pytest.mark.integration

assert DESCRIPTION.alerts is not None
assert DESCRIPTION.alerts.slo is not None
ALERTS = DESCRIPTION.alerts
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


@pytest.mark.quiet  # promtool only: make test runs it with the unit tests
def test_a_page_factor_lowered_pages_before_the_math_says(tmp_path: Path) -> None:
    output = _prove(tmp_path, "> (12 * 0.0009999999999999432)", PAGE)
    assert "fast burn 25.2x pages" in output
    assert "alertname: IntelgraphAvailabilityBudgetBurn" in output


@pytest.mark.quiet  # promtool only: make test runs it with the unit tests
def test_a_page_threshold_above_the_burn_never_pages(tmp_path: Path) -> None:
    output = _prove(tmp_path, "> (30 * 0.0009999999999999432)", PAGE)
    assert "fast burn 25.2x pages" in output


@pytest.mark.quiet  # promtool only: make test runs it with the unit tests
def test_an_error_query_without_a_zero_for_no_5xx_series_is_caught(tmp_path: Path) -> None:
    output = _prove(tmp_path, ")\n", ERRORS_OR_ZERO)
    assert 'expr: "slo:period_error_budget_remaining:ratio"' in output
    assert "got: nil" in output  # no ratio recorded without errors: no budget at all


# --- end to end, at scaled windows: the run catches a page that is wrong -----------------

assert CONFIG.burst is not None
BURST: SloBurst = CONFIG.burst


def _run_burst(starter: Any, receiver: WebhookReceiver, wrong: str) -> BurstResult:
    """The end-to-end phases on two real targets, with the page's threshold in the scaled
    rules replaced by `wrong`."""
    rules = read_slo_rules(Path(CONFIG.rules), SLO, WINDOWS.period)
    texts = {path.name: scale_rules(path.read_text(), BURST.scale) for path in rules.files}
    generated = rules.generated.name
    assert PAGE in texts[generated], f"{PAGE!r} not in {generated}: update this test"
    texts[generated] = texts[generated].replace(PAGE, wrong)
    plan = plan_burst(SLO, scale_windows(WINDOWS, BURST.scale), TIMING)
    setup = prepare_burst(starter, receiver, texts, {SLO.alert}, job=ALERTS.job, fault=BURST.fault)
    return run_burst(
        setup,
        plan,
        BURST,
        Sampler(DESCRIPTION),
        alert=SLO.alert,
        page=rules.page.labels,
        ticket=rules.ticket.labels,
    )


def test_end_to_end_a_page_on_a_near_miss_is_caught(
    starter: Any, receiver: WebhookReceiver
) -> None:
    # 9x the budget: under the 10x a near miss (0.7 of 14.4x) burns at
    result = _run_burst(starter, receiver, "> (9 * 0.0009999999999999432)")
    assert result.near_pages == 1
    assert result.page_seconds is None  # the run stopped at the near miss
    (problem,) = result.problems
    assert f"{SLO.alert} paged" in problem
    assert "near miss of 1.008% failing, 0.7x its threshold 1.440%" in problem

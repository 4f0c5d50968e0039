"""The SLO's burn-rate alerts (the description's `[alerts.slo]`): the rules Sloth generated
from the spec, as committed, fire when the burn-rate math says and only then, and they are
what Sloth generates from the spec today.

promtool unit tests are generated from the spec's objective and alert windows
(`alerting/slo.py`): a clean history, then a constant burn; each alert is expected at the
first evaluation the math allows and absent at the one before; below its factors, never.

End to end (`alerting/slo_e2e.py`), on the local default: the same rules with their
windows divided by `[alerts.slo.burst] scale`, on two instances of the target (one
answering only errors) with the traffic split by count: a near miss below the page's burn
rate does not page, a burst above it pages when the math says and resolves after it.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import pytest

from alerting.rules import check_rules, run_rule_tests
from alerting.slo import (
    SLOTH_VERSION,
    find_sloth,
    generated_file,
    generated_part,
    load_windows,
    promtool_tests,
    read_slo,
    read_slo_rules,
    regenerate,
    without_version,
    write_promtool_tests,
)
from alerting.slo_e2e import (
    BurstPlan,
    BurstResult,
    check_scale,
    plan_burst,
    prepare_burst,
    run_burst,
    scale_rules,
    scale_windows,
)
from alerting.stack import TIMING
from alerting.traffic import SplitTraffic
from alerting.webhook import WebhookReceiver
from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from plugins.criteria import Criteria
from plugins.evidence import attach_json, attach_text
from plugins.settings import HarnessContext
from system.description import Alerts, SloAlerts
from system.sampling import Sampler

NO_SLO = "the system description has no [alerts.slo]: no SLO burn-rate alerts to prove"
NO_SLOTH = (
    f"sloth ({SLOTH_VERSION}) is not installed: `BOOTSTRAP_SLOTH=1 scripts/bootstrap` builds it "
    "into $RELIABILITY_TOOLS_HOME/bin (make drill does), or put one on PATH"
)
NO_BURST = "the system description has no [alerts.slo.burst]: the page is not proven end to end"
LOCAL_ONLY = (
    "locally only: it starts a second instance of the target that answers only errors, "
    "and a Prometheus evaluating the SLO rules at scaled windows"
)
TRAFFIC_PAUSE_SECONDS = 0.02  # per client, after each answer: some 40 requests a second each
TRAFFIC_CAP_SECONDS = 300.0
# promtool's diff names each failing assertion on a line of its own.
_FAILURE = re.compile(r"^\s+(alertname|expr): ", re.MULTILINE)


def _slo(system_alerts: Alerts) -> SloAlerts:
    if system_alerts.slo is None:
        pytest.skip(NO_SLO)
    return system_alerts.slo


def _windows(slo: SloAlerts) -> Path | None:
    return Path(slo.windows) if slo.windows is not None else None


@pytest.mark.pr_gate
@pytest.mark.quiet  # promtool for about 6 s of one core (6 h of history, not 3 days)
@pytest.mark.criteria("alert_rule_units")
def test_burn_rate_alerts_fire_when_the_math_says(
    system_alerts: Alerts, tmp_path: Path, criteria: Criteria
) -> None:
    config = _slo(system_alerts)
    slo = read_slo(Path(config.spec))
    windows = load_windows(_windows(config))
    rules = read_slo_rules(Path(config.rules), slo, windows.period)
    for path in rules.files:
        check_rules(path)
    document = promtool_tests(rules, slo, windows, good=config.good, bad=config.bad)
    tests = write_promtool_tests(document, tmp_path / "slo.test.yml")
    attach_text("promtool tests (generated)", tests.read_text())
    try:
        output = run_rule_tests(tests)
        failing = 0
    except AssertionError as error:  # promtool's diff
        output = str(error)
        failing = max(1, len(_FAILURE.findall(output)))
    criteria.within(
        criterion="alert_rule_units",
        scope=f"{Path(config.spec).name} (SLO burn rates)",
        bound=0,
        unit="failures",
        measured=failing,
        alerts=2 + len(rules.budget),
        test_groups=len(document["tests"]),
    )
    assert failing == 0, output
    assert "SUCCESS" in output, output


@pytest.mark.pr_gate
@pytest.mark.quiet  # sloth for a moment
@pytest.mark.criteria("alert_rule_units")
def test_the_committed_rules_are_what_sloth_generates(
    system_alerts: Alerts, criteria: Criteria
) -> None:
    config = _slo(system_alerts)
    sloth = find_sloth()
    if sloth is None:
        pytest.skip(NO_SLOTH)
    committed = generated_file(Path(config.rules))
    expected = without_version(generated_part(committed.read_text()))
    fresh = without_version(regenerate(Path(config.spec), sloth, _windows(config)))
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            fresh.splitlines(keepends=True),
            fromfile=str(committed),
            tofile="sloth generate (now)",
        )
    )
    if diff:
        attach_text("committed vs regenerated", diff)
    criteria.within(
        criterion="alert_rule_units",
        scope=f"{committed.name} (regenerated by Sloth)",
        bound=0,
        unit="failures",
        measured=0 if not diff else 1,
        sloth=str(sloth),
    )
    assert not diff, (
        f"{committed} is not what Sloth generates from {config.spec} now; regenerate it "
        f"(the command is in its first lines):\n{diff}"
    )


@pytest.mark.drill  # a minute of two targets under traffic; its negatives run in make test
@pytest.mark.criteria("alert_time_to_fire", "alert_time_to_resolve", "no_false_alarms")
def test_a_burst_pages_and_a_near_miss_does_not(
    system_alerts: Alerts,
    harness_context: HarnessContext,
    service_launcher: ServiceLauncher,
    starter: Any,
    receiver: WebhookReceiver,
    criteria: Criteria,
) -> None:
    config = _slo(system_alerts)
    burst = config.burst
    if burst is None:
        pytest.skip(NO_BURST)
    if service_launcher.backend is Backend.EXTERNAL:
        pytest.skip(LOCAL_ONLY)
    slo = read_slo(Path(config.spec))
    windows = load_windows(_windows(config))
    rules = read_slo_rules(Path(config.rules), slo, windows.period)
    check_scale(windows, burst.scale, TIMING)
    plan = plan_burst(slo, scale_windows(windows, burst.scale), TIMING)
    scaled = {path.name: scale_rules(path.read_text(), burst.scale) for path in rules.files}
    attach_text("SLO rules, windows / scale", "\n---\n".join(scaled.values()))
    attach_json("plan", vars(plan))
    setup = prepare_burst(
        starter, receiver, scaled, {slo.alert}, job=system_alerts.job, fault=burst.fault
    )
    with SplitTraffic(
        setup.healthy_url,
        setup.faulted_url,
        burst.traffic,
        Sampler(harness_context.system.description),
        concurrency=burst.clients,
        deadline_seconds=TRAFFIC_CAP_SECONDS,
        pause_seconds=TRAFFIC_PAUSE_SECONDS,
    ) as traffic:
        result = run_burst(
            setup.stack,
            traffic,
            plan,
            slo.alert,
            page=rules.page.labels,
            ticket=rules.ticket.labels,
        )
    attach_json("webhook payloads", receiver.payloads())
    attach_json("measured", vars(result))
    _rows(criteria, result, plan, f"{slo.alert} page, windows / {burst.scale:g}")
    assert not result.problems, "; ".join(result.problems)


def _rows(criteria: Criteria, result: BurstResult, plan: BurstPlan, scope: str) -> None:
    criteria.within(
        criterion="no_false_alarms",
        scope=f"{scope}: near miss {plan.near:.3%} failing",
        bound=0,
        unit="alerts",
        measured=result.near_pages,
        sent_share=result.shares.get("near miss"),
        seconds=plan.near_seconds,
    )
    if result.near_pages:
        return
    criteria.within(
        criterion="alert_time_to_fire",
        scope=f"{scope}: burst {plan.burst:.3%} failing",
        bound=plan.page_bound,
        unit="s",
        measured=result.page_seconds,
        sent_share=result.shares.get("burst"),
        math_seconds=plan.page_after,
    )
    if result.page_seconds is not None:
        criteria.within(
            criterion="alert_time_to_resolve",
            scope=f"{scope}: burst over",
            bound=plan.resolve_bound,
            unit="s",
            measured=result.resolve_seconds,
        )

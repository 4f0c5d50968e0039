"""Alerts in a shared environment, for real: the conditions its profile lets the harness
create (`[alerts] induce`: rules whose inducement in the system description is a push)
fire in its own Prometheus, reach its own Alertmanager with the
right labels within the bound its own timing implies, and resolve; nothing fires while
healthy results are pushed. What the harness pushes is labelled `harness_test="true"`
(for the Alertmanager to route to a quiet receiver) and always deleted afterwards.

Locally the end-to-end tests of `test_firing.py` do this against a stack of the harness's
own: these run against a profile only.

Every selector of the system's rules must also select series in the profile's Prometheus
(`alerting/series.py`): locally `test_no_false_alarms.py` checks them against a healthy
window's series.
"""

from __future__ import annotations

import time

import pytest

from alerting.induced import (
    POLL_SECONDS,
    TEST_LABEL,
    active_alerts,
    bounds,
    deployed_for,
    heal,
    healthy,
    induced,
    inducible,
    profile_timing,
)
from alerting.rules import load_rules, rule_files
from fixtures.backend import Backend
from fixtures.launcher import ServiceLauncher
from fixtures.providers.base import HttpEndpoint
from plugins.criteria import Criteria
from plugins.evidence import attach_json, attach_text
from plugins.settings import HarnessContext
from system.deadline import Deadline, wait_until

QUIET_PERIODS = 3  # no false alarm: watch three times the longest path to firing


def _profile_stack(
    service_launcher: ServiceLauncher, request: pytest.FixtureRequest
) -> tuple[HttpEndpoint, HttpEndpoint, HttpEndpoint]:
    if service_launcher.backend is not Backend.EXTERNAL:
        pytest.skip("against a profile only: locally, test_firing.py proves every rule")
    names = ("prometheus", "alertmanager", "pushgateway")
    endpoints = [request.getfixturevalue(name) for name in names]
    return endpoints[0], endpoints[1], endpoints[2]


@pytest.mark.pr_gate
def test_an_induced_condition_fires_in_the_profiles_alertmanager_and_resolves(
    induced_rule_name: str | None,
    service_launcher: ServiceLauncher,
    harness_context: HarnessContext,
    request: pytest.FixtureRequest,
    criteria: Criteria,
) -> None:
    prometheus, alertmanager, pushgateway = _profile_stack(service_launcher, request)
    if induced_rule_name is None:
        pytest.skip("the profile's [alerts] induce names no condition the harness may create")
    description = harness_context.system.description
    assert description.alerts is not None  # plugins/alert_selection.py: induce is checked
    rule = load_rules(rule_files(description.alerts.rules))[induced_rule_name]
    pushed = inducible(description, rule.name)
    timing = profile_timing(prometheus.url, alertmanager.url, pushgateway.host)
    fire_within, resolve_within = bounds(timing, deployed_for(prometheus.url, rule.name))
    with induced(pushgateway.url, pushed) as inducible_rule:
        started = time.monotonic()
        firing = Deadline(fire_within)
        firing.wait(
            lambda: active_alerts(alertmanager.url, rule.name),
            what=f"{rule.name} in {alertmanager.describe()} (scrape {timing.scrape_interval:g} "
            f"s + evaluation {timing.evaluation_interval:g} s + for + group_wait "
            f"{timing.group_wait:g} s + margin)",
            interval=POLL_SECONDS,
        )
        fired = firing.elapsed()
        (alert,) = active_alerts(alertmanager.url, rule.name)[:1]
        attach_json(f"{rule.name} in the Alertmanager", alert)
        expected = {**rule.labels, **inducible_rule.labels, **TEST_LABEL, "alertname": rule.name}
        wrong = {k: v for k, v in expected.items() if alert["labels"].get(k) != v}
        assert not wrong, f"{rule.name} arrived with labels {alert['labels']}, expected {wrong}"
        heal(pushgateway.url, inducible_rule)
        healed = time.monotonic()
        wait_until(
            lambda: not active_alerts(alertmanager.url, rule.name),
            seconds=resolve_within,
            what=f"{rule.name} resolved in {alertmanager.describe()}",
            interval=POLL_SECONDS,
        )
    attach_text(
        "alert timings",
        f"{rule.name}: fired after {fired:.1f} s (bound {fire_within:.1f} s), resolved "
        f"{time.monotonic() - healed:.1f} s after a good result (bound {resolve_within:.1f} s)",
    )
    criteria.record(
        criterion="alert_time_to_fire",
        scope=rule.name,
        bound=fire_within,
        unit="s",
        measured=fired,
        verdict="pass",
        started_monotonic=started,
    )


@pytest.mark.pr_gate
@pytest.mark.criteria("no_false_alarms")
def test_nothing_of_the_harness_fires_while_healthy_results_are_pushed(
    service_launcher: ServiceLauncher,
    harness_context: HarnessContext,
    request: pytest.FixtureRequest,
    criteria: Criteria,
) -> None:
    prometheus, alertmanager, pushgateway = _profile_stack(service_launcher, request)
    induce = service_launcher.profile.alerts_induce
    if not induce:
        pytest.skip("the profile's [alerts] induce names no condition the harness may push")
    description = harness_context.system.description
    timing = profile_timing(prometheus.url, alertmanager.url, pushgateway.host)
    longest = max(bounds(timing, deployed_for(prometheus.url, name))[0] for name in induce)
    with healthy(pushgateway.url, [inducible(description, name) for name in induce]):
        time.sleep(QUIET_PERIODS * longest)
        fired = {name: active_alerts(alertmanager.url, name) for name in induce}
    alarms = sorted(name for name, active in fired.items() if active)
    criteria.within(
        criterion="no_false_alarms",
        scope=f"profile's Alertmanager, healthy results for {QUIET_PERIODS * longest:.0f} s",
        bound=0,
        unit="alerts",
        measured=len(alarms),
        rules=len(induce),
        fired=alarms,
    )
    assert not alarms, f"false alarm on healthy results: {fired}"

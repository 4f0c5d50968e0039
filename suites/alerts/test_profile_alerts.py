"""Alerts in a shared environment, for real: the conditions its profile lets the harness
create (`[alerts] induce`: rules whose inducement in the system description is a push)
fire in its own Prometheus, reach its own Alertmanager with the
right labels within the bound its own timing implies, and resolve; nothing fires while
healthy results are pushed. What the harness pushes is labelled `harness_test="true"`
(for the Alertmanager to route to a quiet receiver) and always deleted afterwards.

Locally the end-to-end tests of `test_firing.py` do this against a stack of the harness's
own: these run against a profile only.

Where `[alerts] induce` names a rule whose inducement has a `profile_fault` and `[chaos]
allow` its kind, the real condition is created (a drill-only test: production `for:` and
windows take minutes): a fault on one dependency through the profile's Toxiproxy while
traffic is sent, or (kind `kill`: ServiceDown; destructive, so only where the profile
sets `destructive = true`) the target stopped by the profile's own `[hooks] stop_api` and
started again by its `start_api` (`fixtures/hooks.py`). Every
alert of the target's job is silenced meanwhile (nobody is paged; the silence expires by
itself); the alert must be active in the profile's Alertmanager within its bound, routed
(by the configuration that Alertmanager loaded) to the receivers the description's
`[alerts.routing]` expects, and resolved once the fault is removed.

Every selector of the system's rules — the alert rules and the SLO's, Sloth's recordings
included — must also select series in the profile's Prometheus (`alerting/series.py`;
locally `test_no_false_alarms.py` checks them against a healthy window's series). A
metric the drill itself publishes (the description's pushed results) may not be there
before a drill has run: its absence is a note, not a failure.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from alerting.deployed import rule_directories, written_rules
from alerting.induced import (
    POLL_SECONDS,
    TEST_LABEL,
    active_alerts,
    bounds,
    deployed_for,
    fault_bounds,
    heal,
    healthy,
    induce_real_condition,
    induced,
    inducible,
    inducible_rules,
    profile_fault,
    profile_timing,
    published_metrics,
)
from alerting.routing import static_receivers
from alerting.rules import load_rules, longest_window, rule_files
from alerting.series import check_live_series
from chaos.network import dependency_fault
from fixtures.backend import Backend
from fixtures.hooks import HookError, target_stopped
from fixtures.launcher import ServiceLauncher
from fixtures.providers.base import HttpEndpoint
from load.plan import is_loopback
from plugins.criteria import Criteria
from plugins.evidence import attach_json, attach_text
from plugins.settings import HarnessContext
from system.deadline import Deadline, wait_until
from system.description import ProfileFault
from system.sampling import Sampler

# No false alarm: healthy results for as long as the longest path to firing (scrape +
# evaluation + for + group_wait + its margin): a rule that fires on them fires by then.
QUIET_PERIODS = 1.0


def _profile_stack(
    service_launcher: ServiceLauncher, request: pytest.FixtureRequest
) -> tuple[HttpEndpoint, HttpEndpoint, HttpEndpoint]:
    if service_launcher.backend is not Backend.EXTERNAL:
        pytest.skip("against a profile only: locally, test_firing.py proves every rule")
    names = ("prometheus", "alertmanager", "pushgateway")
    endpoints = [request.getfixturevalue(name) for name in names]
    return endpoints[0], endpoints[1], endpoints[2]


@pytest.mark.pr_gate
@pytest.mark.quiet  # pushes to and waits on the profile's stack: beside a measurement
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
@pytest.mark.quiet  # waits on the profile's stack: beside a measurement
@pytest.mark.criteria("no_false_alarms")
def test_nothing_of_the_harness_fires_while_healthy_results_are_pushed(
    service_launcher: ServiceLauncher,
    harness_context: HarnessContext,
    request: pytest.FixtureRequest,
    criteria: Criteria,
) -> None:
    prometheus, alertmanager, pushgateway = _profile_stack(service_launcher, request)
    description = harness_context.system.description
    pushed = set(inducible_rules(description))  # not the rules induced by a real condition
    induce = [name for name in service_launcher.profile.alerts_induce if name in pushed]
    if not induce:
        pytest.skip("the profile's [alerts] induce names no condition the harness may push")
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


@pytest.mark.drill  # the profile's production `for:` and windows: minutes per rule
@pytest.mark.criteria("alert_time_to_fire", "alert_time_to_resolve", "alert_routing")
def test_a_real_condition_in_the_profiles_environment_fires_routes_and_resolves(
    fault_rule_name: str | None,
    service_launcher: ServiceLauncher,
    harness_context: HarnessContext,
    request: pytest.FixtureRequest,
    criteria: Criteria,
    tmp_path: Path,
) -> None:
    if service_launcher.backend is not Backend.EXTERNAL:
        pytest.skip("against a profile only: locally, test_firing.py proves every rule")
    if fault_rule_name is None:
        pytest.skip(
            "the profile's [alerts] induce names no rule induced by a real condition "
            "(a profile_fault in the description's [alerts.induce.<rule>])"
        )
    description = harness_context.system.description
    assert description.alerts is not None  # plugins/alert_selection.py: induce is checked
    fault = profile_fault(description, fault_rule_name)
    profile = service_launcher.profile
    if fault.kind == "kill" and not profile.destructive:
        pytest.skip(
            f"{fault_rule_name} is brought about by {fault.describe()}: destructive, "
            f"refused against {profile.describe()} unless its profile sets destructive = true "
            "under [target]"
        )
    labels = dict(description.alerts.induce[fault_rule_name].labels)
    prometheus, alertmanager, api = (
        request.getfixturevalue(name) for name in ("prometheus", "alertmanager", "api")
    )
    if fault.traffic and not is_loopback(api.host):
        pytest.skip(f"its traffic goes to loopback targets only, not to {api.describe()}")
    rule = load_rules(rule_files(description.alerts.rules))[fault_rule_name]
    timing = profile_timing(prometheus.url, alertmanager.url, f"{api.host}:{api.port}")
    fire_within, resolve_within = fault_bounds(
        timing, deployed_for(prometheus.url, rule.name), longest_window(rule.expr), fault
    )
    try:
        measured = induce_real_condition(
            alertmanager_url=alertmanager.url,
            api_url=api.url,
            rule=rule.name,
            labels=labels,
            fault=fault,
            apply_fault=lambda: _profile_fault(fault, service_launcher, request),
            sampler=Sampler(description),
            bounds=(fire_within, resolve_within),
            reaper=service_launcher.reaper,
        )
    except HookError as error:  # the environment's own command: its message, no traceback
        pytest.fail(str(error), pytrace=False)
    attach_json(f"{rule.name} in the Alertmanager", measured.alert)
    config = tmp_path / "alertmanager.yml"
    config.write_text(measured.config)
    reached = static_receivers(config, measured.alert["labels"])
    fired, resolved, alert = measured.fired, measured.resolved, measured.alert
    scope = f"{rule.name} ({fault.describe()})"
    criteria.within(
        criterion="alert_time_to_fire", scope=scope, bound=fire_within, unit="s", measured=fired
    )
    criteria.within(
        criterion="alert_time_to_resolve",
        scope=scope,
        bound=resolve_within,
        unit="s",
        measured=resolved,
    )
    routing = description.alerts.routing
    if routing is not None:
        expected = frozenset(routing.receivers.get(alert["labels"].get(routing.by, ""), ()))
        wrong = len(expected ^ reached)
        criteria.within(
            criterion="alert_routing",
            scope=f"{rule.name} in the profile's Alertmanager",
            bound=0,
            unit="receivers",
            measured=wrong,
            expected=sorted(expected),
            reached=sorted(reached),
        )
        assert not wrong, (
            f"{rule.name} ({routing.by}={alert['labels'].get(routing.by)}) reaches "
            f"{sorted(reached)} in the profile's Alertmanager, expected {sorted(expected)}"
        )


def _profile_fault(
    fault: ProfileFault, service_launcher: ServiceLauncher, request: pytest.FixtureRequest
) -> AbstractContextManager[None]:
    """The fault in the profile's environment: the target stopped by its own hook, or a
    dependency's proxy faulted in its Toxiproxy."""
    if fault.kind == "kill":
        return target_stopped(service_launcher.profile, reaper=service_launcher.reaper)
    toxiproxy = request.getfixturevalue("toxiproxy")
    assert fault.dependency is not None  # the description's model: a dependency fault
    return dependency_fault(
        toxiproxy,
        toxiproxy.proxy_name(fault.dependency),
        fault.kind,
        latency_seconds=fault.latency,
        reaper=service_launcher.reaper,
    )


@pytest.mark.pr_gate
@pytest.mark.quiet  # queries to the profile's Prometheus
@pytest.mark.criteria("alert_live_series")
def test_every_rule_selects_live_series_in_the_profiles_prometheus(
    service_launcher: ServiceLauncher,
    harness_context: HarnessContext,
    request: pytest.FixtureRequest,
    criteria: Criteria,
) -> None:
    if service_launcher.backend is not Backend.EXTERNAL:
        pytest.skip("against a profile only: locally, test_no_false_alarms.py checks the series")
    description = harness_context.system.description
    if description.alerts is None:
        pytest.skip(f"{harness_context.system.describe()} declares no [alerts]")
    prometheus = request.getfixturevalue("prometheus")
    # every rule deployed there, the SLO's recordings too: an alert reads what they record
    directories = rule_directories(description.alerts)
    rules = written_rules(directories)
    report = check_live_series(prometheus.url, rules, published_metrics(description))
    names = ", ".join(directory.name for directory in directories)
    criteria.within(
        criterion="alert_live_series",
        scope=f"{len(rules)} rules of {names}, the profile's Prometheus",
        bound=0,
        unit="selectors",
        measured=report.failing_selectors,
        problems=[str(problem) for problem in report.problems],
        notes=[str(note) for note in report.notes],
    )
    attach_text("rules against the profile's live series", report.evidence())
    assert not report.problems, report.summary()

"""A real condition through Toxiproxy, as the drill creates it against a profile
(`alerting.induced.induce_real_condition`), on a stack of the harness's own: a target whose
dependencies pass through its own proxies, a Prometheus evaluating the reference's
HighErrorRate (test profile: short `for:` and window), an Alertmanager.

Neo4j's proxy down under graph traffic: the alert is active (silenced: nobody notified)
within its bound, resolves once the proxy is back, and the silence, the proxy and the
traffic are all gone afterwards. Redis's proxy down under the same traffic (a dependency
the traversals do not use): the alert never comes, and the wait says which rule, where and
during what. ServiceDown through a profile's `[hooks]`: the target stopped by the
environment's own command, started again by its other."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import requests

from alerting.bounds import fire_bound, resolve_bound
from alerting.induced import RealCondition, induce_real_condition, profile_fault
from alerting.rules import AlertRule, longest_window, rules_from_texts, shortened_rule_files
from alerting.stack import TIMING, AlertStack, start_stack
from alerting.webhook import WebhookReceiver
from chaos.network import dependency_fault
from drill.rehearsal import freezing_hooks
from fixtures.hooks import HookError, target_stopped
from fixtures.launcher import ServiceLauncher
from fixtures.profile import TargetProfile, load_profile
from fixtures.providers.toxiproxy import ToxiproxyEndpoint
from system.deadline import WaitTimeoutError
from system.description import ProfileFault
from system.sampling import Sampler
from tests.reference import DESCRIPTION

pytestmark = pytest.mark.integration

assert DESCRIPTION.alerts is not None
ALERTS = DESCRIPTION.alerts
RULE = "HighErrorRate"
LABELS = dict(ALERTS.induce[RULE].labels)
FAULT = profile_fault(DESCRIPTION, RULE)


def test_a_partition_fires_silenced_resolves_and_a_fault_without_effect_is_named(
    starter: Any,
    receiver: WebhookReceiver,
    toxiproxy: ToxiproxyEndpoint,
    service_launcher: ServiceLauncher,
) -> None:
    texts = {"errors.rules.yml": shortened_rule_files(ALERTS.rules)["errors.rules.yml"]}
    rule = rules_from_texts(texts)[RULE]
    target = starter("api", toxiproxy=toxiproxy, seed=False).endpoint
    stack = start_stack(
        starter, receiver, {ALERTS.job: f"{target.host}:{target.port}"}, texts, ALERTS.job
    )
    stack.wait_until_scraping({RULE})
    bounds = (
        fire_bound(TIMING, rule.for_seconds, FAULT.detection),
        resolve_bound(TIMING, longest_window(rule.expr), FAULT.detection),
    )

    def run(dependency: str, within: tuple[float, float] = bounds) -> RealCondition:
        proxy = target.proxies[dependency]
        return induce_real_condition(
            alertmanager_url=stack.alertmanager_url,
            api_url=target.url,
            rule=RULE,
            labels=LABELS,
            fault=FAULT,
            apply_fault=lambda: dependency_fault(
                toxiproxy, proxy, "partition", reaper=service_launcher.reaper
            ),
            sampler=Sampler(DESCRIPTION),
            bounds=within,
            reaper=service_launcher.reaper,
        )

    measured = run("neo4j")
    assert measured.alert["labels"]["alertname"] == RULE
    assert measured.alert["status"]["silencedBy"], "the real condition paged: no silence"
    assert not receiver.payloads(), "a silenced alert was notified"
    assert "harness" in measured.config  # the loaded configuration, as written
    assert 0 < measured.fired <= bounds[0]
    assert 0 < measured.resolved <= bounds[1]
    assert not _silences(stack.alertmanager_url)
    assert all(proxy.enabled for proxy in toxiproxy.client().proxies().values())

    # Redis's proxy down: the traversals do not use it, the condition never comes
    with pytest.raises(WaitTimeoutError) as raised:  # the rule's `for:` and more: it never came
        run("redis", (rule.for_seconds + 3, 3))
    message = str(raised.value)
    assert f"{RULE} active in the Alertmanager at {stack.alertmanager_url}" in message
    assert "during a partition of neo4j" in message  # what the description asked for
    assert not _silences(stack.alertmanager_url)
    assert all(proxy.enabled for proxy in toxiproxy.client().proxies().values())


def test_a_slow_dependency_under_a_staging_timeout_fires_p95_latency_high(
    starter: Any,
    receiver: WebhookReceiver,
    toxiproxy: ToxiproxyEndpoint,
    service_launcher: ServiceLauncher,
) -> None:
    """P95LatencyHigh against a profile: Neo4j slower through its proxy, on a target run as
    the rehearsal's staging is (`[local] rehearsal_environment`: a timeout above the
    rule's bound, so slow queries are observed as slow, not cut off as 503s)."""
    rule_name = "P95LatencyHigh"
    fault = profile_fault(DESCRIPTION, rule_name)
    assert DESCRIPTION.local is not None
    assert fault.latency is not None
    texts = {"latency.rules.yml": shortened_rule_files(ALERTS.rules)["latency.rules.yml"]}
    rule = rules_from_texts(texts)[rule_name]
    target = starter(
        "api",
        toxiproxy=toxiproxy,
        seed=False,
        environment=DESCRIPTION.local.rehearsal_environment,
    ).endpoint
    stack = start_stack(
        starter, receiver, {ALERTS.job: f"{target.host}:{target.port}"}, texts, ALERTS.job
    )
    stack.wait_until_scraping({rule_name})
    measured, bounds = _induced(
        stack,
        target.url,
        rule,
        fault,
        lambda: dependency_fault(
            toxiproxy,
            target.proxies["neo4j"],
            "latency",
            latency_seconds=fault.latency,
            reaper=service_launcher.reaper,
        ),
        service_launcher,
    )
    assert measured.alert["labels"]["database"] == "neo4j"
    assert 0 < measured.fired <= bounds[0]
    assert 0 < measured.resolved <= bounds[1]
    assert not receiver.payloads(), "a silenced alert was notified"
    assert not _silences(stack.alertmanager_url)
    with toxiproxy.client() as client:
        assert not [toxic for proxy in client.proxies().values() for toxic in proxy.toxics]


def _induced(
    stack: AlertStack,
    api_url: str,
    rule: AlertRule,
    fault: ProfileFault,
    apply_fault: Callable[[], AbstractContextManager[Any]],
    service_launcher: ServiceLauncher,
) -> tuple[RealCondition, tuple[float, float]]:
    """`rule`'s condition brought about by `apply_fault` on the test stack, within the
    bounds the test timing and the fault's detection give (returned beside it)."""
    bounds = (
        fire_bound(TIMING, rule.for_seconds, fault.detection),
        resolve_bound(TIMING, longest_window(rule.expr), fault.detection),
    )
    measured = induce_real_condition(
        alertmanager_url=stack.alertmanager_url,
        api_url=api_url,
        rule=rule.name,
        labels=dict(ALERTS.induce[rule.name].labels),
        fault=fault,
        apply_fault=apply_fault,
        sampler=Sampler(DESCRIPTION),
        bounds=bounds,
        reaper=service_launcher.reaper,
    )
    return measured, bounds


def _silences(alertmanager_url: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{alertmanager_url}/api/v2/silences", timeout=5)
    answer.raise_for_status()
    return [s for s in answer.json() if s["status"]["state"] != "expired"]


def test_a_target_stopped_by_the_profiles_hook_fires_service_down_and_is_started_again(
    starter: Any,
    receiver: WebhookReceiver,
    service_launcher: ServiceLauncher,
    tmp_path: Path,
) -> None:
    """ServiceDown against a profile: the harness cannot kill a target it did not start, so
    the profile's `[hooks] stop_api` stops it (here the rehearsal's own: its process group
    frozen) and `start_api` starts it again. The alert is active, silenced, within its
    bound and resolves; the target answers again. A stop hook that fails is one line naming
    the hook and what it said, and its start hook still runs."""
    rule_name = "ServiceDown"
    fault = profile_fault(DESCRIPTION, rule_name)
    assert fault.kind == "kill"
    file = "availability.rules.yml"
    texts = {file: shortened_rule_files(ALERTS.rules)[file]}
    rule = rules_from_texts(texts)[rule_name]
    api = starter("api", seed=False)
    target = api.endpoint
    stack = start_stack(
        starter, receiver, {ALERTS.job: f"{target.host}:{target.port}"}, texts, ALERTS.job
    )
    stack.wait_until_scraping({rule_name})
    assert api.process is not None
    hooks = freezing_hooks(api.process.pid)
    profile = _profile(tmp_path / "hooked.toml", target.url, hooks)
    measured, bounds = _induced(
        stack,
        target.url,
        rule,
        fault,
        lambda: target_stopped(profile, reaper=service_launcher.reaper),
        service_launcher,
    )
    assert measured.alert["labels"]["job"] == ALERTS.job
    assert 0 < measured.fired <= bounds[0]
    assert 0 < measured.resolved <= bounds[1]
    assert not receiver.payloads(), "a silenced alert was notified"
    assert not _silences(stack.alertmanager_url)
    assert requests.get(f"{target.url}/healthz", timeout=5).ok, "started again"

    failing = {
        **hooks,
        "stop_api": [sys.executable, "-c", "import sys; sys.exit('deployment api not found')"],
    }
    broken = _profile(tmp_path / "broken.toml", target.url, failing)
    os.kill(api.process.pid, signal.SIGSTOP)  # as if the failed stop had half-worked
    with pytest.raises(HookError) as failed, target_stopped(broken):
        pass
    assert str(failed.value) == (
        f"[hooks] stop_api of hooked-staging ({broken.source}) exited 1: deployment api not found"
    )
    assert requests.get(f"{target.url}/healthz", timeout=5).ok, "its start hook ran"


def _profile(path: Path, url: str, hooks: dict[str, list[str]]) -> TargetProfile:
    path.write_text(
        '[target]\nname = "hooked-staging"\n'
        f'[services.api]\nurl = "{url}"\n'
        "[hooks]\n" + "".join(f"{name} = {json.dumps(argv)}\n" for name, argv in hooks.items())
    )
    return load_profile(str(path))

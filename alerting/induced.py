"""Alerts against a profile: conditions the harness may create there, seen in its own
Alertmanager, with a bound read from its own Prometheus.

A profile's `[alerts] induce = ["SomeRule", ...]` lets the harness push the bad results
the system description's `[alerts.induce.<rule>] push` names to the profile's
Pushgateway — under a grouping of its own, every series labelled `harness_test="true"` —
so that the real rule fires in the real Prometheus and reaches the real Alertmanager,
which routes that label to a quiet receiver (the route to add is in the README). Then
the inducement's `resolve` results are pushed (or, without any, the bad ones deleted),
the alert must resolve, and every pushed group is always deleted.

A rule whose inducement has a `profile_fault` is brought about for real
(`induce_real_condition`): the fault's traffic to the profile's target and a fault on one
dependency through its Toxiproxy (which `[chaos] allow` must permit; the caller applies
it), every alert of the target's job silenced meanwhile in the profile's Alertmanager (a
silence that expires by itself), the alert active there within its bound, gone once the
fault is removed. The alert carries the target's own labels, so what it reaches is read
from the configuration that Alertmanager loaded (`deployed_config`).

The bound is `alerting.bounds.fire_bound` with the profile's own timing: the scrape and
evaluation intervals from its Prometheus's configuration (`/api/v1/status/config`, the
Pushgateway job's own scrape interval if it sets one), the rule's `for:` as that
Prometheus runs it (`/api/v1/rules`), and `group_wait` / `group_interval` from its
Alertmanager's route for `harness_test="true"` (`/api/v2/status`).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import yaml

from alerting.bounds import Timing, fire_bound, resolve_bound
from alerting.errors import AlertRuleError
from alerting.traffic import Traffic
from fixtures.lifecycle.reaper import Reaper, Undo
from fixtures.profile import API_HOOKS
from fixtures.pushgateway_client import delete, publish
from system.deadline import wait_until
from system.description import Description, ProfileFault, Push
from system.sampling import Sampler

TEST_LABEL = {"harness_test": "true"}
HTTP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.5
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


@dataclass(frozen=True)
class Inducible:
    """Pushed results that make a rule fire (`bad`) and that resolve it (`good`; none: the
    bad ones are deleted), and the labels its alert must carry."""

    rule: str
    bad: tuple[Push, ...]
    good: tuple[Push, ...]
    labels: Mapping[str, str]


def inducible_rules(description: Description) -> list[str]:
    """The rules whose inducement in the description is a push, in file order."""
    alerts = description.alerts
    if alerts is None:
        return []
    return [rule for rule, recipe in alerts.induce.items() if recipe.push]


def fault_rules(description: Description) -> list[str]:
    """The rules the description induces against a profile through its Toxiproxy
    (`profile_fault`), in file order."""
    alerts = description.alerts
    if alerts is None:
        return []
    return [rule for rule, recipe in alerts.induce.items() if recipe.profile_fault is not None]


def published_metrics(description: Description) -> frozenset[str]:
    """Metrics of the description's pushed results (healthy values, inducements): what a
    drill publishes to the Pushgateway, not what the target exports."""
    alerts = description.alerts
    if alerts is None:
        return frozenset()
    pushes = [*alerts.healthy]
    for recipe in alerts.induce.values():
        pushes += [*recipe.push, *recipe.resolve]
    return frozenset(push.metric for push in pushes)


def profile_fault(description: Description, rule: str) -> ProfileFault:
    """How `rule` is induced against a profile; `AlertRuleError` if it is not."""
    recipe = None if description.alerts is None else description.alerts.induce.get(rule)
    if recipe is None or recipe.profile_fault is None:
        raise AlertRuleError(f"[alerts.induce.{rule}] has no profile_fault")
    return recipe.profile_fault


def inducible(description: Description, rule: str) -> Inducible:
    """What the harness pushes to induce `rule`; `AlertRuleError` if it cannot push it."""
    if rule not in inducible_rules(description):
        raise AlertRuleError(f"[alerts.induce.{rule}] pushes nothing: it is not a pushed result")
    assert description.alerts is not None  # checked above
    recipe = description.alerts.induce[rule]
    return Inducible(rule, recipe.push, recipe.resolve, dict(recipe.labels))


def check_inducible(
    names: tuple[str, ...],
    description: Description | None = None,
    allow: tuple[str, ...] | None = None,
    hooks: Collection[str] | None = None,
) -> None:
    """Every rule of a profile's `[alerts] induce` is one the description induces by a
    push, or through a fault whose kind the profile's `[chaos] allow` (`allow`; None:
    anything) names, a kill only with the profile's `[hooks]` that stop and start the
    target (`hooks`: the names it sets; None: not checked). A one-line `AlertRuleError`
    names the first that is not. Without a description there is nothing to check
    against: `plugins.alert_selection` checks once it is known."""
    if description is None or not names:
        return
    pushed, faulted = inducible_rules(description), fault_rules(description)
    unknown = [name for name in names if name not in pushed and name not in faulted]
    if unknown:
        raise AlertRuleError(
            f"[alerts] induce names {', '.join(unknown)}, which the harness cannot induce "
            f"against a profile (system {description.name}: no [alerts.induce.<rule>] push or "
            f"profile_fault); it can: {', '.join(pushed + faulted) or 'none'}"
        )
    for name in names:
        if name in faulted and allow is not None:
            fault = profile_fault(description, name)
            if fault.kind not in allow:
                raise AlertRuleError(
                    f"[alerts] induce names {name}, induced through {fault.describe()}: "
                    f"add {fault.kind!r} to [chaos] allow, or take {name} out of [alerts] induce"
                )
            if fault.kind == "kill" and hooks is not None and not set(API_HOOKS) <= set(hooks):
                raise AlertRuleError(
                    f"[alerts] induce names {name}, induced by stopping the target: the "
                    "profile needs [hooks] stop_api and start_api (the environment's own "
                    f"commands), or take {name} out of [alerts] induce"
                )


def seconds_of(duration: str | float | int) -> float:
    """Prometheus durations ("15s", "1m30s", "2h") in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    return sum(float(n) * UNIT_SECONDS[unit] for n, unit in DURATION.findall(str(duration)))


def _get(url: str, path: str) -> Any:
    answer = requests.get(f"{url.rstrip('/')}{path}", timeout=HTTP_TIMEOUT_SECONDS)
    answer.raise_for_status()
    return answer.json()


def prometheus_intervals(prometheus_url: str, pushgateway_host: str) -> tuple[float, float]:
    """(scrape interval of the Pushgateway's job, evaluation interval), from its config."""
    config = yaml.safe_load(_get(prometheus_url, "/api/v1/status/config")["data"]["yaml"]) or {}
    settings = config.get("global", {})
    scrape = seconds_of(settings.get("scrape_interval", "1m"))
    evaluation = seconds_of(settings.get("evaluation_interval", "1m"))
    for job in config.get("scrape_configs", []):
        targets = [t for static in job.get("static_configs", []) for t in static.get("targets", [])]
        if any(pushgateway_host in target for target in targets) and "scrape_interval" in job:
            scrape = seconds_of(job["scrape_interval"])
    return scrape, evaluation


def alertmanager_grouping(alertmanager_url: str) -> tuple[float, float]:
    """(group_wait, group_interval) of the route `harness_test="true"` takes (or the root)."""
    status = _get(alertmanager_url, "/api/v2/status")
    route = (yaml.safe_load(status["config"]["original"]) or {}).get("route", {})
    wait, interval = route.get("group_wait", "30s"), route.get("group_interval", "5m")
    for child in route.get("routes", []):
        matchers = " ".join(child.get("matchers", [])) + str(child.get("match", ""))
        if "harness_test" in matchers:
            wait = child.get("group_wait", wait)
            interval = child.get("group_interval", interval)
    return seconds_of(wait), seconds_of(interval)


def deployed_for(prometheus_url: str, rule: str) -> float:
    groups = _get(prometheus_url, "/api/v1/rules?type=alert")["data"]["groups"]
    for group in groups:
        for deployed in group["rules"]:
            if deployed["name"] == rule:
                return float(deployed.get("duration", 0))
    raise AlertRuleError(f"the profile's Prometheus at {prometheus_url} does not run {rule}")


def profile_timing(prometheus_url: str, alertmanager_url: str, pushgateway_host: str) -> Timing:
    scrape, evaluation = prometheus_intervals(prometheus_url, pushgateway_host)
    wait, interval = alertmanager_grouping(alertmanager_url)
    return Timing(scrape, evaluation, wait, interval)


def active_alerts(alertmanager_url: str, rule: str) -> list[dict[str, Any]]:
    """The harness's active alerts named `rule` in the Alertmanager (its API v2)."""
    return _active(alertmanager_url, [f'alertname="{rule}"', 'harness_test="true"'])


def _active(alertmanager_url: str, filters: list[str]) -> list[dict[str, Any]]:
    """The Alertmanager's alerts matching `filters` that are active, silenced and
    inhibited ones included (its API v2)."""
    answer = requests.get(
        f"{alertmanager_url.rstrip('/')}/api/v2/alerts",
        params={"filter": filters, "active": "true", "silenced": "true", "inhibited": "true"},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    answer.raise_for_status()
    alerts: list[dict[str, Any]] = answer.json()
    return [a for a in alerts if a.get("status", {}).get("state") in ("active", "suppressed")]


def _push(pushgateway_url: str, pushes: tuple[Push, ...]) -> None:
    now = time.time()
    for push in pushes:
        publish(pushgateway_url, push.metric, push.resolve(now), {**push.labels, **TEST_LABEL})


def _delete(pushgateway_url: str, pushes: Iterable[Push]) -> None:
    groupings = {(push.metric, tuple(sorted(push.labels.items()))) for push in pushes}
    for metric, labels in sorted(groupings):
        delete(pushgateway_url, metric, {**dict(labels), **TEST_LABEL})


@contextlib.contextmanager
def induced(pushgateway_url: str, inducible: Inducible) -> Iterator[Inducible]:
    """Push the rule's bad results (labelled `harness_test="true"`); delete every group
    pushed on every exit."""
    try:
        _push(pushgateway_url, inducible.bad)
        yield inducible
    finally:
        _delete(pushgateway_url, (*inducible.bad, *inducible.good))


@contextlib.contextmanager
def healthy(pushgateway_url: str, inducibles: Iterable[Inducible]) -> Iterator[None]:
    """Healthy results for every rule of `inducibles`, pushed as the harness's; deleted
    after."""
    pushed = list(inducibles)
    try:
        for inducible in pushed:
            _push(pushgateway_url, inducible.good)
        yield
    finally:
        for inducible in pushed:
            _delete(pushgateway_url, inducible.good)


def heal(pushgateway_url: str, inducible: Inducible) -> None:
    """End the condition: push its good results, or delete the bad ones when it has none."""
    if inducible.good:
        _push(pushgateway_url, inducible.good)
    else:
        _delete(pushgateway_url, inducible.bad)


def bounds(timing: Timing, for_seconds: float) -> tuple[float, float]:
    """(fire bound, resolve bound) of a pushed result: no detection, no window."""
    return fire_bound(timing, for_seconds), resolve_bound(timing, 0.0)


# --- a real condition, through the profile's Toxiproxy -------------------------------------

SILENCE_CREATOR = "reliability-harness"
SILENCE_SPARE_SECONDS = 60.0  # the silence and the traffic outlast both bounds by this
FAULT_TRAFFIC_PAUSE_SECONDS = 0.2  # per client: some 20 requests a second, minutes long


@contextlib.contextmanager
def silenced(
    alertmanager_url: str,
    matchers: Mapping[str, str],
    seconds: float,
    *,
    comment: str,
    reaper: Reaper | None = None,
) -> Iterator[str]:
    """A silence in the profile's Alertmanager of every alert matching `matchers`, for at
    most `seconds`, expired on every way out. A real condition the harness creates in a
    shared environment pages nobody, while its alert is still seen (active, suppressed).
    The silence ends by itself: a harness killed midway leaves it for `seconds` at most,
    and the reaper (if given) expires it at once."""
    now = datetime.now(UTC)
    body = {
        "matchers": [
            {"name": key, "value": value, "isRegex": False, "isEqual": True}
            for key, value in sorted(matchers.items())
        ],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(seconds=seconds)).isoformat(),
        "createdBy": SILENCE_CREATOR,
        "comment": comment,
    }
    base = alertmanager_url.rstrip("/")
    answer = requests.post(f"{base}/api/v2/silences", json=body, timeout=HTTP_TIMEOUT_SECONDS)
    answer.raise_for_status()
    silence = str(answer.json()["silenceID"])
    url = f"{base}/api/v2/silence/{silence}"
    key = f"silence-{silence}"
    if reaper is not None:
        reaper.track_undo(key, Undo("http", method="DELETE", url=url))
    try:
        yield silence
    finally:
        try:
            requests.delete(url, timeout=HTTP_TIMEOUT_SECONDS)
        finally:
            if reaper is not None:
                reaper.untrack_undo(key)


def real_alerts(
    alertmanager_url: str, rule: str, labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Active alerts named `rule` carrying `labels` in the Alertmanager (silenced and
    inhibited ones too), not the harness's pushed ones (`harness_test`)."""
    filters = [f'alertname="{rule}"', *(f'{key}="{value}"' for key, value in labels.items())]
    return [
        alert
        for alert in _active(alertmanager_url, filters)
        if alert.get("labels", {}).get("harness_test") != "true"
    ]


def fault_bounds(
    timing: Timing, for_seconds: float, window_seconds: float, fault: ProfileFault
) -> tuple[float, float]:
    """(fire bound, resolve bound) of a condition through a fault: the fault's detection,
    and for resolution the rule's longest window, which the bad samples must leave."""
    return (
        fire_bound(timing, for_seconds, fault.detection),
        resolve_bound(timing, window_seconds, fault.detection),
    )


@dataclass(frozen=True)
class RealCondition:
    """What a real condition measured: seconds from the fault to the alert active in the
    Alertmanager, from its removal to the alert gone; the alert as it was active; the
    configuration that Alertmanager had loaded then."""

    fired: float
    resolved: float
    alert: Mapping[str, Any]
    config: str


def induce_real_condition(
    *,
    alertmanager_url: str,
    api_url: str,
    rule: str,
    labels: Mapping[str, str],
    fault: ProfileFault,
    apply_fault: Callable[[], contextlib.AbstractContextManager[Any]],
    sampler: Sampler,
    bounds: tuple[float, float],
    reaper: Reaper | None = None,
) -> RealCondition:
    """Silence the target's alerts (`labels` but severity: every alert of its job), send
    the fault's traffic, apply the fault (`apply_fault()`, e.g. a proxy down), wait for
    `rule` active in the Alertmanager within `bounds[0]`, remove the fault, wait for it to
    be gone within `bounds[1]`; the traffic and the silence end on every way out, and
    `WaitTimeoutError` names what did not happen."""
    fire_within, resolve_within = bounds
    spare = fire_within + resolve_within + SILENCE_SPARE_SECONDS
    what = fault.describe()
    quiet = {key: value for key, value in labels.items() if key != "severity"}
    with (
        silenced(
            alertmanager_url,
            quiet or {"alertname": rule},
            spare,
            comment=f"reliability harness: {rule} induced through {what}",
            reaper=reaper,
        ),
        (
            Traffic(
                api_url,
                fault.traffic,
                sampler,
                concurrency=fault.clients,
                deadline_seconds=spare,
                pause_seconds=FAULT_TRAFFIC_PAUSE_SECONDS,
            )
            if fault.traffic
            else contextlib.nullcontext()
        ),
    ):
        with apply_fault():
            started = time.monotonic()
            (alert, *_) = wait_until(
                lambda: real_alerts(alertmanager_url, rule, labels),
                seconds=fire_within,
                what=f"{rule} active in the Alertmanager at {alertmanager_url} during {what}",
                interval=POLL_SECONDS,
            )
            fired = time.monotonic() - started
            config = deployed_config(alertmanager_url)
        healed = time.monotonic()
        wait_until(
            lambda: not real_alerts(alertmanager_url, rule, labels),
            seconds=resolve_within,
            what=f"{rule} resolved in the Alertmanager at {alertmanager_url} after {what}",
            interval=POLL_SECONDS,
        )
        return RealCondition(fired, time.monotonic() - healed, alert, config)


def deployed_config(alertmanager_url: str) -> str:
    """The configuration a running Alertmanager loaded, as written (`/api/v2/status`)."""
    status = _get(alertmanager_url, "/api/v2/status")
    return str(status["config"]["original"])

"""How a rule's real condition is induced, end to end: data of the system description.

`[alerts.induce.<rule>]` (`system.description.Inducement`) says how: start the target
with a named fault of `[local.faults]` and/or send it traffic (request lines, filled from
the description's values, from `clients` concurrent clients until stopped), kill it, or
push results to the Pushgateway (`resolve`: what is pushed to end it). A `Condition` is
that inducement for one rule: what target the stack needs (none for pushed results), how
to bring the condition about once Prometheus scrapes, how to take it away, the labels the
alert must carry, and `detection_seconds`, what the series need before the expression can
see it (see `alerting.bounds`).

A rule of the rule files with no inducement is not induced: its test is skipped, naming
it (`no_inducement`); an inducement naming a rule the rule files lack is an error before
any test (`check_inducements`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerting.errors import AlertRuleError
from alerting.traffic import RecordId, Traffic
from fixtures.launcher import RunningService
from fixtures.providers.api import ApiEndpoint
from fixtures.pushgateway_client import publish
from system.description import Alerts, Description, Inducement, Push
from system.sampling import Sampler

TRAFFIC_DEADLINE_SECONDS = 120.0


@dataclass
class Situation:
    """What an inducement acts on: the target (if any) and the Pushgateway."""

    target: RunningService[ApiEndpoint] | None
    pushgateway_url: str
    traffic: Traffic | None = None
    records: list[RecordId] = field(default_factory=list)  # created through the API

    @property
    def target_url(self) -> str:
        if self.target is None:
            raise RuntimeError("this condition has no target: its inducement pushes results")
        return self.target.endpoint.url

    def close(self) -> None:
        if self.traffic is not None:
            self.traffic.stop()


@dataclass(frozen=True)
class Condition:
    """One rule's inducement (`[alerts.induce.<rule>]`), ready to act on a `Situation`."""

    rule: str
    inducement: Inducement
    description: Description
    window_seconds: float = 0.0  # how far back the expression looks (for resolution)

    @property
    def needs_target(self) -> bool:
        """False: the condition is pushed results, no target is started."""
        return self.inducement.needs_target

    @property
    def fault(self) -> str | None:
        """The `[local.faults]` fault the target starts with (None: a healthy target)."""
        return self.inducement.fault

    @property
    def warm(self) -> bool:
        """Warm the target up first (as its fault says); False: nothing reads it before
        its end (a target that is only killed)."""
        return self.inducement.warm

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.inducement.labels)

    @property
    def detection_seconds(self) -> float:
        return self.inducement.detection or 0.0

    @property
    def removable(self) -> bool:
        """The description says what ends the condition (`resolve`)."""
        return bool(self.inducement.resolve)

    def induce(self, situation: Situation) -> None:
        recipe = self.inducement
        if recipe.kill:
            if situation.target is None:
                raise RuntimeError(f"{self.rule}: the target to kill was not started")
            situation.target.kill()
        if recipe.traffic:
            situation.traffic = Traffic(
                situation.target_url,
                recipe.traffic,
                Sampler(self.description),
                concurrency=recipe.clients,
                deadline_seconds=TRAFFIC_DEADLINE_SECONDS,
            )
        push_all(situation.pushgateway_url, recipe.push)

    def remove(self, situation: Situation) -> None:
        if not self.removable:
            raise ValueError(f"{self.rule}: no resolve in its [alerts.induce.{self.rule}]")
        push_all(situation.pushgateway_url, self.inducement.resolve)


def push_all(gateway: str, pushes: Iterable[Push], now: float | None = None) -> None:
    """Push each gauge as the drill does (`fixtures.pushgateway_client`), its value at
    `now` (default: the wall clock at the push)."""
    for push in pushes:
        value = push.resolve(time.time() if now is None else now)
        publish(gateway, push.metric, value, push.labels or None)


def push_healthy(gateway: str, alerts: Alerts) -> None:
    """What a healthy system pushes (`[alerts] healthy`): none of the rules may fire on it."""
    push_all(gateway, alerts.healthy)


def condition_for(description: Description, rule: str) -> Condition | None:
    """The condition of `rule` as the description induces it; None when it has no way."""
    if description.alerts is None or rule not in description.alerts.induce:
        return None
    return Condition(rule, description.alerts.induce[rule], description)


def no_inducement(rule: str, source: Path | str) -> str:
    """Why a rule is not induced end to end (a skip reason naming it)."""
    return f"{rule} is not induced end to end: no [alerts.induce.{rule}] in {source}"


def check_inducements(alerts: Alerts, rule_names: Sequence[str], source: Path | str) -> None:
    """Every `[alerts.induce.<rule>]` names a rule of the rule files; `AlertRuleError`
    (one line) otherwise."""
    unknown = sorted(set(alerts.induce) - set(rule_names))
    if unknown:
        raise AlertRuleError(
            f"{source}: [alerts.induce.{unknown[0]}] names no rule of the rule files in "
            f"{alerts.rules} (rules: {', '.join(sorted(rule_names)) or 'none'})"
        )


def describe(condition: Condition) -> dict[str, Any]:
    """The inducement as plain data (evidence)."""
    return condition.inducement.model_dump(mode="json", exclude_defaults=True)

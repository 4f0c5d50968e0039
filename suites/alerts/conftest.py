"""Fixtures of the alert suites: the test-profile rules, a webhook receiver, a starter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from alerting.e2e import Measured, table
from alerting.rules import AlertRule, rules_from_texts, shortened_rule_files
from alerting.webhook import WebhookReceiver
from fixtures.launcher import RunningService
from plugins.evidence import attach_text


@dataclass(frozen=True)
class RuleSet:
    texts: dict[str, str]  # file name -> YAML, as Prometheus loads it
    rules: dict[str, AlertRule]  # rule name -> rule


@pytest.fixture(scope="session")
def test_profile() -> RuleSet:
    """Every shipped rule file with the test profile's short `for:` and windows."""
    texts = shortened_rule_files()
    return RuleSet(texts, rules_from_texts(texts))


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def starter(request: pytest.FixtureRequest) -> Any:
    """`start("prometheus", config=...)`: a fresh local service for this test."""

    def start(name: str, **arguments: Any) -> RunningService[Any]:
        service: RunningService[Any] = request.getfixturevalue(f"{name}_factory")(**arguments)
        return service

    return start


@pytest.fixture(scope="module")
def alert_timings() -> Iterator[list[Measured]]:
    """Time-to-fire and time-to-resolve of the module's tests, attached as one table."""
    measured: list[Measured] = []
    yield measured
    if measured:
        attach_text("alert timings", table(measured))

"""Fixtures of the alert suites: the test-profile rules and the timing table
(`receiver` and `starter` come from plugins/alerting.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from alerting.e2e import Measured, table
from alerting.rules import AlertRule, rules_from_texts, shortened_rule_files
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


@pytest.fixture(scope="module")
def alert_timings() -> Iterator[list[Measured]]:
    """Time-to-fire and time-to-resolve of the module's tests, attached as one table."""
    measured: list[Measured] = []
    yield measured
    if measured:
        attach_text("alert timings", table(measured))

"""`--alert-rule NAME` (repeatable): run the end-to-end alert tests for these rules only.

A name that is not a shipped rule (scenarios/alerts) stops the run before any test with
one `ERROR:` line naming the known rules; so does a rule file that does not parse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from alerting.conditions import CONDITIONS
from alerting.errors import AlertRuleError
from alerting.rules import load_rules, rule_files, select_rules
from plugins.target import HARNESS_CONTEXT

if TYPE_CHECKING:
    from _pytest.mark import ParameterSet

SELECTED_RULES = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("reliability").addoption(
        "--alert-rule",
        action="append",
        default=[],
        metavar="NAME",
        help="end-to-end alert tests for this rule only (repeatable; default: every rule)",
    )


def pytest_configure(config: pytest.Config) -> None:
    names = config.getoption("--alert-rule")
    if not names:
        return
    try:
        selected = select_rules(load_rules(rule_files()), names)
    except AlertRuleError as error:
        raise pytest.UsageError(f"--alert-rule: {error}") from None
    config.stash[SELECTED_RULES] = [rule.name for rule in selected]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests taking `alert_rule_name` run once per selected (or every) shipped rule; tests
    taking `induced_rule_name` once per rule the profile's `[alerts] induce` names."""
    if "induced_rule_name" in metafunc.fixturenames:
        induce = metafunc.config.stash[HARNESS_CONTEXT].profile.alerts_induce
        metafunc.parametrize("induced_rule_name", list(induce) or [None])
    if "alert_rule_name" not in metafunc.fixturenames:
        return
    names = metafunc.config.stash.get(SELECTED_RULES, None)
    if names is None:
        try:
            names = sorted(load_rules(rule_files()))
        except AlertRuleError as error:
            raise pytest.UsageError(str(error)) from None
    metafunc.parametrize("alert_rule_name", [_param(name) for name in names])


def _param(name: str) -> ParameterSet:
    """A rule induced by pushing drill results needs no target: its test is `quiet`."""
    condition = CONDITIONS.get(name)
    pushed = condition is not None and condition.faults is None
    return pytest.param(name, marks=[pytest.mark.quiet] if pushed else [])

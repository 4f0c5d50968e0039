"""The alert tests' parameters, from the system description's `[alerts]`.

`alert_rule_name` runs once per rule of the description's rule files (`[alerts] rules`);
`--alert-rule NAME` (repeatable) runs those only. A rule with no
`[alerts.induce.<rule>]` is still a test, skipped naming it (never left out, never a
pass); a rule induced by pushing results needs no target, so its test is `quiet`.
`alert_rule_file` runs once per rule file (its promtool checks), `induced_rule_name` once
per rule the profile's `[alerts] induce` names that is induced by a push, `fault_rule_name`
once per one it names that is induced through the profile's Toxiproxy (`profile_fault`).

Before any test, one `ERROR:` line stops the run for: a name `--alert-rule` gives that is
not a rule (naming the known ones), a rule file that does not parse, an
`[alerts.induce.<rule>]` naming no rule of the rule files, a profile's `[alerts] induce`
naming a rule whose inducement is neither a push nor a profile fault its `[chaos] allow`
permits. A description without `[alerts]` runs each
alert test once, skipped with that reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from alerting.conditions import check_inducements, condition_for, no_inducement
from alerting.errors import AlertRuleError
from alerting.induced import check_inducible, fault_rules, inducible_rules
from alerting.rules import RULE_SUFFIX, load_rules, rule_files, select_rules
from plugins.target import HARNESS_CONTEXT

if TYPE_CHECKING:
    from _pytest.mark import ParameterSet

    from system.loader import System

SELECTED_RULES = pytest.StashKey[list[str]]()
RULE_NAMES = pytest.StashKey[list[str]]()


def no_alerts(system: System) -> str:
    return f"{system.describe()} declares no [alerts]: it has no alert rule to prove"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("reliability").addoption(
        "--alert-rule",
        action="append",
        default=[],
        metavar="NAME",
        help="end-to-end alert tests for this rule only (repeatable; default: every rule)",
    )


def pytest_configure(config: pytest.Config) -> None:
    context = config.stash.get(HARNESS_CONTEXT, None)
    if context is None:
        return
    system, profile = context.system, context.profile
    names = config.getoption("--alert-rule")
    try:
        check_inducible(
            profile.alerts_induce, system.description, profile.chaos_allow, profile.hooks
        )
    except AlertRuleError as error:
        raise pytest.UsageError(f"target profile {profile.describe()}: {error}") from None
    alerts = system.description.alerts
    if alerts is None:
        if names:
            raise pytest.UsageError(f"--alert-rule {names[0]}: {no_alerts(system)}")
        return
    try:
        rules = load_rules(rule_files(alerts.rules))
        check_inducements(alerts, list(rules), system.source)
    except AlertRuleError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[RULE_NAMES] = sorted(rules)
    if names:
        try:
            selected = select_rules(rules, names)
        except AlertRuleError as error:
            raise pytest.UsageError(f"--alert-rule: {error}") from None
        config.stash[SELECTED_RULES] = [rule.name for rule in selected]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests taking `alert_rule_name` run once per selected (or every) rule of the
    system's rule files; `alert_rule_file` once per rule file; `induced_rule_name` once
    per rule the profile's `[alerts] induce` names."""
    wanted = {"induced_rule_name", "fault_rule_name", "alert_rule_file", "alert_rule_name"}
    if not wanted & set(metafunc.fixturenames):
        return
    context = metafunc.config.stash[HARNESS_CONTEXT]
    system = context.system
    alerts = system.description.alerts
    induce = context.profile.alerts_induce
    if "induced_rule_name" in metafunc.fixturenames:
        pushed = inducible_rules(system.description)
        by_push = [name for name in induce if name in pushed]
        metafunc.parametrize("induced_rule_name", by_push or [None])
    if "fault_rule_name" in metafunc.fixturenames:
        faulted = fault_rules(system.description)
        by_fault = [name for name in induce if name in faulted]
        metafunc.parametrize("fault_rule_name", by_fault or [None])
    if "alert_rule_file" in metafunc.fixturenames:
        files: list[ParameterSet] = (
            [pytest.param(path, id=path.name) for path in rule_files(alerts.rules)]
            if alerts is not None
            else []
        )
        reason = no_alerts(system) if alerts is None else no_rules(system, alerts.rules)
        metafunc.parametrize("alert_rule_file", files or [_none(reason)])
    if "alert_rule_name" not in metafunc.fixturenames:
        return
    if alerts is None:
        metafunc.parametrize("alert_rule_name", [_none(no_alerts(system))])
        return
    names = metafunc.config.stash.get(SELECTED_RULES, None)
    if names is None:
        names = metafunc.config.stash.get(RULE_NAMES, None)
    if names is None:  # not configured through this plugin's pytest_configure
        try:
            names = sorted(load_rules(rule_files(alerts.rules)))
        except AlertRuleError as error:
            raise pytest.UsageError(str(error)) from None
    params = [_param(system, name) for name in names]
    metafunc.parametrize("alert_rule_name", params or [_none(no_rules(system, alerts.rules))])


def _none(reason: str) -> ParameterSet:
    """The one test run when there is nothing to parametrize by: skipped, saying why."""
    return pytest.param(None, id="none", marks=[pytest.mark.skip(reason=reason)])


def no_rules(system: System, directory: str) -> str:
    return f"{system.describe()}: no *{RULE_SUFFIX} in {directory}, so no alert rule to prove"


def _param(system: System, name: str) -> ParameterSet:
    """A rule without an inducement is skipped, naming it; one induced by pushing results
    needs no target: its test is `quiet`."""
    condition = condition_for(system.description, name)
    if condition is None:
        reason = no_inducement(name, system.source)
        return pytest.param(name, id=name, marks=[pytest.mark.skip(reason=reason)])
    return pytest.param(
        name, id=name, marks=[pytest.mark.quiet] if not condition.needs_target else []
    )

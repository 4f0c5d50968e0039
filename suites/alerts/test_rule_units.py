"""Every rule file of the system passes `promtool check rules` and its own `promtool test
rules` (`<rules>/tests/<name>.test.yml`: series in, alerts expected at given evaluation
times); a failure shows promtool's diff. One test per rule file of the description's
`[alerts] rules` (`plugins/alert_selection.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerting.rules import check_rules, load_rules, rule_tests_file, run_rule_tests
from plugins.criteria import Criteria


@pytest.mark.pr_gate
@pytest.mark.quiet  # promtool for a moment: beside a measurement under xdist
@pytest.mark.criteria("alert_rule_units")
def test_rule_file_passes_promtool_check_and_its_unit_tests(
    alert_rule_file: Path, criteria: Criteria
) -> None:
    check_rules(alert_rule_file)
    unit_tests = rule_tests_file(alert_rule_file)
    assert unit_tests.is_file(), (
        f"{alert_rule_file.name} has no promtool unit tests at {unit_tests}"
    )
    cases = len((yaml.safe_load(unit_tests.read_text()) or {}).get("tests") or [])
    rules = len(load_rules([alert_rule_file]))
    try:
        output = run_rule_tests(unit_tests)
        failing = 0
    except AssertionError as error:  # promtool's diff: one "FAILED:" per failing group
        output, failing = str(error), max(1, str(error).count("FAILED:"))
    # What an auditor reads: how many rules the file holds and how many unit tests ran.
    criteria.record(
        criterion="alert_rule_units",
        scope=alert_rule_file.name,
        bound=0,
        unit="failures",
        measured=failing,
        verdict="pass" if failing == 0 and "SUCCESS" in output else "fail",
        rules=rules,
        test_groups=cases,
    )
    assert failing == 0, output
    assert "SUCCESS" in output, output

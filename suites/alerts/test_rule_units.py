"""Every rule file of the system passes `promtool check rules` and its own `promtool test
rules` (`<rules>/tests/<name>.test.yml`: series in, alerts expected at given evaluation
times); a failure shows promtool's diff. One test per rule file of the description's
`[alerts] rules` (`plugins/alert_selection.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.rules import check_rules, rule_tests_file, run_rule_tests


@pytest.mark.pr_gate
@pytest.mark.quiet  # promtool for a moment: beside a measurement under xdist
def test_rule_file_passes_promtool_check_and_its_unit_tests(alert_rule_file: Path) -> None:
    check_rules(alert_rule_file)
    unit_tests = rule_tests_file(alert_rule_file)
    assert unit_tests.is_file(), (
        f"{alert_rule_file.name} has no promtool unit tests at {unit_tests}"
    )
    output = run_rule_tests(unit_tests)
    assert "SUCCESS" in output

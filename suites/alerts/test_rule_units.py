"""Every shipped rule file passes `promtool check rules` and its own `promtool test rules`
(series in, alerts expected at given evaluation times); a failure shows promtool's diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.rules import RULE_SUFFIX, RULE_TESTS_DIR, check_rules, rule_files, run_rule_tests

RULE_FILES = rule_files()


@pytest.mark.pr_gate
@pytest.mark.quiet  # promtool for a moment: beside a measurement under xdist
@pytest.mark.parametrize("rule_file", RULE_FILES, ids=[path.name for path in RULE_FILES])
def test_rule_file_passes_promtool_check_and_its_unit_tests(rule_file: Path) -> None:
    check_rules(rule_file)
    unit_tests = RULE_TESTS_DIR / rule_file.name.replace(RULE_SUFFIX, ".test.yml")
    assert unit_tests.is_file(), f"{rule_file.name} has no promtool unit tests at {unit_tests}"
    output = run_rule_tests(unit_tests)
    assert "SUCCESS" in output

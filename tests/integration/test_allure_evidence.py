"""The Allure results are audit evidence: labels per criterion, environment, categories
(`plugins/allure_meta.py`). The report generated from them: test_allure_report_in_a_browser.py."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

SUITE_TEST = """
import pytest

@pytest.mark.pr_gate
def test_p95_within_the_slo():
    pass

def test_a_broken_measurement():
    raise RuntimeError("ServiceStartError: the target did not start")
"""


def test_results_carry_epic_severity_title_environment_and_categories(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        'pytest_plugins = ["plugins.target", "plugins.allure_meta"]\n'
        "def pytest_configure(config):\n"
        '    config.addinivalue_line("markers", "pr_gate: x")\n'
    )
    (pytester.path / "suites" / "load").mkdir(parents=True)
    (pytester.path / "suites" / "load" / "test_gate.py").write_text(SUITE_TEST)
    results = pytester.path / "results"
    run = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--backend", "native", f"--alluredir={results}", "suites"
    )
    run.assert_outcomes(passed=1, failed=1)
    documents = [json.loads(path.read_text()) for path in results.glob("*-result.json")]
    by_name = {document["name"]: document for document in documents}
    passed = by_name["P95 within the slo"]
    labels = {(label["name"], label["value"]) for label in passed["labels"]}
    assert ("epic", "P95 latency and error rate under load") in labels
    assert ("severity", "critical") in labels
    assert ("feature", "test_gate") in labels
    assert ("story", "test_p95_within_the_slo") in labels
    environment = (results / "environment.properties").read_text()
    assert "backend=native" in environment
    assert "server.postgres=postgres\\:15.18" in environment
    categories = json.loads((results / "categories.json").read_text())
    assert [category["name"].split(" (")[0] for category in categories] == [
        "Undecided gates",
        "Invalid runs",
        "SLO and criterion violations",
        "Harness or infrastructure errors",
    ]

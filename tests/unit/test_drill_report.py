"""The drill's per-suite table counts each outcome from pytest's JUnit XML."""

from __future__ import annotations

from pathlib import Path

from drill.__main__ import suite_counts

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="suites.load.test_p95_under_load" name="a"/>
<testcase classname="suites.load.test_p95_under_load" name="b"><failure message="P95"/></testcase>
<testcase classname="suites.dr.test_pitr" name="c"><skipped message="no s3"/></testcase>
<testcase classname="suites.dr.test_pitr" name="d"><error message="boom"/></testcase>
<testcase classname="suites.alerts.test_firing" name="e"/>
</testsuite></testsuites>
"""


def test_suite_counts_passed_failed_and_skipped_per_suite(tmp_path: Path) -> None:
    junit = tmp_path / "drill.xml"
    junit.write_text(JUNIT)
    counts = suite_counts(junit)
    assert counts["load"] == {"passed": 1, "failed": 1}
    assert counts["dr"] == {"skipped": 1, "failed": 1}
    assert counts["alerts"] == {"passed": 1}
    assert set(counts) == {"load", "dr", "alerts"}

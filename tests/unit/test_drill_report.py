"""The drill's per-suite table counts each outcome from pytest's JUnit XML."""

from __future__ import annotations

import subprocess
import sys
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


def test_the_drill_command_runs_and_names_a_bad_profile(tmp_path: Path) -> None:
    """`python -m drill` is the main job: its entry point must run, and a bad profile
    stops it with one line and exit status 2 before anything starts."""
    missing = tmp_path / "missing.toml"
    result = subprocess.run(
        [sys.executable, "-m", "drill", "--target", str(missing)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if str(missing) in line]
    assert len(lines) == 1, result.stdout + result.stderr
    assert "does not exist" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr

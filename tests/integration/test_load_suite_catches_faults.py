"""The load suite itself fails on a target with the matching fault.

A second reference target is started with a test-only fault (graph queries delayed, or a
share of requests answered 500), with a Prometheus scraping it, and the real suite
(`suites/load`, its `pr_gate` graph-query run) is pointed at it through a target profile,
in a separate pytest process, exactly as a user would run it against staging. The suite
must fail, naming the measured value and the bound.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fixtures.providers.api import ApiEndpoint
from suites.load.gated_run import scrape_config

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SUITE_RUN = [
    "suites/load/test_p95_under_load.py",
    "-m",
    "pr_gate",
    "-k",
    "short and graph_query",
    "-p",
    "no:cacheprovider",
]
SUITE_DEADLINE_SECONDS = 240.0


def run_suite_against(
    target: ApiEndpoint, prometheus_url: str, workdir: Path
) -> subprocess.CompletedProcess[str]:
    profile = workdir / "faulted.toml"
    profile.write_text(
        '[target]\nname = "faulted-reference-target"\n'
        f'[services.api]\nurl = "{target.url}"\n'
        f'[services.prometheus]\nurl = "{prometheus_url}"\n'
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", *SUITE_RUN, "--target", str(profile)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SUITE_DEADLINE_SECONDS,
        check=False,
    )


def faulted_target(
    api_factory: Callable[..., Any], prometheus_factory: Callable[..., Any], faults: dict[str, str]
) -> tuple[ApiEndpoint, str]:
    target: ApiEndpoint = api_factory(faults=faults).endpoint
    prometheus = prometheus_factory(config=scrape_config(target)).endpoint
    return target, prometheus.url


def test_slow_graph_queries_fail_the_p95_gate_naming_value_and_bound(
    api_factory: Callable[..., Any], prometheus_factory: Callable[..., Any], tmp_path: Path
) -> None:
    target, prometheus_url = faulted_target(
        api_factory,
        prometheus_factory,
        {"TARGET_FAULT_GRAPH_DELAY_SECONDS": "2.0", "TARGET_FAULT_GRAPH_DELAY_SHARE": "0.3"},
    )
    run = run_suite_against(target, prometheus_url, tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "1 failed" in output, output
    assert re.search(r"P95 \d+\.\d\d s > bound 1\.50 s", output), output
    assert "Traceback" not in output


def test_server_errors_fail_the_error_rate_gate_naming_value_and_bound(
    api_factory: Callable[..., Any], prometheus_factory: Callable[..., Any], tmp_path: Path
) -> None:
    target, prometheus_url = faulted_target(
        api_factory, prometheus_factory, {"TARGET_FAULT_ERROR_SHARE": "0.05"}
    )
    run = run_suite_against(target, prometheus_url, tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert re.search(r"error rate \d+\.\d\d% > bound 1\.00%", output), output
    assert "HTTP 500" in output, output
    assert "Traceback" not in output

"""The Allure report, generated offline (`drill/report.py`: HTML and a single file) and
opened in headless Chromium (Debian's `chromium`): after two runs its overview shows the
suites and the trend, its behaviours the epics. A
screenshot of the overview is kept as evidence (`reports/evidence/`, and in Allure)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from drill import report
from fixtures.lifecycle.loopback_http import serving
from plugins.evidence import attach_file

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "reports" / "evidence" / "allure-overview.png"
BROWSER_SECONDS = 60
RENDER_BUDGET_MS = "15000"  # virtual time for the report's scripts to load its data
SUITES = {
    "load": "import pytest\n\n@pytest.mark.pr_gate\ndef test_p95_within_the_slo():\n    pass\n",
    "dr": "def test_restore_matches_the_ledger():\n    pass\n",
}


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def served(directory: Path) -> Iterator[str]:
    """The report over HTTP on loopback (its scripts load their data with requests)."""
    with serving(functools.partial(QuietHandler, directory=str(directory))) as url:
        yield f"{url}/index.html"


def chromium(profile: Path, *arguments: str) -> str:
    """Headless Chromium's stdout; its whole process group is killed on a timeout."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed: run scripts/bootstrap", pytrace=False)
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        f"--user-data-dir={profile}", f"--virtual-time-budget={RENDER_BUDGET_MS}", *arguments,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        out, _ = process.communicate(timeout=BROWSER_SECONDS)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return out.decode(errors="replace")


def test_the_report_shows_suites_epics_and_the_trend_after_two_runs(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makeconftest(
        'pytest_plugins = ["plugins.target", "plugins.allure_meta"]\n'
        "def pytest_configure(config):\n"
        '    config.addinivalue_line("markers", "pr_gate: x")\n'
    )
    for suite, source in SUITES.items():
        (pytester.path / "suites" / suite).mkdir(parents=True)
        (pytester.path / "suites" / suite / f"test_{suite}.py").write_text(source)
    results, html, single = tmp_path / "results", tmp_path / "report", tmp_path / "report.html"
    for _ in range(2):
        run = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--backend", "native", "suites",
            f"--alluredir={results}", "--clean-alluredir",
        )  # fmt: skip
        run.assert_outcomes(passed=2)
        report.generate(results, html, single)
    assert single.stat().st_size > 100_000, "one self-contained file, for an audit ticket"
    trend = json.loads((html / "widgets" / "history-trend.json").read_text())
    assert len(trend) == 2, "the second report carries the first run's history"

    profile = tmp_path / "chromium-profile"
    with served(html) as url:
        overview = chromium(profile, "--dump-dom", url)
        behaviours = chromium(profile, "--dump-dom", f"{url}#behaviors")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.unlink(missing_ok=True)
        chromium(profile, "--window-size=1440,1300", f"--screenshot={SCREENSHOT}", url)
    for widget in ("Suites", "Trend", "Features by stories", "Environment", "Categories"):
        assert f'widget__title">{widget}' in overview, f"no {widget} widget on the overview"
    for suite in ("suites.load", "suites.dr"):
        assert suite in overview, f"suite {suite} is not on the overview"
    assert "P95 latency and error rate under load" in behaviours
    assert "Exact point-in-time restore, RPO and RTO" in behaviours
    assert SCREENSHOT.stat().st_size > 10_000, "a screenshot of the rendered overview"
    attach_file("the report's overview in Chromium", SCREENSHOT)

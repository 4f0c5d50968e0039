"""`python -m drill.report`: the Allure HTML report of the last run, offline, for audits.

Allure 2 (`allure-commandline` from the npm registry, pinned in `scripts/bootstrap`) runs
on the JVM the native backend already needs, and its `--single-file` mode writes one
self-contained HTML file to attach to an audit ticket; Allure 3 (Node) would need
neither Java nor a plugin, but its single-file and history formats are newer than the
audit trail kept so far. Writes:

- `reports/allure-report/` — the report, with the trend of earlier runs: the previous
  report's `history/` is copied into the results before generating (Allure's way);
- `reports/allure-report.html` — the same report as one file.

Without the CLI (npm was missing at bootstrap) it says so in one line and exits 2.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fixtures.tools import tools_home

ROOT = Path(__file__).resolve().parents[1]
ALLURE_VERSION = "2.46.1"  # keep in step with ALLURE_VERSION in scripts/bootstrap
# Where the drill's evidence goes: the repository's reports/, or RELIABILITY_REPORTS_DIR
# (a test that runs the drill must not replace the evidence of the run it is part of).
REPORTS = Path(os.environ.get("RELIABILITY_REPORTS_DIR") or ROOT / "reports")
RESULTS = REPORTS / "allure-results"
REPORT = REPORTS / "allure-report"
SINGLE_FILE = REPORTS / "allure-report.html"
GENERATE_SECONDS = 600
# A CLI that runs for seconds: the JIT's first tier and one GC thread halve its CPU time.
SHORT_RUN_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


class ReportError(Exception):
    """The report cannot be generated; the message says why and what to do."""


def allure_cli() -> Path:
    cli = tools_home() / f"allure-{ALLURE_VERSION}" / "node_modules" / ".bin" / "allure"
    if not cli.exists():
        raise ReportError(
            f"Allure {ALLURE_VERSION} is not installed ({cli}): run scripts/bootstrap"
        )
    return cli


def generate(results: Path = RESULTS, report: Path = REPORT, single: Path = SINGLE_FILE) -> None:
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ReportError(f"no Allure results in {results}: run the drill or make test first")
    cli = allure_cli()
    previous = report / "history"
    if previous.is_dir():
        shutil.copytree(previous, results / "history", dirs_exist_ok=True)
    staging = single.with_suffix(".partial")
    with ThreadPoolExecutor(max_workers=2) as pool:  # the two reports at once
        runs = [
            pool.submit(_run, [str(cli), "generate", str(results), "-o", str(report), "--clean"]),
            pool.submit(
                _run,
                [
                    str(cli),
                    "generate",
                    "--single-file",
                    str(results),
                    "-o",
                    str(staging),
                    "--clean",
                ],
            ),
        ]
        for run in runs:
            run.result()
    (staging / "index.html").replace(single)
    shutil.rmtree(staging, ignore_errors=True)


def _run(argv: list[str]) -> None:
    options = f"{os.environ.get('ALLURE_OPTS', '')} {SHORT_RUN_JVM}".strip()
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=GENERATE_SECONDS,
        check=False,
        env={**os.environ, "ALLURE_OPTS": options},
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise ReportError(f"allure generate failed: {lines[-1] if lines else done.returncode}")


def main() -> int:
    try:
        generate()
    except ReportError as error:
        print(f"report: {error}", file=sys.stderr)
        return 2
    print(f"report: {REPORT / 'index.html'} and {SINGLE_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

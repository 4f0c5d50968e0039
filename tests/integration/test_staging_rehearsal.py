"""A staging rehearsal: the README's drill command against a shared environment, for real.

A separate process (`python -m drill.rehearsal --destructive`) starts a complete
environment the way an outside operator runs one — the databases (Postgres with a
streaming standby behind writer and reader endpoints), the reference target, Prometheus
evaluating the shipped rules, Alertmanager routing the harness's test alerts to a quiet
receiver, a Pushgateway, Toxiproxy, WAL archived to S3 — and writes its target profile
(secrets as `${NAME}`, `destructive = true`, `[hooks]` that fail its database over). The
drill then runs against that profile with `destructive = false`, as it would against
staging (`--quick`: its pr_gate tests): the destructive tests are refused with the reason;
the induced alerts fire in the profile's Alertmanager and resolve; the allowed chaos
experiment runs through the profile's Toxiproxy; the profile's archive is restored locally
with its phases timed and a marker found. With a profile that does not opt in, nothing is
pushed and nothing is written. With `destructive = true` the failover rehearsal runs
through the environment's own commands: a `repoint` that does nothing fails it at the RTO
bound, and the environment is restored, so the next one, with the profile as written,
passes. (The load gates through a profile are `test_load_suite_catches_faults.py`'s: a
4 %-slow target passes, a 10 %-slow one fails.)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests

from fixtures.profile import load_profile
from fixtures.providers.postgres import PostgresProvider
from system.deadline import WaitTimeoutError, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 240.0
DRILL_SECONDS = 900.0


@dataclass(frozen=True)
class Rehearsal:
    profile: Path  # as the rehearsal wrote it: destructive = true, failover [hooks]
    secrets: dict[str, str]

    @property
    def shared(self) -> Path:
        """The same environment as a shared staging's profile: not destructive, no hooks."""
        shared = self.profile.with_name("shared.toml")
        if not shared.exists():
            text = self.profile.read_text().split("\n[hooks]")[0]
            shared.write_text(text.replace("destructive = true", "destructive = false"))
        return shared

    def environment(self) -> dict[str, str]:
        # the drill's evidence in the rehearsal's directory, not in the reports/ of this run
        reports = str(self.profile.parent / "reports")
        return {**os.environ, **self.secrets, "RELIABILITY_REPORTS_DIR": reports}


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    workdir = tmp_path_factory.mktemp("rehearsal")
    profile = workdir / "staging-rehearsal.toml"
    log = workdir / "rehearsal.log"
    with log.open("wb") as out:
        stack = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "drill.rehearsal",
                "--profile",
                str(profile),
                "--destructive",
                "--induce",
                "RPOViolated",
                "--induce",
                "ChaosDrillFailed",
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def written() -> bool:
            assert stack.poll() is None, f"the rehearsal stack ended:\n{log.read_text()[-3000:]}"
            return profile.exists()

        try:
            wait_until(written, seconds=START_SECONDS, what=f"profile {profile}", interval=0.5)
        except WaitTimeoutError as timeout:
            pytest.fail(f"{timeout}:\n{log.read_text()[-3000:]}")
        time.sleep(1)  # the export lines follow the profile
        exports = dict(re.findall(r"^export (\w+)=(.*)$", log.read_text(), re.MULTILINE))
        yield Rehearsal(profile, exports)
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have ended by itself
            os.killpg(stack.pid, signal.SIGINT)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()


def drill(rehearsal: Rehearsal, *arguments: str) -> subprocess.CompletedProcess[str]:
    suites = ("--suite", "alerts", "--suite", "chaos", "--suite", "dr")
    # --no-report: the Allure HTML (two JVMs) is test_allure_report_in_a_browser.py's.
    # --workers 2 (against a profile the default is one test at a time, which the second
    # system's drills through a profile run): the alert watch and the archive's restores
    # overlap, the chaos experiment still takes its exclusive turn (plugins/turns.py).
    options = ("--quick", "--no-report", "--workers", "2")
    return subprocess.run(
        [sys.executable, "-m", "drill", *options, *suites, *arguments],
        cwd=ROOT,
        env=rehearsal.environment(),
        capture_output=True,
        text=True,
        timeout=DRILL_SECONDS,
        check=False,
    )


def test_the_drill_runs_against_the_rehearsal_profile(rehearsal: Rehearsal) -> None:
    run = drill(rehearsal, "--target", str(rehearsal.shared))
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert "preflight passed" in output
    assert "destructive test refused against target staging-rehearsal" in output
    for rule in ("RPOViolated", "ChaosDrillFailed"):
        assert re.search(rf"alert_time_to_fire\s*│\s*{rule}\s*│.*│\s*pass", output), output[-4000:]
    assert re.search(r"│ rto\s*│ postgres archive\s*│.*│ pass", output), output[-4000:]
    assert re.search(r"│ rpo\s*│ postgres archive\s*│.*│ pass", output), output[-4000:]
    assert re.search(r"chaos_hypothesis\s*│\s*redis-latency\s*│.*│\s*pass", output), output[-4000:]
    for criterion in ("replica_drift", "replica_overdue"):  # its mirrored bucket, by manifest
        assert re.search(rf"│ {criterion}\s*│.*│ pass", output), output[-4000:]
    assert "partition faults are not allowed against staging-rehearsal" in output
    assert "Traceback" not in output


def test_a_profile_that_does_not_opt_in_gets_nothing_pushed_or_written(
    rehearsal: Rehearsal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = rehearsal.shared.read_text()
    quiet = tmp_path / "no-opt-in.toml"
    quiet.write_text(
        text.split("\n[alerts]")[0].replace("write_markers = true", "write_markers = false")
    )
    for name, value in rehearsal.secrets.items():
        monkeypatch.setenv(name, value)
    profile = load_profile(str(quiet))
    postgres = PostgresProvider().from_profile(profile.services["postgres"])
    before = _markers(postgres.dsn)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/alerts/test_profile_alerts.py",
         "suites/dr/test_profile_restore.py", "-m", "pr_gate", "--target", str(quiet),
         "-k", "induced or marker", "-p", "no:cacheprovider", "-rs"],
        cwd=ROOT, env=rehearsal.environment(), capture_output=True, text=True,
        timeout=DRILL_SECONDS, check=False,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "[alerts] induce names no condition" in output
    assert "writing a marker row is refused" in output
    assert _markers(postgres.dsn) == before, "a marker was written"
    pushed = requests.get(f"{profile.services['pushgateway']['url']}/metrics", timeout=5).text
    assert 'harness_test="true"' not in pushed, "something of the harness is on the Pushgateway"


def _markers(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as db:
        exists = db.execute("SELECT to_regclass('reliability_harness_markers')").fetchone()
        if exists is None or exists[0] is None:
            return 0
        counted = db.execute("SELECT count(*) FROM reliability_harness_markers").fetchone()
    return int(counted[0]) if counted else 0


def test_the_environments_failover_fails_without_its_repoint_and_passes_with_it(
    rehearsal: Rehearsal, tmp_path: Path
) -> None:
    """The environment's primary failed over through its `[hooks]` (the rehearsal's
    platform commands) under the ledger's writes. First with a `repoint` that does nothing
    (the target stays on the lost primary): the rehearsal fails at the RTO bound, naming
    it, and `restore_primary` still runs. Then as written, under the same bound (a failover
    takes ~3 s here): every row passes with measured values, the environment restored
    again, no write lost."""
    text = rehearsal.profile.read_text()
    assert "restore_primary = " in text, text
    assert "standby_dsn = " in text, text
    bounded = text.replace(
        "[services.api]", f"[slo]\nrto_seconds = {RTO_BOUND_SECONDS}\n\n[services.api]"
    )
    broken = tmp_path / "no-repoint.toml"
    broken.write_text(re.sub(r"^repoint = .*$", 'repoint = ["true"]', bounded, flags=re.MULTILINE))
    run = _failover(rehearsal, broken, tmp_path / "broken.jsonl")
    output = run.stdout + run.stderr
    print(output)
    assert run.returncode == 1, output[-4000:]
    assert f"within the RTO bound ({RTO_BOUND_SECONDS} s from the failure)" in output, output
    assert "postgres': 'error" in output, output[-4000:]  # the target still on the lost primary
    assert "Traceback" not in output
    assert _verdicts(tmp_path / "broken.jsonl") == {"failover_rto": ["fail"]}

    healthy = tmp_path / "bounded.toml"  # the same bound: a working failover passes it
    healthy.write_text(bounded)
    run = _failover(rehearsal, healthy, tmp_path / "rows.jsonl")
    output = run.stdout + run.stderr
    print(output)
    assert run.returncode == 0, output[-4000:]
    assert "after [hooks] restore_primary" in output, output
    verdicts = _verdicts(tmp_path / "rows.jsonl")
    assert verdicts == {
        "failover_rto": ["pass"],
        "replication_lag": ["pass"],
        "failover_writes_lost": ["pass"],  # after the restore
        "failover_rpo": ["pass"],  # the reference's standby is asynchronous
    }, verdicts


RTO_BOUND_SECONDS = 10


def _failover(rehearsal: Rehearsal, profile: Path, rows: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "suites/dr/test_failover.py", "-k", "profiles",
         "--target", str(profile), "-p", "no:cacheprovider", "-s", f"--criteria-file={rows}"],
        cwd=ROOT, env=rehearsal.environment(), capture_output=True, text=True,
        timeout=DRILL_SECONDS, check=False,
    )  # fmt: skip


def _verdicts(rows: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in rows.read_text().splitlines():
        row = json.loads(line)
        found.setdefault(row["criterion"], []).append(row["verdict"])
    return found

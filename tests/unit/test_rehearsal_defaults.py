"""What the staging rehearsal's profile allows by default (`drill/rehearsal.py`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from drill.rehearsal import default_induce, freezing_hooks
from tests.reference import REFERENCE


def test_by_default_every_rule_but_one_held_an_hour_is_induced() -> None:
    induced = default_induce(REFERENCE)
    assert "ChaosDrillNotRun" not in induced  # for: 1h: a drill would wait it out
    assert induced == [
        "RPOViolated",
        "RTOViolated",
        "ReplicationLagHigh",
        "ChaosDrillFailed",
        "P95LatencyHigh",
        "HighErrorRate",
        "ServiceDown",
    ]


def test_its_hooks_freeze_and_release_a_process_group() -> None:
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True
    )
    try:
        hooks = freezing_hooks(sleeper.pid)
        subprocess.run(hooks["stop_api"], check=True, timeout=30)
        assert _state(sleeper.pid) == "T", "stopped"
        subprocess.run(hooks["start_api"], check=True, timeout=30)
        assert _state(sleeper.pid) != "T", "running again"
    finally:
        sleeper.kill()
        sleeper.wait()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split()[2]

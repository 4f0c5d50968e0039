"""The pytest side of the load engine never imports Locust or gevent (which patch the process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PATCHING = ("locust", "gevent", "geventhttpclient", "greenlet", "zmq")
PYTEST_SIDE = (
    "load",
    "load.plan",
    "load.pacing",
    "load.stats",
    "load.records",
    "load.result",
    "load.runner",
    "load.gates",
    "load.sequential",
    "load.capacity",
    "load.ids",
    "load.preflight",
    "load.evidence",
    "load.crosscheck",
)
REPO = Path(__file__).resolve().parents[2]


def test_importing_the_pytest_side_in_a_fresh_interpreter_imports_no_patching_module() -> None:
    script = (
        "import importlib, sys\n"
        f"for name in {PYTEST_SIDE!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {PATCHING!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_this_pytest_process_is_not_patched() -> None:
    import load.runner  # noqa: F401, PLC0415 - the import under test

    assert [m for m in sys.modules if m.split(".")[0] in PATCHING] == []

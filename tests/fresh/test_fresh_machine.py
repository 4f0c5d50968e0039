"""Two commands on a fresh machine: `scripts/bootstrap` and the PR gate's job pass on a
minimal Debian with no Go, Python, git or make on it (scripts/fresh-machine.py, and
docs/fresh-machine.md). About 10 minutes per Debian release, as root: only `make fresh`
runs these (`-m fresh`), never `make test`."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GO_VERSION = re.search(
    r'^GO_VERSION="([^"]+)"', (REPO / "scripts" / "bootstrap").read_text(), re.MULTILINE
)
# Debian 12, the job containers' release, and Debian 13, whose Python is 3.13.
SUITES = ("bookworm", "trixie")
RUN_TIMEOUT_SECONDS = 2 * 3600


@pytest.mark.fresh
@pytest.mark.timeout(RUN_TIMEOUT_SECONDS + 300)
@pytest.mark.parametrize("suite", SUITES)
def test_bootstrap_and_the_pr_gate_pass_on_a_fresh_debian(suite: str, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: debootstrap, chroot and namespaces")
    assert GO_VERSION is not None, "scripts/bootstrap pins no GO_VERSION"
    pinned = GO_VERSION.group(1)
    summary = tmp_path / "fresh-machine.json"
    completed = subprocess.run(
        [REPO / "scripts" / "fresh-machine", "--suite", suite, "--report", summary],
        cwd=REPO, timeout=RUN_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    report = json.loads(summary.read_text())
    evidence = f"reports/fresh-machine/{suite}/run.log"
    assert report["go_on_path_before"] is None, f"a go on the fresh PATH: {report}"
    assert report["bootstrap_done"], f"scripts/bootstrap did not finish: {evidence}"
    assert report["bootstrap_go"].startswith(f"Go {pinned} ("), report["bootstrap_go"]
    assert f"go version go{pinned} linux/" in report["bootstrap_go"]
    failed = [phase for phase in report["phases"] if phase["status"] == "failed"]
    assert not failed, f"{failed}: {evidence}"
    assert report["passed"]
    assert completed.returncode == 0

"""Nothing leaks: a pytest run that is killed (SIGKILL) or interrupted (Ctrl-C) leaves no
server process, listening port or temporary directory behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fixtures.lifecycle.reaper import process_group_alive
from fixtures.providers.registry import PROVIDERS
from system.deadline import Deadline, NotYet, WaitTimeoutError, wait_until

pytestmark = pytest.mark.integration

START_DEADLINE_SECONDS = 180.0
CLEANUP_DEADLINE_SECONDS = 10.0

HOLDING_TEST = f"""
import json, os, time
from pathlib import Path

def test_hold_every_service(request, service_launcher):
    for name in {list(PROVIDERS)!r}:
        request.getfixturevalue(name)
    services = service_launcher.running()
    state = {{
        "process_groups": [s.process.pid for s in services if s.process is not None],
        "ports": [s.endpoint.port for s in services],
        "root": str(service_launcher.root),
        "reaper": service_launcher.reaper_pid,
    }}
    Path(os.environ["HARNESS_STATE_FILE"]).write_text(json.dumps(state))
    time.sleep(120)  # bounded: the parent test signals us long before this ends
"""


def start_holding_run(pytester: pytest.Pytester, state_file: Path) -> subprocess.Popen[bytes]:
    pytester.makeconftest('pytest_plugins = ["plugins.target", "plugins.services"]')
    test_file = pytester.makepyfile(test_hold=HOLDING_TEST)
    log = (pytester.path / "run.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--backend",
            "native",
            str(test_file),
        ],
        cwd=pytester.path,
        env={**os.environ, "HARNESS_STATE_FILE": str(state_file)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_for_state(run: subprocess.Popen[bytes], state_file: Path, log: Path) -> dict[str, Any]:

    def written() -> bool:
        if run.poll() is not None:
            pytest.fail(f"the holding run ended before its state:\n{log.read_text()}")
        return state_file.exists()

    try:
        wait_until(written, seconds=START_DEADLINE_SECONDS, what="every service", interval=0.2)
    except WaitTimeoutError as timeout:
        run.kill()
        pytest.fail(f"the holding run did not start {timeout}:\n{log.read_text()}")
    state: dict[str, Any] = json.loads(state_file.read_text())
    return state


def is_listening(port: int) -> bool:
    """A connect, not a bind: after a clean shutdown the port may sit in TIME_WAIT, which
    blocks a bind without anything listening."""
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def leftovers(state: dict[str, Any]) -> list[str]:
    found = [
        f"process group {pgid}" for pgid in state["process_groups"] if process_group_alive(pgid)
    ]
    found += [f"port {port}" for port in state["ports"] if is_listening(port)]
    if Path(state["root"]).exists():
        found.append(f"directory {state['root']}")
    if state["reaper"] is not None and process_group_alive(state["reaper"]):
        found.append(f"reaper {state['reaper']}")
    return found


@pytest.mark.parametrize(
    "signal_number", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"]
)
def test_a_signalled_run_leaves_nothing_behind(
    pytester: pytest.Pytester, signal_number: signal.Signals
) -> None:
    state_file = pytester.path / "state.json"
    run = start_holding_run(pytester, state_file)
    state = wait_for_state(run, state_file, pytester.path / "run.log")
    assert len(state["process_groups"]) == len(PROVIDERS)
    assert leftovers(state), "the services should be up before the signal"

    os.kill(run.pid, signal_number)
    cleanup = Deadline(CLEANUP_DEADLINE_SECONDS)  # from the signal, the run's exit included
    run.wait(timeout=60)
    cleanup.wait(
        lambda: not (left := leftovers(state)) or NotYet(f"still there: {left}"),
        what=f"nothing left after {signal_number.name}",
    )

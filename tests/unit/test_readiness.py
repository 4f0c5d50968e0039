"""Readiness waits: transient errors are retried, anything else ends the wait at once,
and Ctrl-C ends it at once (a recovering server may be waited on for an hour)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.errors import ServiceStartError
from fixtures.lifecycle.readiness import wait_until_ready

REPO = Path(__file__).resolve().parents[2]


def test_transient_errors_are_retried_until_the_probe_passes() -> None:
    calls = []

    def probe() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("not yet")

    wait_until_ready("svc", probe, 5.0, poll_seconds=0.01)
    assert len(calls) == 3


def test_an_error_that_is_not_transient_ends_the_wait_at_once() -> None:
    started = time.monotonic()

    def probe() -> None:
        raise ValueError("the probe itself is wrong")

    with pytest.raises(ServiceStartError, match="its probe failed with ValueError: the probe"):
        wait_until_ready("svc", probe, 60.0, poll_seconds=0.01)
    assert time.monotonic() - started < 1


def test_the_deadline_names_the_last_error() -> None:
    def probe() -> None:
        raise ConnectionRefusedError("refused")

    with pytest.raises(
        ServiceStartError, match=r"not ready within 0.2 s \(last probe error: refused"
    ):
        wait_until_ready("svc", probe, 0.2, poll_seconds=0.01)


WAITING = """
from fixtures.lifecycle.readiness import wait_until_ready
def probe():
    raise ConnectionRefusedError("still recovering")
print("waiting", flush=True)
wait_until_ready("postgres", probe, 3600.0, poll_seconds=0.05)
"""


def test_ctrl_c_during_a_readiness_wait_ends_it_at_once() -> None:
    waiting = subprocess.Popen(
        [sys.executable, "-c", WAITING], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert waiting.stdout is not None
    assert waiting.stdout.readline().strip() == b"waiting"
    time.sleep(0.3)
    sent = time.monotonic()
    waiting.send_signal(signal.SIGINT)
    _, errors = waiting.communicate(timeout=10)
    assert time.monotonic() - sent < 2, "the wait went on after Ctrl-C"
    assert waiting.returncode != 0
    assert b"KeyboardInterrupt" in errors

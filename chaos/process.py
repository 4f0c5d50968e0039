"""Process faults ("pod kill"): crash or freeze a service the harness started.

The signals themselves are the running service's (`fixtures.launcher.RunningService`:
`kill`, `pause`, `resume`, `restart`, `supervise`), the one way anything in the harness
crashes or freezes a server; this module only shapes them as faults:

- `killed(service)`: SIGKILL (or `docker kill`) now; a supervised service is restarted by
  its provider on the same data and port, as an orchestrator would; the block sees it down,
  then back. On the way out it waits for the restart (or restarts it itself); a restart
  that never comes is a `WaitTimeoutError`, not a silent return.
- `paused(service)`: SIGSTOP (or `docker pause`) for the block: connections stay open and
  nothing answers, the nastier failure. Continued on every way out, by the reaper too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fixtures.launcher import RunningService
from system.deadline import wait_until

RESTART_WAIT_SECONDS = 120.0


@contextmanager
def killed(service: RunningService[Any]) -> Iterator[float]:
    """Kill `service` now; yields the monotonic time of the kill; back up on the way out."""
    restarts_before = len(service.restarts)
    service.kill()
    killed_at = time.monotonic()
    try:
        yield killed_at
    finally:
        _until_restarted(service, restarts_before)


def _until_restarted(service: RunningService[Any], restarts_before: int) -> None:
    """Back up: its supervisor's restart awaited (`WaitTimeoutError` if it never comes),
    else restarted here; nothing to do once the service is stopped."""

    def back() -> bool:
        return service.stopped or len(service.restarts) > restarts_before

    if not back() and not service.supervised:
        service.restart()  # nobody else will
    wait_until(
        back,
        seconds=RESTART_WAIT_SECONDS,
        what=f"{service.name} restarted by its supervisor after the kill",
    )


@contextmanager
def paused(service: RunningService[Any]) -> Iterator[float]:
    """Freeze `service` for the block; yields the monotonic time it was paused."""
    service.pause()
    try:
        yield time.monotonic()
    finally:
        service.resume()

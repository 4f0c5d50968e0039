"""Probes of the target itself: its health check (`fixtures.target_client`, the system
description's `[health]`), and how long it takes to show a change.

Where the description does not say how the body names each dependency's state,
`failing()` is None and a claim about one dependency is skipped, never guessed.
`wait_for` polls a condition against a deadline on the monotonic clock and says how long
it took: the time to detect a fault, the time to recover.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fixtures.target_client import Health
from fixtures.target_client import health as healthz

__all__ = ["Health", "healthz", "wait_for"]

POLL_SECONDS = 0.2


def wait_for(
    condition: Callable[[], bool], within_seconds: float, poll_seconds: float = POLL_SECONDS
) -> float | None:
    """Seconds until `condition()` held (checked at once, then every poll), or None."""
    started = time.monotonic()
    give_up_at = started + within_seconds
    while True:
        if condition():
            return time.monotonic() - started
        if time.monotonic() >= give_up_at:
            return None
        time.sleep(poll_seconds)

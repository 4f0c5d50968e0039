"""Probes of the target itself: its health check (`fixtures.target_client`, the system
description's `[health]`).

Where the description does not say how the body names each dependency's state,
`failing()` is None and a claim about one dependency is skipped, never guessed. How long
the target takes to show a change (the time to detect a fault, to recover) is measured by
waiting on a `system.deadline.Deadline` and reading its `elapsed()`.
"""

from __future__ import annotations

from fixtures.target_client import Health
from fixtures.target_client import health as healthz

__all__ = ["POLL_SECONDS", "Health", "healthz"]

POLL_SECONDS = 0.2

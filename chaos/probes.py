"""Probes of the target itself: its `/healthz`, and how long it takes to show a change.

`/healthz` (design section 4): 200 `{"status": "ok", "checks": {...}}` when healthy, 503
naming each failing check. `wait_for` polls a condition against a deadline on the
monotonic clock and says how long it took: the time to detect a fault, the time to
recover from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

HEALTHZ_TIMEOUT_SECONDS = 3.0
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Health:
    status: int | None  # None: no answer
    body: dict[str, Any]
    error: str = ""

    @property
    def ok(self) -> bool:
        """200 and every check ok (a reference target with a test-only fault says
        "faulted" instead of "ok" in its status; its checks are what count)."""
        checks = self.body.get("checks")
        return (
            self.status == requests.codes.ok
            and isinstance(checks, dict)
            and bool(checks)
            and all(value == "ok" for value in checks.values())
        )

    def failing(self) -> list[str]:
        """The dependencies it names as failing."""
        checks = self.body.get("checks") or {}
        return sorted(name for name, value in checks.items() if value != "ok")

    def describe(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        checks = self.body.get("checks")
        return f"HTTP {self.status} {self.body.get('status')!r}, checks {checks}"


def healthz(base_url: str, timeout: float = HEALTHZ_TIMEOUT_SECONDS) -> Health:
    try:
        answer = requests.get(f"{base_url.rstrip('/')}/healthz", timeout=timeout)
    except requests.RequestException as error:
        return Health(None, {}, type(error).__name__)
    try:
        body = answer.json()
    except ValueError:
        body = {}
    return Health(answer.status_code, body if isinstance(body, dict) else {})


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

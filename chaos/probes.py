"""Probes of the target itself: its health check, and how long it takes to show a change.

The health check is the system description's `[health]`: a path, the status that means
healthy and, optionally, where the JSON body names each dependency's state (e.g. 200
`{"status": "ok", "checks": {"db": "ok"}}`, 503 naming each failing check). Without
that key nothing is known of one dependency: `failing()` is None and a claim about one is
skipped, never guessed. `wait_for` polls a condition against a deadline on the monotonic
clock and says how long it took: the time to detect a fault, the time to recover.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from system.description import Health as HealthSpec

POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Health:
    status: int | None  # None: no answer
    body: dict[str, Any]
    error: str = ""
    spec: HealthSpec = field(default_factory=HealthSpec)
    text: str = ""

    @property
    def states(self) -> dict[str, Any] | None:
        """Each dependency's state, where the description says the body names them."""
        if self.spec.dependencies is None:
            return None
        found: Any = self.body
        for key in self.spec.dependencies.split("."):
            found = found.get(key) if isinstance(found, dict) else None
        return found if isinstance(found, dict) else {}

    @property
    def ok(self) -> bool:
        """The healthy status and, where described, every dependency ok (a reference target
        with a test-only fault says "faulted" in its status: its checks are what count)."""
        if self.status != self.spec.status:
            return False
        states = self.states
        return states is None or (bool(states) and all(v == self.spec.ok for v in states.values()))

    def failing(self) -> list[str] | None:
        """The dependencies it names as failing; None when the body names none."""
        states = self.states
        if states is None:
            return None
        return sorted(name for name, value in states.items() if value != self.spec.ok)

    def describe(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        states = self.states
        shown = f", checks {states}" if states is not None else f": {self.text[:80]!r}"
        return f"HTTP {self.status}{shown}"


def healthz(base_url: str, spec: HealthSpec | None = None, timeout: float | None = None) -> Health:
    """Ask the target's health check (the description's `[health]`)."""
    spec = spec or HealthSpec()
    try:
        answer = requests.get(
            f"{base_url.rstrip('/')}{spec.path}",
            timeout=timeout or spec.timeout,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        return Health(None, {}, type(error).__name__, spec)
    try:
        body = answer.json()
    except ValueError:
        body = {}
    return Health(answer.status_code, body if isinstance(body, dict) else {}, "", spec, answer.text)


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

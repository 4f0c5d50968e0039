"""Test-only faults, so that suites can prove their gates fail on a bad system.

- `QUOTES_FAULT_GENERATE_DELAY_SECONDS` / `_SHARE`: that share of POST
  /api/v1/quotes/generate requests sleeps that long before doing any work (the seeded
  latency regression). The sleep is outside the database timeout: it slows answers, it
  does not turn them into 503s.
- `QUOTES_FAULT_ERROR_SHARE`: that share of requests to /api/v1/* is answered 500 before
  any work.
- `QUOTES_FAULT_STATUS_UNCHECKED`: GET /status answers OK without asking the database.

Draws come from one RNG with a fixed seed, so a run's sequence of faulted requests is
the same every time. Faults in effect are shown by the `quotes_fault` gauge.
"""

from __future__ import annotations

import asyncio
import random

from examples.quotes_api.config import Faults

FAULT_SEED = 20_240_917


class FaultInjector:
    def __init__(self, faults: Faults, seed: int = FAULT_SEED) -> None:
        self.faults = faults
        self._random = random.Random(seed)  # noqa: S311 - fault sampling, not security

    def _drawn(self, share: float) -> bool:
        return share > 0 and (share >= 1 or self._random.random() < share)

    def should_fail(self) -> bool:
        return self._drawn(self.faults.error_share)

    def generate_delay_seconds(self) -> float:
        """The delay for one generate request: the configured one for its share, else 0."""
        delay = self.faults.generate_delay_seconds
        if delay > 0 and self._drawn(self.faults.generate_delay_share):
            return delay
        return 0.0

    async def delay_generate(self) -> None:
        delay = self.generate_delay_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

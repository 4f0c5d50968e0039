"""Test-only faults, so the load suites can prove their gates fail on a bad target.

- `TARGET_FAULT_GRAPH_DELAY_SECONDS` / `_SHARE`: that share of graph queries waits that
  long first. The wait is inside the timed region of the `neo4j` query metric (the server
  sees a slow graph query, as a client would) but outside the Neo4j timeout, so a delay
  longer than the timeout slows answers instead of turning them into 503s.
- `TARGET_FAULT_ERROR_SHARE`: that share of requests to the entity and graph routes is
  answered 500 before any work is done.

Faults in effect are shown by /healthz (`"status": "faulted"`, `"faults": {...}`) and by
the `intelgraph_target_fault` gauge, so no report can mistake a faulted target for a
healthy one.
"""

from __future__ import annotations

import asyncio
import random

from sut.config import Faults


class FaultInjector:
    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)  # noqa: S311 - fault sampling, not security

    def should_fail(self) -> bool:
        share = self.faults.error_share
        return share > 0 and (share >= 1 or self._random.random() < share)

    def graph_delay_seconds(self) -> float:
        """The delay for one graph query: the configured one for its share, else 0."""
        share = self.faults.graph_delay_share
        delay = self.faults.graph_delay_seconds
        if delay <= 0 or share <= 0:
            return 0.0
        if share >= 1 or self._random.random() < share:
            return delay
        return 0.0

    async def delay_graph_query(self) -> None:
        delay = self.graph_delay_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

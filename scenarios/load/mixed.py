"""Mixed workload: 70 % entity reads, 20 % graph traversals (depth 1-3), 10 % writes.

A write is POST /entities with links to three existing entities (ids from the plan's entity
ids), so the graph grows the way the platform's does: new nodes attached to old ones.
"""

from __future__ import annotations

from locust import task

from load.locust_user import PacedUser

MAX_DEPTH = 3
LINKS_PER_WRITE = 3


class MixedUser(PacedUser):
    """Reads, traversals and writes in the proportions of the requirements' mixed workload."""

    @task(70)
    def read_entity(self) -> None:
        self.send("GET", f"/entities/{self.random_entity_id()}", name="/entities/{id}")

    @task(20)
    def traverse(self) -> None:
        entity = self.random_entity_id()
        depth = self.rng.randint(1, MAX_DEPTH)
        self.send("GET", f"/graph/{entity}/neighbors?depth={depth}", name="/graph/{id}/neighbors")

    @task(10)
    def create_entity(self) -> None:
        links = self.random_entity_ids(LINKS_PER_WRITE)
        body = {"name": f"load-{self.rng.getrandbits(48):012x}", "kind": "load", "links": links}
        self.send("POST", "/entities", name="/entities", json=body)

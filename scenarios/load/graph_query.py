"""Graph query: GET /graph/{id}/neighbors?depth=d, d uniform in 1..3, ids from the plan's ids."""

from __future__ import annotations

from locust import task

from load.locust_user import PacedUser

MAX_DEPTH = 3


class GraphQueryUser(PacedUser):
    """Traverses the LINKS graph in Neo4j to depth 1, 2 or 3."""

    @task
    def traverse(self) -> None:
        entity = self.random_entity_id()
        depth = self.rng.randint(1, MAX_DEPTH)
        self.send("GET", f"/graph/{entity}/neighbors?depth={depth}", name="/graph/{id}/neighbors")

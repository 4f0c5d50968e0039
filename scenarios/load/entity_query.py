"""Entity query: GET /entities/{id} for ids drawn uniformly from the plan's entity ids."""

from __future__ import annotations

from locust import task

from load.locust_user import PacedUser


class EntityQueryUser(PacedUser):
    """Reads one entity per request: the cache-or-Postgres path of the target."""

    @task
    def read_entity(self) -> None:
        self.send("GET", f"/entities/{self.random_entity_id()}", name="/entities/{id}")

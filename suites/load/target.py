"""The target of the load suites, and what its workloads send there."""

from __future__ import annotations

from dataclasses import dataclass

from fixtures.providers.api import ApiEndpoint
from load.traffic import Traffic, traffic_of
from system.description import Description


@dataclass(frozen=True)
class LoadTarget:
    """The target under load, its system's description, and the ids the profile names
    (or the harness seeded) for the description's `profile` ids values."""

    endpoint: ApiEndpoint
    description: Description
    ids: str | None = None
    ids_file: str | None = None

    @property
    def url(self) -> str:
        return self.endpoint.url

    def traffic(self, workload: str) -> Traffic:
        return traffic_of(self.description, workload).with_ids(self.ids, self.ids_file)


def target_of(api: ApiEndpoint, description: Description) -> LoadTarget:
    """The profile's ids, else the ids the harness seeded (1..N), else the description's."""
    if api.entity_ids is not None or api.entity_ids_file is not None:
        return LoadTarget(api, description, api.entity_ids, api.entity_ids_file)
    if api.entities:
        return LoadTarget(api, description, f"1-{api.entities}")
    return LoadTarget(api, description)

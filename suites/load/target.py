"""The target of the load suites, and the ids its read workloads may ask for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fixtures.providers.api import DEFAULT_ENTITIES, ApiEndpoint
from load.ids import IdRanges, read_id_file


@dataclass(frozen=True)
class LoadTarget:
    """The target under load and the ids its read workloads may ask for."""

    endpoint: ApiEndpoint
    entity_ids: str

    @property
    def url(self) -> str:
        return self.endpoint.url


def entity_ids_of(api: ApiEndpoint) -> IdRanges:
    """The profile's ids, or the ids the harness seeded (1..N)."""
    if api.entity_ids is not None:
        return IdRanges.parse(api.entity_ids)
    if api.entity_ids_file is not None:
        return read_id_file(Path(api.entity_ids_file))
    return IdRanges.of([(1, api.entities or DEFAULT_ENTITIES)])

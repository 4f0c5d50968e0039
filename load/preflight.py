"""Before a load run against a target: do the ids it will ask for exist there?

A profile cannot be trusted to name ids that exist (`[services.api] entity_ids`): a run
on ids that answer 404 would measure 404s, not the target. A small random sample of the
ids is read once; if most answer 404 the run does not start, with one line.
"""

from __future__ import annotations

import random

import requests

from load.errors import LoadPlanError
from load.ids import IdRanges

SAMPLE_SIZE = 20
MOSTLY = 0.5
TIMEOUT_SECONDS = 5.0


def check_entity_ids(
    base_url: str, ids: IdRanges, *, sample_size: int = SAMPLE_SIZE, seed: int = 0
) -> None:
    """`LoadPlanError` if more than half of a sample of `ids` answer 404 at `base_url`."""
    sample = ids.sample(sample_size, random.Random(seed))  # noqa: S311 - a sample, not a secret
    missing = []
    with requests.Session() as session:
        for entity_id in sample:
            try:
                answer = session.get(f"{base_url}/entities/{entity_id}", timeout=TIMEOUT_SECONDS)
            except requests.RequestException as error:
                raise LoadPlanError(
                    f"the target at {base_url} did not answer GET /entities/{entity_id} "
                    f"({type(error).__name__}); check that it is up before loading it"
                ) from None
            if answer.status_code == requests.codes.not_found:
                missing.append(entity_id)
    if len(missing) > MOSTLY * len(sample):
        examples = ", ".join(str(value) for value in missing[:3])
        raise LoadPlanError(
            f"entity ids {ids.spec}: {len(missing)} of {len(sample)} sampled ids answered 404 "
            f"at {base_url} (e.g. {examples}), so a load run would measure 404s; set "
            "[services.api] entity_ids (or entity_ids_file) in the profile to ids that exist"
        )

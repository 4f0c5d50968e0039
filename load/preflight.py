"""Before a load run against a target: do the ids its workloads will ask for exist there?

A profile cannot be trusted to name ids that exist (`[services.api] entity_ids`): a run
on ids that answer 404 would measure 404s, not the target. Each ids value of the system
description that declares a `check` (a request line naming it, e.g.
`GET /items/{item}`) has a small random sample of its ids requested once; if most
do not answer 2xx the run does not start, with one line naming the value, what the
sample answered and the profile key that sets the ids.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping

import requests

from load.errors import LoadPlanError
from load.traffic import Traffic, Values, render_text
from system.description import Value

SAMPLE_SIZE = 20
MOSTLY = 0.5
TIMEOUT_SECONDS = 5.0


def check_values(
    base_url: str,
    traffic: Traffic,
    checks: Mapping[str, Value],
    *,
    sample_size: int = SAMPLE_SIZE,
    seed: int = 0,
) -> None:
    """`LoadPlanError` if most of a sample of a checked value's ids do not answer 2xx."""
    values = Values(traffic.values)
    for name, spec in checks.items():
        if spec.check is None or name not in values.ids:
            continue
        ids = values.ids[name]
        sample = ids.sample(sample_size, random.Random(seed))  # noqa: S311 - not a secret
        answers = _statuses(base_url, spec.check.method, spec.check.path, name, sample)
        failing = {value: status for value, status in answers.items() if not 200 <= status < 300}
        if len(failing) > MOSTLY * len(sample):
            seen = ", ".join(
                f"{status}: {count}" for status, count in Counter(failing.values()).items()
            )
            raise LoadPlanError(
                f"value {name!r} ({ids.spec}): {len(failing)} of {len(sample)} sampled ids did "
                f"not answer 2xx to {spec.check} at {base_url} ({seen}), so a load run would "
                "measure errors; set [services.api] entity_ids (or entity_ids_file) in the "
                "profile to ids that exist"
            )


def _statuses(
    base_url: str, method: str, path: str, name: str, sample: list[int]
) -> dict[int, int]:
    found = {}
    with requests.Session() as session:
        for value in sample:
            url = base_url + render_text(path, {name: value}, {})
            try:
                answer = session.request(
                    method, url, timeout=TIMEOUT_SECONDS, allow_redirects=False
                )
            except requests.RequestException as error:
                raise LoadPlanError(
                    f"the target at {base_url} did not answer {method} {url} "
                    f"({type(error).__name__}); check that it is up before loading it"
                ) from None
            found[value] = answer.status_code
    return found

"""No shipped rule fires on a healthy system: a healthy target under normal load and a
good drill's results in the Pushgateway, for several evaluation cycles."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.conditions import push_healthy_drill
from alerting.e2e import expect_silence, prepare
from alerting.rules import RuleSet
from alerting.traffic import Traffic
from alerting.webhook import WebhookReceiver
from plugins.evidence import attach_json, attach_text

# Three times the longest path to firing in the test profile (scrape + eval + for: 7 s).
HEALTHY_SECONDS = 21.0
ENTITIES = 40  # what the normal load reads, created through the API first
# Normal load: two clients, each pausing 30 ms between answers (up to ~60 requests/s), a
# rate with headroom, not as fast as the target can answer: flat out, the target and its
# databases took a core and a half, beside the other worker's tests.
CLIENTS = 2
PAUSE_SECONDS = 0.03


def normal_load_paths(ids: list[int]) -> list[str]:
    """Entity reads of every id and graph reads of half of them, at depths 1 to 3."""
    return [f"/entities/{n}" for n in ids] + [
        f"/graph/{n}/neighbors?depth={1 + index % 3}" for index, n in enumerate(ids[::2])
    ]


@pytest.mark.pr_gate
def test_no_alert_fires_on_a_healthy_target_under_normal_load(
    test_profile: RuleSet,
    starter: Any,
    receiver: WebhookReceiver,
) -> None:
    stack, situation = prepare(
        starter, receiver, {}, test_profile.texts, set(test_profile.rules), entities=ENTITIES
    )
    push_healthy_drill(situation.pushgateway_url)
    paths = normal_load_paths(situation.entity_ids)
    try:
        with Traffic(
            situation.target_url, paths, CLIENTS, HEALTHY_SECONDS + 5, PAUSE_SECONDS
        ) as traffic:
            near_misses = expect_silence(stack, HEALTHY_SECONDS)
        assert traffic.sent > HEALTHY_SECONDS, "the normal load did not run"
        if near_misses:  # pending, never firing: what `for:` absorbs; kept as evidence
            attach_text("pending, never firing", ", ".join(near_misses))
    finally:
        situation.close()
        attach_json("webhook payloads", receiver.payloads())

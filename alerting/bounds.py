"""How long an alert may take to reach the webhook, from the moment its condition holds.

    bound = scrape_interval        the condition reaches Prometheus at the next scrape
          + evaluation_interval    and is seen at the next rule evaluation
          + for                    pending for `for:` (firing only at an evaluation)
          + group_wait             Alertmanager holds a new group this long
          + detection              what the condition itself needs to show in the series:
                                   a slow request is observed when it ends (its delay),
                                   a rate needs a second sample (one more scrape)
          + margin                 sending: Prometheus -> Alertmanager -> webhook (stated: 2 s)

Resolution has the same shape, with the window the expression looks back over in place
of `for` (the old samples must leave it) and Alertmanager's group_interval in place of
group_wait (resolved notifications go out at the group's next flush).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MARGIN_SECONDS = 2.0


@dataclass(frozen=True)
class Timing:
    scrape_interval: float = 1.0
    evaluation_interval: float = 1.0
    group_wait: float = 0.0
    group_interval: float = 1.0
    margin: float = DEFAULT_MARGIN_SECONDS


def fire_bound(timing: Timing, for_seconds: float, detection_seconds: float = 0.0) -> float:
    return (
        timing.scrape_interval
        + timing.evaluation_interval
        + for_seconds
        + timing.group_wait
        + detection_seconds
        + timing.margin
    )


def resolve_bound(timing: Timing, window_seconds: float, detection_seconds: float = 0.0) -> float:
    return (
        timing.scrape_interval
        + timing.evaluation_interval
        + window_seconds
        + timing.group_interval
        + detection_seconds
        + timing.margin
    )

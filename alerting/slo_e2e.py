"""The SLO's page end to end on a real target, at windows scaled down.

The promtool tests (`alerting.slo`) prove the generated rules on synthetic series; this
proves them on the series a real target exports, through a real Prometheus and
Alertmanager: a burst of errors of the right size pages, a smaller one does not.

A 30-day SLO's windows are hours and days. The *test profile* of SLO rules divides every
range window and `for:` by one factor (`[alerts.slo.burst] scale`, 120: 1 h becomes 30 s,
5 m becomes 2.5 s, the 30-day period 6 h). A pair's burn factor is `budget share x
period / window`, unchanged when the period and its windows shrink together, so the
thresholds the alerts compare against are the production ones: only the clock runs
faster. Recording names (`slo:sli_error:ratio_rate1h`) stay as Sloth wrote them.

The errors are exact: two instances of the target under one scrape job, one started with
a fault that makes every answer an error, the traffic split between them by count
(`alerting.traffic.SplitTraffic`), so the job's error ratio is the share sent there, at any
rate. Three phases:

1. near miss: `NEAR_MULTIPLE` of the page's threshold, for one long page window and more:
   the page must not fire. (Its ticket, whose factors are lower, opens if the math says so.)
2. burst: `BURST_MULTIPLE` of it: the page must be notified within the math's crossing
   (from windows full of the near miss) plus `alerting.bounds.fire_bound`'s lags and one
   more evaluation (the alert reads recording rules, evaluated in a group of their own).
3. end: no errors: the page must resolve within `resolve_bound` of its short window.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml

from alerting.bounds import Timing, fire_bound, resolve_bound
from alerting.errors import AlertDidNotFireError, AlertRuleError
from alerting.rules import parse_duration
from alerting.slo import Slo, WindowPair, Windows
from alerting.stack import AlertStack, Starter, start_stack
from alerting.traffic import SplitTraffic
from alerting.webhook import WebhookReceiver
from fixtures.phases import phase
from system.deadline import Deadline
from system.description import SloBurst
from system.sampling import Sampler

NEAR_MULTIPLE = 0.7  # the near miss: this much of the page's lowest threshold
BURST_MULTIPLE = 2.0  # the burst: this much of its highest
POLL_SECONDS = 0.25
TRAFFIC_PAUSE_SECONDS = 0.02  # per client, after each answer: some 40 requests a second each
TRAFFIC_CAP_SECONDS = 300.0  # the traffic stops by itself after this, whatever happens
_RANGE = re.compile(r"\[((?:\d+(?:ms|s|m|h|d|w|y))+)\]")
_UNSCALABLE = re.compile(r"\boffset\b|@|\[[^\]]*:[^\]]*\]")


# --- the test profile of SLO rules --------------------------------------------------------


def fine_duration(seconds: float) -> str:
    """A Prometheus duration to the millisecond: 2.5 -> '2s500ms', 21600 -> '6h'."""
    rest, parts = round(seconds * 1000), []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    if rest:
        parts.append(f"{rest}ms")
    return "".join(parts) or "0s"


def scale_rules(text: str, scale: float) -> str:
    """The rule file `text` with every range window and `for:` divided by `scale`. An
    `offset`, an `@` or a subquery would need more than a division: refused, naming it."""
    document = yaml.safe_load(text) or {}
    for group in document.get("groups", []):
        for rule in group.get("rules", []):
            expr = str(rule["expr"])
            name = rule.get("alert") or rule.get("record")
            if _UNSCALABLE.search(expr):
                raise AlertRuleError(
                    f"SLO rule {name}: an offset, @ or subquery cannot be scaled for the "
                    "end-to-end test; use plain range windows"
                )
            rule["expr"] = _RANGE.sub(lambda m: f"[{_divide(m.group(1), scale)}]", expr)
            if parse_duration(rule.get("for", "0")) > 0:
                rule["for"] = _divide(str(rule["for"]), scale)
    return str(yaml.safe_dump(document, sort_keys=False, width=1000))


def _divide(text: str, scale: float) -> str:
    return fine_duration(parse_duration(text) / scale)


def scale_windows(windows: Windows, scale: float) -> Windows:
    def pair(p: WindowPair) -> WindowPair:
        return WindowPair(p.budget_percent, p.long / scale, p.short / scale)

    return Windows(
        windows.period / scale,
        (pair(windows.page[0]), pair(windows.page[1])),
        (pair(windows.ticket[0]), pair(windows.ticket[1])),
    )


def check_scale(windows: Windows, scale: float, timing: Timing) -> None:
    """The shortest scaled window must hold two scrapes, or `rate()` over it is empty."""
    shortest = min(pair.short for pair in windows.pairs())
    if shortest / scale < 2 * timing.scrape_interval:
        largest = shortest / (2 * timing.scrape_interval)
        raise AlertRuleError(
            f"alerts.slo.burst.scale = {scale:g} makes the shortest window "
            f"({fine_duration(shortest)}) {shortest / scale:g} s, under two scrapes "
            f"({2 * timing.scrape_interval:g} s): rate() needs two samples; use a scale of "
            f"at most {largest:g}"
        )


# --- the math of the three phases ----------------------------------------------------------


def crossing_from(window: float, threshold: float, before: float, after: float) -> float | None:
    """Seconds until the error ratio over `window` exceeds `threshold`, when the window was
    full at ratio `before` and it is `after` from now on; None if it never does."""
    if after <= threshold:
        return None
    if before > threshold:
        return 0.0
    return window * (threshold - before) / (after - before)


@dataclass(frozen=True)
class BurstPlan:
    """Error shares, phase lengths and bounds, from the scaled windows and the SLO."""

    near: float  # error share of the near miss
    burst: float  # error share of the burst
    thresholds: tuple[float, ...]  # the page pairs' error-ratio thresholds
    near_seconds: float
    page_after: float  # the math: seconds into the burst until a page pair exceeds
    page_bound: float
    resolve_bound: float
    ticket_expected: bool  # the math: the near miss opens the ticket


def plan_burst(slo: Slo, windows: Windows, timing: Timing) -> BurstPlan:
    """The plan for `windows` already scaled (`scale_windows`)."""
    period = windows.period
    thresholds = tuple(pair.factor(period) * slo.budget for pair in windows.page)
    near = NEAR_MULTIPLE * min(thresholds)
    burst = min(1.0, BURST_MULTIPLE * max(thresholds))
    settle = timing.scrape_interval + timing.evaluation_interval
    near_seconds = max(pair.long for pair in windows.page) + 2 * settle
    page_after = min(
        _pair_crossing(pair, threshold, near, burst)
        for pair, threshold in zip(windows.page, thresholds, strict=True)
    )
    ticket = [pair.factor(period) * slo.budget for pair in windows.ticket]
    return BurstPlan(
        near=near,
        burst=burst,
        thresholds=thresholds,
        near_seconds=near_seconds,
        page_after=page_after,
        # the alert reads Sloth's recordings, a group of their own evaluated on its own
        # tick: one evaluation more than a rule on raw series
        page_bound=fire_bound(timing, 0.0, page_after + timing.evaluation_interval),
        resolve_bound=resolve_bound(timing, min(pair.short for pair in windows.page)),
        ticket_expected=near > min(ticket),
    )


def _pair_crossing(pair: WindowPair, threshold: float, before: float, after: float) -> float:
    times = [crossing_from(window, threshold, before, after) for window in (pair.long, pair.short)]
    if None in times:
        raise AlertRuleError(f"a burst of {after:.4%} never crosses {threshold:.4%}")
    return max(time for time in times if time is not None)


# --- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BurstSetup:
    stack: AlertStack
    healthy_url: str
    faulted_url: str


def prepare_burst(
    start: Starter,
    receiver: WebhookReceiver,
    rules: Mapping[str, str],
    rule_names: set[str],
    *,
    job: str,
    fault: str,
) -> BurstSetup:
    """Two instances of the target on the session's databases as they are (one healthy and
    warmed, one started with `fault`), both scraped as `job`, and the stack evaluating
    `rules` (file name -> the scaled YAML), ready."""
    healthy = start("api", seed=False, warm=True).endpoint
    faulted = start("api", seed=False, warm=False, fault=fault).endpoint
    instances = f"{healthy.host}:{healthy.port},{faulted.host}:{faulted.port}"
    stack = start_stack(start, receiver, {job: instances}, rules, target_job=job)
    stack.wait_until_scraping(rule_names)
    return BurstSetup(stack, healthy.url, faulted.url)


@dataclass
class BurstResult:
    """What the three phases measured; None where a phase did not get that far."""

    near_pages: int = 0  # page notifications (or firing pages) during the near miss
    ticket_seconds: float | None = None  # into the near miss, the ticket notified
    page_seconds: float | None = None  # into the burst, the page notified
    resolve_seconds: float | None = None  # after the burst, the page resolved
    shares: dict[str, float] = field(default_factory=dict)  # error share sent, per phase
    problems: list[str] = field(default_factory=list)


def run_burst(
    setup: BurstSetup,
    plan: BurstPlan,
    burst: SloBurst,
    sampler: Sampler,
    *,
    alert: str,
    page: Mapping[str, str],
    ticket: Mapping[str, str],
) -> BurstResult:
    """The three phases, `burst`'s traffic split between `setup`'s two instances (from
    `burst.clients` clients, each pausing `TRAFFIC_PAUSE_SECONDS` after an answer), the
    page and ticket being alert `alert` with labels `page` / `ticket`."""
    with SplitTraffic(
        setup.healthy_url,
        setup.faulted_url,
        burst.traffic,
        sampler,
        concurrency=burst.clients,
        deadline_seconds=TRAFFIC_CAP_SECONDS,
        pause_seconds=TRAFFIC_PAUSE_SECONDS,
    ) as traffic:
        return _phases(setup.stack, traffic, plan, alert, page=page, ticket=ticket)


def _phases(
    stack: AlertStack,
    traffic: SplitTraffic,
    plan: BurstPlan,
    alert: str,
    *,
    page: Mapping[str, str],
    ticket: Mapping[str, str],
) -> BurstResult:
    result = BurstResult()
    receiver = stack.receiver
    with phase(f"near miss: {plan.near:.3%} of requests failing for {plan.near_seconds:g} s"):
        started = _switch(traffic, plan.near)
        paged = _watch_page(stack, alert, page, plan.near_seconds, since=started)
        result.shares["near miss"] = traffic.sent_share
        found = receiver.find(alert, "firing", ticket, started)
        if found is not None:
            result.ticket_seconds = found[0].received_monotonic - started
    if paged is not None:
        result.near_pages = 1
        result.problems.append(
            f"{alert} paged {paged:.1f} s into a near miss of {plan.near:.3%} failing, "
            f"{NEAR_MULTIPLE:g}x its threshold {min(plan.thresholds):.3%}: its windows or "
            "factors page on a burn that spends the budget slower than the page's"
        )
        return result
    if plan.ticket_expected and result.ticket_seconds is None:
        result.problems.append(
            f"{alert} did not open its ticket during the near miss ({plan.near:.3%} "
            "failing, over the ticket's threshold)"
        )
    with phase(f"burst: {plan.burst:.3%} failing, paged within {plan.page_bound:.1f} s"):
        started = _switch(traffic, plan.burst)
        try:
            notification, _ = receiver.wait_for(alert, plan.page_bound, labels=page, since=started)
            result.page_seconds = notification.received_monotonic - started
        except AlertDidNotFireError as error:
            result.problems.append(
                f"{error} (the math: both windows of a page pair over "
                f"{max(plan.thresholds):.3%} {plan.page_after:.1f} s into the burst)"
            )
        result.shares["burst"] = traffic.sent_share
    if result.page_seconds is None:
        return result
    with phase(f"burst over: the page resolved within {plan.resolve_bound:.1f} s"):
        started = _switch(traffic, 0.0)
        try:
            notification, _ = receiver.wait_for(
                alert, plan.resolve_bound, status="resolved", labels=page, since=started
            )
            result.resolve_seconds = notification.received_monotonic - started
        except AlertDidNotFireError as error:
            result.problems.append(str(error))
    return result


def _switch(traffic: SplitTraffic, share: float) -> float:
    traffic.share = share
    return time.monotonic()


def _watch_page(
    stack: AlertStack, alert: str, page: Mapping[str, str], seconds: float, *, since: float
) -> float | None:
    """Seconds into the watch at which the page fired (in Prometheus or at the webhook);
    None if it stayed quiet for `seconds`."""
    watch = Deadline(seconds, since=since)  # a watch: its end is the good outcome
    while not watch.expired:
        firing = any(
            item.get("state") == "firing"
            and item["labels"].get("alertname") == alert
            and all(item["labels"].get(key) == value for key, value in page.items())
            for item in stack.alerts()
        )
        if firing or stack.receiver.find(alert, "firing", page, since) is not None:
            return time.monotonic() - since
        time.sleep(POLL_SECONDS)
    return None

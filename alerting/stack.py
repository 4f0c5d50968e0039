"""Prometheus scraping the target (as the job its description's `[alerts] job` names) and
the Pushgateway, evaluating the rules, sending to Alertmanager, which routes every alert
to the harness's webhook receiver.

Each piece is the real server, started through the harness's providers by a `Starter`
(`start("prometheus", config=...)`): the `*_factory` fixtures in a test, a launcher in
`bench/alert_latency.py`. Intervals are the test profile's: scrape and evaluate every
second, Alertmanager with `group_wait: 0s` and `group_interval: 1s`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from alerting.bounds import Timing
from alerting.webhook import WebhookReceiver
from fixtures.launcher import RunningService
from fixtures.providers.base import HttpEndpoint
from fixtures.providers.prometheus import PrometheusProvider
from system.deadline import NotYet, wait_until

Starter = Callable[..., RunningService[Any]]
PUSHGATEWAY_JOB = "pushgateway"
READY_DEADLINE_SECONDS = 20.0
HTTP_TIMEOUT_SECONDS = 5.0
TIMING = Timing(scrape_interval=1.0, evaluation_interval=1.0, group_wait=0.0, group_interval=1.0)


def prometheus_config(
    scrape: Mapping[str, str], alertmanager: str, rule_files: list[str], timing: Timing = TIMING
) -> str:
    """prometheus.yml: every `job -> host:port` in `scrape` (or several, `a:1,b:2`: the
    instances of one job), the rules, one Alertmanager.

    The Pushgateway job keeps the pushed `job` label (`honor_labels`), as in production.
    """
    jobs = "".join(
        f"  - job_name: {job}\n"
        + ("    honor_labels: true\n" if job == PUSHGATEWAY_JOB else "")
        + "    static_configs:\n      - targets: ["
        + ", ".join(f'"{one}"' for one in addresses.split(","))
        + "]\n"
        for job, addresses in scrape.items()
    )
    files = "".join(f"  - {name}\n" for name in rule_files)
    return (
        f"global:\n  scrape_interval: {timing.scrape_interval:g}s\n"
        f"  evaluation_interval: {timing.evaluation_interval:g}s\n"
        f"rule_files:\n{files}"
        "alerting:\n  alertmanagers:\n    - static_configs:\n"
        f'        - targets: ["{alertmanager}"]\n'
        f"scrape_configs:\n{jobs}"
    )


def evaluating_prometheus(
    scrape: Mapping[str, str], alertmanager: HttpEndpoint, rules: Mapping[str, str]
) -> PrometheusProvider:
    """A Prometheus scraping `scrape`, evaluating `rules` (file name -> YAML text) and
    sending to `alertmanager`."""
    address = f"{alertmanager.host}:{alertmanager.port}"
    return PrometheusProvider(
        config=prometheus_config(scrape, address, sorted(rules)), rule_files=dict(rules)
    )


def alertmanager_config(webhook_url: str, timing: Timing = TIMING) -> str:
    """Every alert its own group (`group_by: ['...']`), straight to the webhook."""
    return (
        "route:\n  receiver: harness\n  group_by: ['...']\n"
        f"  group_wait: {timing.group_wait:g}s\n  group_interval: {timing.group_interval:g}s\n"
        "  repeat_interval: 1h\n"
        f"receivers:\n  - name: harness\n    webhook_configs:\n"
        f"      - url: {webhook_url}\n        send_resolved: true\n"
    )


@dataclass
class AlertStack:
    prometheus_url: str
    alertmanager_url: str
    receiver: WebhookReceiver
    scrape: Mapping[str, str]
    timing: Timing = TIMING
    target_job: str | None = None  # the job of `scrape` that is the target (None: none)

    def alerts(self) -> list[Mapping[str, Any]]:
        """Prometheus's active (pending or firing) alerts."""
        answer = requests.get(f"{self.prometheus_url}/api/v1/alerts", timeout=HTTP_TIMEOUT_SECONDS)
        answer.raise_for_status()
        alerts: list[Mapping[str, Any]] = answer.json()["data"]["alerts"]
        return alerts

    def loaded_rules(self) -> set[str]:
        answer = requests.get(f"{self.prometheus_url}/api/v1/rules", timeout=HTTP_TIMEOUT_SECONDS)
        answer.raise_for_status()
        return {
            rule["name"]
            for group in answer.json()["data"]["groups"]
            for rule in group["rules"]
            if rule.get("type") == "alerting"
        }

    def wait_until_scraping(self, rule_names: set[str]) -> None:
        """Every job scraped once (`up` known) and every rule loaded, or `WaitTimeoutError`
        naming the rules not loaded and the jobs not up when it gave up."""

        def ready() -> bool | NotYet:
            rules = sorted(rule_names - self.loaded_rules())
            jobs = sorted(set(self.scrape) - self._jobs_up())
            return not (rules or jobs) or NotYet(f"rules not loaded {rules}, jobs not up {jobs}")

        wait_until(
            ready,
            seconds=READY_DEADLINE_SECONDS,
            what=f"Prometheus at {self.prometheus_url} loading its rules and scraping every job",
            interval=0.2,
        )

    def _jobs_up(self) -> set[str]:
        """The jobs with every one of their instances up."""
        answer = requests.get(
            f"{self.prometheus_url}/api/v1/query",
            params={"query": "up == 1"},
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        answer.raise_for_status()
        up = Counter(sample["metric"]["job"] for sample in answer.json()["data"]["result"])
        return {
            job for job, addresses in self.scrape.items() if up[job] == addresses.count(",") + 1
        }


def start_stack(
    start: Starter,
    receiver: WebhookReceiver,
    scrape: Mapping[str, str],
    rules: Mapping[str, str],
    target_job: str | None = None,
) -> AlertStack:
    """Alertmanager -> webhook, then Prometheus with `rules` (file name -> YAML text);
    `target_job`: which job of `scrape` is the target."""
    alertmanager = start("alertmanager", config=alertmanager_config(receiver.url)).endpoint
    address = f"{alertmanager.host}:{alertmanager.port}"
    prometheus = start(
        "prometheus",
        config=prometheus_config(scrape, address, sorted(rules)),
        rule_files=dict(rules),
    ).endpoint
    return AlertStack(
        prometheus.url, alertmanager.url, receiver, dict(scrape), target_job=target_job
    )

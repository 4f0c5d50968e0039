"""Per rule of a system: measured time-to-fire divided by its theoretical bound.

Each rule's real condition is induced exactly as in `suites/alerts/test_firing.py` (as
the system description's `[alerts.induce]` says: a faulted target, a killed one, results
pushed), on a fresh
Prometheus + Alertmanager + Pushgateway with the test profile's rules, and the time from
inducing it to the webhook receiving the alert is divided by
`scrape + evaluation + for + group_wait + detection + margin` (`alerting/bounds.py`).
Aim: every ratio <= 1.2. Median of `--runs` runs per rule.

    .venv/bin/python -m bench.alert_latency [--runs 3] [--rule NAME ...] [--system NAME]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from alerting.conditions import condition_for
from alerting.e2e import Measured, expect_fires, prepare_condition
from alerting.rules import rules_from_texts, select_rules, shortened_rule_files
from alerting.stack import Starter
from alerting.webhook import WebhookReceiver
from fixtures.backend import Backend
from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.profile import local_profile
from fixtures.providers.registry import make_provider
from system.loader import DEFAULT_SYSTEM, System, load_system

AIM = 1.2
ENTITIES = 1_000


class BenchStarter:
    """`start(name, **arguments)` on a native launcher; the target gets the databases."""

    def __init__(self, launcher: ServiceLauncher, system: System) -> None:
        self.launcher = launcher
        self.system = system
        self.databases: dict[str, Any] = {}
        self.started: list[RunningService[Any]] = []

    def __call__(self, name: str, **arguments: Any) -> RunningService[Any]:
        if name == "api":
            local = self.system.description.local
            if not self.databases:
                for database in local.services if local is not None else ():
                    self.databases[database] = self.launcher.start(make_provider(database)).endpoint
            arguments = {**self.databases, "entities": ENTITIES, **arguments}
        service = self.launcher.start(make_provider(name, self.system, **arguments))
        self.started.append(service)
        return service

    def stop_started(self) -> None:
        """Stop what one measurement started (the databases stay for the next)."""
        for service in reversed(self.started):
            service.stop()
        self.started.clear()


def measure(start: Starter, system: System, rule_name: str, texts: dict[str, str]) -> Measured:
    rule = rules_from_texts(texts)[rule_name]
    condition = condition_for(system.description, rule_name)
    alerts = system.description.alerts
    assert condition is not None
    assert alerts is not None
    with WebhookReceiver() as receiver:
        stack, situation = prepare_condition(
            start, receiver, texts, {rule_name}, condition=condition, job=alerts.job
        )
        try:
            return expect_fires(stack, rule, condition, situation)
        finally:
            situation.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--rule", action="append", default=[], help="only this rule")
    parser.add_argument("--system", default=DEFAULT_SYSTEM, help="the system description")
    args = parser.parse_args()
    system = load_system(args.system)
    alerts = system.description.alerts
    if alerts is None:
        parser.exit(2, f"{system.describe()} has no [alerts]: nothing to measure\n")
    texts = shortened_rule_files(Path(alerts.rules))
    chosen = select_rules(rules_from_texts(texts), args.rule)
    names = [rule.name for rule in chosen if condition_for(system.description, rule.name)]
    for rule in chosen:
        if rule.name not in names:
            print(f"{rule.name}: skipped, no [alerts.induce.{rule.name}] in {system.source}")
    launcher = ServiceLauncher(Backend.NATIVE, local_profile(), system=system)
    starter = BenchStarter(launcher, system)
    results: dict[str, list[Measured]] = {}
    try:
        for name in names:
            for _ in range(args.runs):
                try:
                    results.setdefault(name, []).append(measure(starter, system, name, texts))
                finally:
                    starter.stop_started()
    finally:
        launcher.close()
    report(results, args.runs)


def report(results: dict[str, list[Measured]], runs: int) -> None:
    table = Table(title=f"alert time-to-fire against its bound (median of {runs})")
    for column in ("rule", "measured s", "bound s", "measured / bound", "aim"):
        table.add_column(column, justify="right")
    for name, measured in results.items():
        seconds = statistics.median(item.seconds for item in measured)
        bound = measured[0].bound
        ratio = seconds / bound
        style = "green" if ratio <= AIM else "red"
        table.add_row(
            name, f"{seconds:.2f}", f"{bound:.2f}", f"[{style}]{ratio:.2f}[/]", f"<= {AIM}"
        )
    Console().print(table)


if __name__ == "__main__":
    main()

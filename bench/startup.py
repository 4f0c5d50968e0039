"""Time to ready of every service on the native backend (median of N), and all at once.

Prints each service's median, min and max time from "start asked" to "answers its real
client", the aim from the foundation issue, and the ratio median/aim. Run with
`make bench` or `.venv/bin/python -m bench.startup [--runs 5]`.
"""

from __future__ import annotations

import argparse
import statistics
import time

from rich.console import Console
from rich.table import Table

from fixtures.backend import Backend
from fixtures.fleet import start_in_parallel
from fixtures.launcher import ServiceLauncher
from fixtures.profile import local_profile
from fixtures.providers.registry import PROVIDERS, STANDALONE

AIM_SECONDS = {
    "postgres": 2.0,
    "redis": 0.5,
    "prometheus": 3.0,
    "alertmanager": 3.0,
    "pushgateway": 3.0,
    "toxiproxy": 1.0,
    "neo4j": 20.0,
    "s3": 3.0,
    "all in parallel": 25.0,
}


def time_one(name: str) -> float:
    launcher = ServiceLauncher(Backend.NATIVE, local_profile())
    try:
        return launcher.start(PROVIDERS[name]()).startup_seconds
    finally:
        launcher.close()


def time_all() -> float:
    launcher = ServiceLauncher(Backend.NATIVE, local_profile())
    try:
        started = time.monotonic()
        outcomes = start_in_parallel(launcher, list(STANDALONE))
        failed = [outcome.error for outcome in outcomes if outcome.error is not None]
        if failed:
            raise SystemExit(f"bench: a service failed to start: {failed[0]}")
        return time.monotonic() - started
    finally:
        launcher.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    samples = {name: [time_one(name) for _ in range(runs)] for name in STANDALONE}
    samples["all in parallel"] = [time_all() for _ in range(runs)]
    table = Table(title=f"native backend: time to ready, {runs} runs each")
    for column in ("service", "median s", "min s", "max s", "aim s", "median / aim"):
        table.add_column(column, justify="right")
    for name, values in samples.items():
        median = statistics.median(values)
        aim = AIM_SECONDS[name]
        table.add_row(
            name,
            f"{median:.2f}",
            f"{min(values):.2f}",
            f"{max(values):.2f}",
            f"{aim:g}",
            f"{median / aim:.2f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()

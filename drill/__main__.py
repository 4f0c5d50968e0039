"""Run the reliability drill against the target profile.

For now the drill brings up every service of the target (or checks every service the
profile names), checks each is healthy with its real client, prints a table of endpoints
and start-up times, and stops what it started. Later stages (load, chaos, DR, alerts)
attach here as their suites land.
"""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console
from rich.table import Table

from fixtures.backend import choose_backend
from fixtures.errors import HarnessError
from fixtures.fleet import StartOutcome, start_in_parallel
from fixtures.launcher import ServiceLauncher
from fixtures.profile import load_profile
from fixtures.providers.registry import STANDALONE
from plugins.settings import resolve_settings


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m drill", description=__doc__)
    parser.add_argument(
        "--target", help="'local' (default) or a TOML profile; env RELIABILITY_TARGET"
    )
    parser.add_argument(
        "--backend", help="auto (default), containers or native; env RELIABILITY_BACKEND"
    )
    return parser.parse_args(argv)


def render(outcomes: list[StartOutcome], total_seconds: float, console: Console) -> None:
    table = Table(title=f"services ready in {total_seconds:.1f} s (started in parallel)")
    for column in ("service", "backend", "endpoint", "ready after", "status"):
        table.add_column(column)
    for outcome in outcomes:
        if outcome.service is not None:
            service = outcome.service
            table.add_row(
                service.name,
                service.backend.value,
                service.endpoint.describe(),
                f"{service.startup_seconds:.2f} s",
                "[green]healthy[/]",
            )
        else:
            table.add_row(outcome.name, "-", "-", "-", f"[red]{outcome.error}[/]")
    console.print(table)


def main(argv: list[str]) -> int:
    console = Console()
    arguments = parse_arguments(argv)
    requested = resolve_settings(arguments.target, arguments.backend)
    try:
        profile = load_profile(requested.target)
        choice = choose_backend(requested.backend, profile.is_local)
    except (HarnessError, ValueError) as error:
        console.print(f"[red]drill: {error}[/]")
        return 2
    console.print(
        f"drill: target {profile.describe()}, backend {choice.backend.value} ({choice.reason})"
    )
    names = (
        list(STANDALONE) if profile.is_local else [n for n in STANDALONE if n in profile.services]
    )
    launcher = ServiceLauncher(choice.backend, profile)
    try:
        started = time.monotonic()
        outcomes = start_in_parallel(launcher, names)
        render(outcomes, time.monotonic() - started, console)
    finally:
        launcher.close()
    failed = [outcome.name for outcome in outcomes if not outcome.healthy]
    if failed:
        console.print(f"[red]drill failed: {', '.join(failed)} not healthy[/]")
        return 1
    console.print("[green]drill passed: every service healthy[/]")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)

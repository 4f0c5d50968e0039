"""Run the reliability drill against the target profile: `make drill`.

1. Preflight: bring up every service of the target (or check every service the profile
   names), check each with its real client, run the system description's smoke checks
   against the target (one line per failure), print endpoints and start-up times, stop them.
2. The suites (`suites/`: load, chaos, DR, alerts), every test, in one pytest run with the
   same target and backend on two pytest-xdist workers, writing Allure results to
   `reports/allure-results` and JUnit XML to `reports/junit/drill.xml` (audit evidence).
3. A table per suite (passed, failed, skipped), then the verdict per acceptance criterion
   (`drill/summary.py`): printed, and written to `reports/summary.md` and
   `reports/summary.json`, each run kept in `reports/history/` for the trend. A criterion
   the description's `[requires]` names for this kind of run (pr_gate with `--quick`,
   drill, staging against a profile) that no test measured fails, named. The exit status
   is 0 only if pytest passed and no criterion failed, was undecided or invalid.

`--quick` (the PR gate, `make gate`) runs only the `pr_gate` tests, and on the local
default skips the preflight (its pytest run starts the servers). `--publish URL` pushes the
results to a Pushgateway afterwards (`drill/publish.py`). `--dr-seed`, `--images` and
`--chaos-experiment` are the suites' own settings, passed on to their pytest run.
`--no-report` leaves the Allure results unrendered (`python -m drill.report` renders them).

Every input is checked before anything starts — the profile and the description as pytest
checks them (`plugins.settings.check_target`), the settings, the experiments named, the
`--publish` URL — and a mistake is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

from rich.console import Console
from rich.table import Table
from rich.text import Text

from chaos.errors import ExperimentError
from chaos.experiments import discover, select
from drill import publish, report, summary
from fixtures.backend import Backend, choose_backend
from fixtures.errors import HarnessError
from fixtures.fleet import StartOutcome, start_in_parallel
from fixtures.images import ImageSet
from fixtures.launcher import ServiceLauncher
from fixtures.profile import TargetProfile
from fixtures.providers.registry import STANDALONE
from load.smoke import run_smoke
from plugins.settings import check_target, resolve_settings
from system.criteria import criterion
from system.loader import System
from system.profile_model import HTTP, shown_url, url_problem

ROOT = Path(__file__).resolve().parents[1]
ALLURE_RESULTS = report.RESULTS
JUNIT = report.REPORTS / "junit" / "drill.xml"
CRITERIA = report.REPORTS / "criteria.jsonl"
SUMMARY_JSON = report.REPORTS / "summary.json"
SUMMARY_MD = report.REPORTS / "summary.md"
HISTORY = report.REPORTS / "history"
SUITES = ("alerts", "chaos", "dr", "load")
STOPPED_BEFORE_TESTS = (3, 4)  # pytest's internal and usage errors: no test ran
# Two workers on two cores: alert, DR and start-up waits overlap, while every latency or
# throughput measurement still has the machine to itself (plugins/turns.py).
WORKERS = 2


def _render_report(console: Console) -> None:
    try:
        with phase(console, "the Allure report"):
            report.generate()
        console.print(f"drill: Allure report {report.REPORT}, single file {report.SINGLE_FILE}")
    except report.ReportError as error:
        console.print(Text(f"drill: no HTML report: {error}", style="yellow"))


def _workers(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers (0, 1, 2, ...)")
    return int(text)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m drill", description=__doc__)
    parser.add_argument(
        "--target", help="'local' (default) or a TOML profile; env RELIABILITY_TARGET"
    )
    parser.add_argument(
        "--backend", help="auto (default), containers or native; env RELIABILITY_BACKEND"
    )
    parser.add_argument(
        "--system",
        help="the system description: a name under scenarios/, a folder or a system.toml "
        "(default: the profile's [target] system, else the reference's); env RELIABILITY_SYSTEM",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one key of the description, e.g. workloads.quotes.duration=30s "
        "(repeatable); env RELIABILITY_SET",
    )
    parser.add_argument(
        "--quick", action="store_true", help="run only the pr_gate tests of the suites"
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help=f"pytest-xdist workers, each with its own servers (default: {WORKERS} on the "
        "local default, none against a profile: a shared environment gets one test at a time)",
    )
    parser.add_argument(
        "--publish",
        metavar="URL",
        default=None,
        help=f"push the results to this Pushgateway (design section 6); env {publish.ENVIRONMENT}",
    )
    parser.add_argument(
        "--no-report",
        action="store_true",
        help="no Allure HTML report (two JVMs: seconds); the results stay in "
        "reports/allure-results for `python -m drill.report` or a CI job to render",
    )
    parser.add_argument(
        "--suite",
        action="append",
        choices=SUITES,
        help="run only this suite (repeatable; default: every suite)",
    )
    parser.add_argument(
        "--dr-seed",
        metavar="N",
        default=None,
        help="replay the DR suites' randomized commit history N; env RELIABILITY_DR_SEED",
    )
    parser.add_argument(
        "--images",
        metavar="SET",
        default=None,
        help="images of the containers backend: official (default) or local; "
        "env RELIABILITY_IMAGES",
    )
    parser.add_argument(
        "--chaos-experiment",
        action="append",
        metavar="NAME|FILE",
        help="run only this chaos experiment: a name of the description's experiments or an "
        "experiment file (repeatable; default: every one)",
    )
    return parser.parse_args(argv)


PUBLISH_EXAMPLE = "http://pushgateway.example:9091"


def publish_url(given: str | None) -> str | None:
    """The Pushgateway to push to (`--publish`, else the environment), checked now rather
    than after the drill; `HarnessError` (one line, credentials masked) if it is no URL."""
    source = "--publish " if given is not None else f"{publish.ENVIRONMENT}="
    url = given if given is not None else os.environ.get(publish.ENVIRONMENT) or None
    if url is None:
        return None
    problem = url_problem(url, HTTP, PUBLISH_EXAMPLE)
    if problem is not None:
        raise HarnessError(f"{source}{shown_url(url)}: {problem}")
    return url


def chosen_experiments(names: Sequence[str] | None, system: System) -> list[str]:
    """The `--chaos-experiment` values, checked as the chaos suite checks them (a file of
    one's own by Chaos Toolkit); paths made absolute for the suites' run. `HarnessError`."""
    if not names:
        return []
    chaos = system.description.chaos
    folder = None if chaos is None else Path(chaos.experiments)
    chosen = []
    for name in names:
        path = Path(name).expanduser()
        is_path = name.endswith(".json") or "/" in name
        if path.is_dir() or (is_path and not path.exists()):
            known = sorted(item.stem for item in folder.glob("*.json")) if folder else []
            found = sorted(item.name for item in path.glob("*.json")) if path.is_dir() else []
            problem, choices = (
                ("is a directory", f"one experiment file in it: {', '.join(found)}")
                if found
                else (
                    "is a directory" if path.is_dir() else "does not exist",
                    f"an experiment file, or the name of one of the description's: "
                    f"{', '.join(known) or 'none'}",
                )
            )
            raise HarnessError(f"--chaos-experiment {name}: {problem}; give {choices}")
        chosen.append(str(path.resolve()) if is_path else name)
    try:
        select(discover(folder) if folder is not None else {}, chosen, folder)
    except ExperimentError as error:
        raise HarnessError(f"--chaos-experiment: {error}") from None
    return chosen


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
                Text(service.endpoint.describe()),
                f"{service.startup_seconds:.2f} s",
                Text("healthy", style="green"),
            )
        else:
            table.add_row(outcome.name, "-", "-", "-", Text("not healthy", style="red"))
    console.print(table)
    for outcome in outcomes:  # one line each, below the table: never wrapped into its cells
        if outcome.error is not None:
            console.print(Text(f"drill: {outcome.name}: {outcome.error}", style="red"))


def main(argv: list[str]) -> int:
    # One message, one line: no wrapping at 80 columns; wide tables in CI logs.
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    arguments = parse_arguments(argv)
    try:
        requested = resolve_settings(
            arguments.target,
            arguments.backend,
            dr_seed_flag=arguments.dr_seed,
            images_flag=arguments.images,
            system_flag=arguments.system,
            set_flags=arguments.set,
        )
        checked = check_target(requested)
        profile, system = checked.profile, checked.system
        publish_to = publish_url(arguments.publish)
        experiments = chosen_experiments(arguments.chaos_experiment, system)
        choice = choose_backend(requested.backend, profile.is_local, requested.backend_source)
    except (HarnessError, ValueError) as error:
        errors = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 160)
        errors.print(Text(f"drill: {error}", style="red"))
        return 2
    console.print(
        f"drill: target {profile.describe()}, system {system.describe()}, "
        f"backend {choice.backend.value} ({choice.reason})"
    )
    names = list(STANDALONE) if profile.is_local else sorted(profile.services)
    if not names:
        console.print(Text(f"drill: {profile.describe()} names no service to test", style="red"))
        return 2
    # The PR gate on the local default skips starting every server only to stop it again:
    # its pytest run starts them, and fails naming any that does not become ready.
    skip_preflight = arguments.quick and profile.is_local
    if not skip_preflight and not preflight(
        choice.backend, profile, names, console, requested.images, system=system
    ):
        return 1
    selection = "pr_gate" if arguments.quick else None  # the full drill: every suite test
    workers = arguments.workers
    if workers is None:
        workers = WORKERS if profile.is_local else 0
    backend = None if choice.backend is Backend.EXTERNAL else choice.backend.value
    paths = [f"suites/{name}" for name in arguments.suite or ()] or ["suites"]
    run = {
        "target": profile.describe(),
        "backend": choice.backend.value,
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git_commit(),
    }
    described = ["--system", str(system.source), *(f"--set={item}" for item in system.overrides)]
    settings = [
        *([f"--dr-seed={requested.dr_seed}"] if arguments.dr_seed is not None else []),
        *([f"--images={requested.images.value}"] if arguments.images is not None else []),
        *(f"--chaos-experiment={name}" for name in experiments),
    ]
    status = run_suites(
        selection,
        requested.target,
        backend,
        console,
        paths,
        workers=workers,
        extra=[*described, *settings],
    )
    if status in STOPPED_BEFORE_TESTS:
        return status
    place = "staging" if not profile.is_local else "pr_gate" if arguments.quick else "drill"
    verdict = summarize(run, console, required(system, place, arguments.suite), place)
    if publish_to and not publish_results(publish_to, console, system):
        status = status or 1
    if not arguments.no_report:
        _render_report(console)
    final = status if status != 0 else (0 if verdict == "pass" else 1)
    shown = (
        "[green]drill passed[/]"
        if final == 0
        else f"[red]drill failed (pytest {status}, criteria {verdict})[/]"
    )
    console.print(f"{shown}; evidence: {ALLURE_RESULTS}, {JUNIT}, {SUMMARY_MD}")
    return final


def required(system: System, place: str, suites: Sequence[str] | None) -> list[str]:
    """What the description requires of this kind of run, of the suites that ran."""
    names = system.description.requires.of(place)
    return [name for name in names if not suites or criterion(name).suite in suites]


def publish_results(url: str, console: Console, system: System) -> bool:
    """The verdict's results to the platform's Pushgateway; False (said why) if refused."""
    if not SUMMARY_JSON.exists():
        console.print(Text("drill: nothing pushed: this run has no verdict", style="red"))
        return False
    document = json.loads(SUMMARY_JSON.read_text())
    try:
        count = publish.push(
            url,
            document,
            time.time(),
            system.description.publish,
            say=lambda line: console.print(Text(f"drill: {line}")),
        )
    except publish.PublishError as error:
        console.print(Text(f"drill: {error}", style="red"))
        return False
    console.print(f"drill: {count} results pushed to the Pushgateway (design section 6)")
    return True


@contextmanager
def phase(console: Console, name: str) -> Iterator[None]:
    """A long phase: a spinner on a terminal, one line at its start and end elsewhere (CI)."""
    started = time.monotonic()
    if console.is_terminal and not os.environ.get("CI"):
        with console.status(name):
            yield
    else:
        console.print(f"drill: {name} ...")
        yield
    console.print(f"drill: {name}: {time.monotonic() - started:.1f} s")


def git_commit() -> str:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT, capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except OSError:
        return ""
    return found.stdout.strip()


def summarize(
    run: dict[str, str], console: Console, required: Sequence[str] = (), place: str = ""
) -> str:
    """The verdict per criterion: printed, written as summary.md/json, kept in history."""
    try:
        rows, outcomes = summary.read_criteria(CRITERIA), summary.junit_outcomes(JUNIT)
    except summary.SummaryError as error:
        for stale in (SUMMARY_JSON, SUMMARY_MD):  # the last run's are not this one's
            stale.unlink(missing_ok=True)
        console.print(Text(f"drill: no verdict: {error}", style="red"))
        return "fail"
    document = summary.build(rows, outcomes, run, required, place)
    summary.add_trend(document, summary.load_history(HISTORY))
    SUMMARY_JSON.write_text(json.dumps(document, indent=1) + "\n")
    SUMMARY_MD.write_text(summary.markdown(document))
    summary.keep(document, HISTORY)
    tally = summary.headline(document["counts"])
    table = Table(title=f"drill: verdict per criterion: {document['verdict']} ({tally})")
    for column in summary.COLUMNS:
        table.add_column(column)
    for row, values in zip(document["criteria"], summary.table(document), strict=True):
        style = {"pass": "green", "skipped": "yellow"}.get(row["verdict"], "red")
        cells = [Text(value) for value in values]  # a reason's "[chaos] allow" is no markup
        cells[4].stylize(style)
        table.add_row(*cells)
    console.print(table)
    console.print(f"drill: verdict written to {SUMMARY_MD} and {SUMMARY_JSON}")
    return str(document["verdict"])


def preflight(
    backend: Backend,
    profile: TargetProfile,
    names: list[str],
    console: Console,
    images: ImageSet = ImageSet.OFFICIAL,
    *,
    system: System | None = None,
) -> bool:
    launcher = ServiceLauncher(backend, profile, images, system)
    try:
        started = time.monotonic()
        with phase(console, f"preflight: starting or checking {', '.join(names)}"):
            outcomes = start_in_parallel(launcher, names)
        render(outcomes, time.monotonic() - started, console)
    finally:
        launcher.close()
    failed = [outcome.name for outcome in outcomes if not outcome.healthy]
    if "api" in names and "api" not in failed and system is not None:
        url = str(profile.services["api"]["url"])
        for result in run_smoke(url, system.description.smoke):
            if not result.passed:
                console.print(Text(f"drill: api: smoke check {result.line()}", style="red"))
                failed.append("api")
    if failed:
        console.print(
            Text(f"drill failed: {', '.join(sorted(set(failed)))} not ready", style="red")
        )
        return False
    console.print(Text("preflight passed: every service healthy", style="green"))
    return True


def run_suites(
    selection: str | None,
    target: str,
    backend: str | None,
    console: Console,
    paths: list[str] | None = None,
    *,
    workers: int = 0,
    extra: Sequence[str] = (),
) -> int:
    """The suites in one pytest run; returns its exit status.

    The run writes its Allure results beside the previous run's, which are replaced only
    once pytest has really run: a run that stops before any test keeps the old evidence."""
    JUNIT.parent.mkdir(parents=True, exist_ok=True)
    for stale in (JUNIT, CRITERIA):  # a run that stops early must not show the last one's
        stale.unlink(missing_ok=True)
    fresh = ALLURE_RESULTS.with_name(ALLURE_RESULTS.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    command = [
        sys.executable, "-m", "pytest", *(paths or ["suites"]),
        *(["-m", selection] if selection else []),
        "--target", target,
        *(["--backend", backend] if backend is not None else []),
        f"--alluredir={fresh}", f"--junitxml={JUNIT}", f"--criteria-file={CRITERIA}",
        f"--history-dir={HISTORY}", *extra,
        # a file per worker: a module's fixtures (e.g. the PITR restores) are set up once
        *(["-n", str(workers), "--dist", "loadfile"] if workers > 0 else []),
    ]  # fmt: skip
    console.print(Text(f"drill: {' '.join(command[1:])}"))
    status = subprocess.run(command, cwd=ROOT, check=False).returncode
    if status in STOPPED_BEFORE_TESTS:
        shutil.rmtree(fresh, ignore_errors=True)
    else:
        shutil.rmtree(ALLURE_RESULTS, ignore_errors=True)
        fresh.rename(ALLURE_RESULTS)
    if JUNIT.exists():
        try:
            console.print(suite_table(JUNIT))
        except ElementTree.ParseError as error:
            console.print(Text(f"drill: {JUNIT} is not well-formed XML ({error})", style="red"))
    return status


def suite_counts(junit: Path) -> dict[str, Counter[str]]:
    """Passed / failed / skipped per suite folder, from the JUnit XML of the run."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for case in ElementTree.parse(junit).iter("testcase"):  # noqa: S314 - our own pytest's file
        parts = (case.get("classname") or "").split(".")
        suite = parts[1] if len(parts) > 1 and parts[0] == "suites" else parts[0]
        tags = {child.tag for child in case}
        outcome = (
            "failed"
            if tags & {"failure", "error"}
            else "skipped"
            if "skipped" in tags
            else "passed"
        )
        counts[suite][outcome] += 1
    return dict(counts)


def suite_table(junit: Path) -> Table:
    table = Table(title="drill: suites")
    for column in ("suite", "passed", "failed", "skipped"):
        table.add_column(column, justify="right")
    for suite, tally in sorted(suite_counts(junit).items()):
        failed = tally["failed"]
        table.add_row(
            suite,
            str(tally["passed"]),
            f"[red]{failed}[/]" if failed else "0",
            str(tally["skipped"]),
        )
    return table


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)

"""`--chaos-experiment NAME|PATH` (repeatable): run these chaos experiments only.

Every experiment file of the system description's `[chaos] experiments` folder is checked
by Chaos Toolkit before any test runs; one that is not valid, or a name that is not an
experiment, stops the run with one `ERROR:` line naming the file or the known experiments.
Nothing is injected before. A description without `[chaos]` runs the test once, skipped
with that reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chaos.errors import ExperimentError
from chaos.experiments import Experiment, Outcome, discover, select
from plugins.target import HARNESS_CONTEXT

SELECTED = pytest.StashKey[list[Experiment]]()
KNOWN = pytest.StashKey[dict[str, Experiment]]()
PROPERTY = "reliability.chaos_outcome"
NO_EXPERIMENT = "the system description names no chaos experiment ([chaos] experiments)"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("reliability").addoption(
        "--chaos-experiment",
        action="append",
        default=[],
        metavar="NAME|PATH",
        help="chaos experiment to run: a name of the system's experiments or an experiment "
        "file (repeatable; default: every one of the system description's [chaos])",
    )


def pytest_configure(config: pytest.Config) -> None:
    context = config.stash.get(HARNESS_CONTEXT, None)
    chaos = None if context is None else context.system.description.chaos
    directory = None if chaos is None else Path(chaos.experiments)
    try:
        known = {} if directory is None else discover(directory)
        names = config.getoption("--chaos-experiment")
        chosen = select(known, names, directory) if names else list(known.values())
    except ExperimentError as error:
        raise pytest.UsageError(f"--chaos-experiment: {error}") from None
    config.stash[KNOWN] = known
    config.stash[SELECTED] = chosen
    if not hasattr(config, "workerinput"):  # xdist workers send their reports instead
        config.pluginmanager.register(OutcomeLines(), "chaos-outcome-lines")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`chaos_case` runs once per selected experiment and variant, marked `pr_gate` for the
    PR gate's cases and `drill` for the others, and `destructive` when it kills, stops,
    stresses or fills."""
    if "chaos_case" not in metafunc.fixturenames:
        return
    cases = []
    for experiment in metafunc.config.stash[SELECTED]:
        for variant in experiment.cases():
            marks = [pytest.mark.pr_gate if variant in experiment.pr_gate else pytest.mark.drill]
            if experiment.destructive:
                marks.append(pytest.mark.destructive)
            label = experiment.name + (f"[{variant}]" if variant else "")
            cases.append(pytest.param((experiment, variant), id=label, marks=marks))
    if not cases:
        skip = pytest.mark.skip(reason=NO_EXPERIMENT)
        cases = [pytest.param(None, id="none", marks=[skip])]
    metafunc.parametrize("chaos_case", cases)


def carry_outcome(item: pytest.Item, outcome: Outcome) -> None:
    """The experiment's one summary line travels in its test's report (also from xdist)."""
    line = {"label": outcome.label, "passed": outcome.passed, "seconds": outcome.seconds}
    item.user_properties.append((PROPERTY, json.dumps(line)))


class OutcomeLines:
    """One line per experiment run, and the wall time of them all (the PR gate's budget)."""

    def __init__(self) -> None:
        self.lines: dict[str, dict[str, Any]] = {}  # per test: a retry replaces its line

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == PROPERTY and report.when == "teardown":
                self.lines[report.nodeid] = json.loads(str(value))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.lines:
            return
        terminalreporter.section("chaos experiments")
        for line in self.lines.values():
            verdict = "held" if line["passed"] else "FAILED"
            terminalreporter.line(f"{line['label']}: {verdict} in {line['seconds']:.0f} s")
        total = sum(line["seconds"] for line in self.lines.values())
        terminalreporter.line(f"{len(self.lines)} experiments in {total:.0f} s of wall time")

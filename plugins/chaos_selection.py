"""`--chaos-experiment NAME|PATH` (repeatable): run these chaos experiments only.

Every experiment file under scenarios/chaos is checked by Chaos Toolkit before any test
runs; one that is not valid, or a name that is not an experiment, stops the run with one
`ERROR:` line naming the file or the known experiments. Nothing is injected before.
"""

from __future__ import annotations

import pytest

from chaos.errors import ExperimentError
from chaos.experiments import Experiment, Outcome, discover, select

SELECTED = pytest.StashKey[list[Experiment]]()
KNOWN = pytest.StashKey[dict[str, Experiment]]()
OUTCOMES = pytest.StashKey[list[Outcome]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("reliability").addoption(
        "--chaos-experiment",
        action="append",
        default=[],
        metavar="NAME|PATH",
        help="chaos experiment to run: a name of scenarios/chaos or an experiment file "
        "(repeatable; default: every one of scenarios/chaos)",
    )


def pytest_configure(config: pytest.Config) -> None:
    try:
        known = discover()
        names = config.getoption("--chaos-experiment")
        chosen = select(known, names) if names else list(known.values())
    except ExperimentError as error:
        raise pytest.UsageError(f"--chaos-experiment: {error}") from None
    config.stash[KNOWN] = known
    config.stash[SELECTED] = chosen
    config.stash[OUTCOMES] = []


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
    metafunc.parametrize("chaos_case", cases)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per experiment run, and the wall time of them all (the PR gate's budget)."""
    outcomes = terminalreporter.config.stash.get(OUTCOMES, [])
    if not outcomes:
        return
    terminalreporter.section("chaos experiments")
    for outcome in outcomes:
        verdict = "held" if outcome.passed else "FAILED"
        terminalreporter.line(f"{outcome.label}: {verdict} in {outcome.seconds:.0f} s")
    total = sum(outcome.seconds for outcome in outcomes)
    terminalreporter.line(f"{len(outcomes)} experiments in {total:.0f} s of wall time")

"""`workload` runs once per workload of the system description, marked `pr_gate` and/or
`drill` as its `gates` say; `--workload NAME` (repeatable) runs those only.

A name the description does not declare stops the run before any test with one `ERROR:`
line naming the known workloads. A description with no workload runs the test once,
skipped with that reason (shown as skipped, never as a pass).
"""

from __future__ import annotations

import pytest

from load.bounds import gates_for
from plugins.target import HARNESS_CONTEXT

NO_WORKLOAD = "the system description declares no workload"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("reliability").addoption(
        "--workload",
        action="append",
        default=[],
        metavar="NAME",
        help="load tests for this workload of the system description only (repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    names = config.getoption("--workload")
    context = config.stash.get(HARNESS_CONTEXT, None)
    if not names or context is None:
        return
    known = list(context.system.description.workloads)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise pytest.UsageError(
            f"--workload {unknown[0]}: {context.system.describe()} declares no such workload "
            f"(known: {', '.join(known) or 'none'})"
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "workload" not in metafunc.fixturenames:
        return
    description = metafunc.config.stash[HARNESS_CONTEXT].system.description
    chosen = metafunc.config.getoption("--workload") or list(description.workloads)
    params = []
    context = metafunc.config.stash[HARNESS_CONTEXT]
    for name in chosen:
        workload = description.workloads[name]
        gates = workload.gates
        claims = dict.fromkeys(b.criterion for b in gates_for(name, workload, context.slo))
        marks = [getattr(pytest.mark, gate) for gate in gates]
        marks.append(pytest.mark.criteria(*claims))
        if not gates:
            reason = f'workload {name} is in no run: give it gates = ["pr_gate"] or ["drill"]'
            marks.append(pytest.mark.skip(reason=reason))
        params.append(pytest.param(name, id=name, marks=marks))
    if not params:
        params = [pytest.param(None, id="none", marks=[pytest.mark.skip(reason=NO_WORKLOAD)])]
    metafunc.parametrize("workload", params)

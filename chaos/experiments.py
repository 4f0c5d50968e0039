"""The experiments of a system (its description's `[chaos] experiments` folder): found,
validated, run, judged.

Each `<folder>/<name>.json` is a Chaos Toolkit experiment (title, description,
steady-state-hypothesis with tolerances, method, rollbacks), valid under `chaos validate`
and runnable by `chaos run`. Its `extensions` entry named `reliability-harness` says how
the harness uses it:

    {"name": "reliability-harness", "fault": "partition", "destructive": false,
     "pr_gate": ["blackhole"], "needs": ["namespace"],
     "variants": {"blackhole": {"how": "blackhole"}, "partition": {"how": "partition"}}}

`fault` is the kind a profile's `[chaos] allow` must name; `destructive` experiments need
`[target] destructive = true` too; `variants` run the same hypothesis under several
faults (their values override the configuration); `pr_gate` is `true`, `false` or the
variants the PR gate runs; `needs` names what the run must have (`namespace`: a target in
a network namespace, `archive`: a WAL archive to S3).

`run` plays one experiment through chaostoolkit-lib with the rollback strategy `always`
(its default skips rollbacks when a run fails or is interrupted) and judges the journal:
the steady state met before and after, every activity of the method succeeded (a claim
that did not hold is a failed activity, its reason in the journal), every rollback ran.
A Ctrl-C plays the rollbacks, then is raised again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos import activities, phases
from chaos.context import ChaosContext, bound
from chaos.errors import INVALID_RUN, ExperimentError
from system.profile_model import FAULT_KINDS  # what a profile's [chaos] allow may name

EXTENSION = "reliability-harness"
ROLLBACKS_ALWAYS = {"runtime": {"rollbacks": {"strategy": "always"}}}
NEEDS = ("namespace", "archive")
CONSEQUENCE = "no '"  # "no 'fault_on' mark in this run": the activity setting it failed


@dataclass(frozen=True)
class Experiment:
    """One experiment file and what the harness reads from its extension."""

    name: str
    path: Path
    title: str
    fault: str
    destructive: bool
    pr_gate: tuple[str, ...]  # the cases the PR gate runs: ("",) for all of a plain one
    needs: tuple[str, ...] = ()
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.path.read_text())
        return data

    def cases(self) -> list[str]:
        """The variants to run, or the experiment itself when it has none."""
        return list(self.variants) or [""]

    def success_claim(self) -> float | None:
        """The share of requests it claims succeed under the fault (`expect_during_fault`'s
        `min_success`), or None: it claims fast failures, or a restart, not a rate."""
        for activity in self.document().get("method", []):
            provider = activity.get("provider", {})
            if provider.get("func") == "expect_during_fault":
                claimed = provider.get("arguments", {}).get("min_success")
                if claimed is not None:
                    return float(claimed)
        return None


def discover(directory: Path) -> dict[str, Experiment]:
    """Every experiment of `directory`, each checked by Chaos Toolkit; `ExperimentError`
    naming the file and the reason for the first one that is not valid."""
    return {path.stem: read(path) for path in sorted(directory.glob("*.json"))}


def read(path: Path) -> Experiment:
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ExperimentError(f"experiment {path}: not readable JSON ({error})") from None
    validate(document, path)
    extension = _extension(document, path)
    return Experiment(
        name=path.stem,
        path=path,
        title=str(document["title"]),
        fault=extension["fault"],
        destructive=bool(extension.get("destructive", False)),
        pr_gate=_pr_gate(extension.get("pr_gate", False), extension.get("variants", {})),
        needs=tuple(extension.get("needs", ())),
        variants=dict(extension.get("variants", {})),
    )


def _pr_gate(value: Any, variants: Mapping[str, Any]) -> tuple[str, ...]:
    """`true`: every case; a list: those variants; `false`: none."""
    if value is True:
        return tuple(variants) or ("",)
    if isinstance(value, list):
        return tuple(str(variant) for variant in value)
    return ()


def validate(document: dict[str, Any], path: Path) -> None:
    """Chaos Toolkit's own validation (as `chaos validate` does), one line if it fails."""
    from chaoslib.exceptions import ChaosException  # noqa: PLC0415 - heavy, only here
    from chaoslib.experiment import ensure_experiment_is_valid  # noqa: PLC0415

    _quiet()
    try:
        ensure_experiment_is_valid(document)
    except ChaosException as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExperimentError(
            f"experiment {path} fails Chaos Toolkit's validation: {reason}"
        ) from None


def _extension(document: Mapping[str, Any], path: Path) -> dict[str, Any]:
    for extension in document.get("extensions", []):
        if isinstance(extension, dict) and extension.get("name") == EXTENSION:
            fault = extension.get("fault")
            if fault not in FAULT_KINDS:
                raise ExperimentError(
                    f'experiment {path}: extension {EXTENSION!r} needs "fault" one of '
                    f"{', '.join(FAULT_KINDS)}, got {fault!r}"
                )
            unknown = sorted(set(extension.get("needs", ())) - set(NEEDS))
            if unknown:
                raise ExperimentError(
                    f"experiment {path}: unknown need {', '.join(unknown)}; known: "
                    f"{', '.join(NEEDS)}"
                )
            return extension
    raise ExperimentError(
        f"experiment {path}: no extension named {EXTENSION!r} saying its fault kind"
    )


def select(
    known: Mapping[str, Experiment], names: Iterable[str], directory: Path | None = None
) -> list[Experiment]:
    """The named experiments (a name of the system's experiments, or the path of an
    experiment file of one's own); `ExperimentError` naming the known ones for a wrong name."""
    chosen = []
    for name in names:
        if name.endswith(".json") or "/" in name:
            path = Path(name)
            if not path.is_file():
                raise ExperimentError(f"experiment file {path} does not exist")
            chosen.append(read(path))
            continue
        if name not in known:
            raise ExperimentError(
                f"no chaos experiment {name!r}; known: {', '.join(sorted(known)) or 'none'} "
                f"(files in {directory or 'the system description'})"
            )
        chosen.append(known[name])
    return chosen


@dataclass
class Outcome:
    """What a run of an experiment showed."""

    experiment: Experiment
    variant: str
    journal: dict[str, Any]
    failures: list[str]
    measures: dict[str, Any]

    @property
    def seconds(self) -> float:
        return float(self.journal.get("duration") or 0.0)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def verdict(self) -> str:
        """pass, fail, or invalid: it failed only because the harness could not measure
        (e.g. a steady state whose load generator stalled, `load_within_slo`)."""
        if self.passed:
            return "pass"
        return "invalid" if all(INVALID_RUN in failure for failure in self.failures) else "fail"

    @property
    def checks(self) -> int:
        """How many checks its hypothesis made: the steady-state probes before and after
        the method and the method's own probes (what a run without a success claim is
        judged on)."""
        states = self.journal.get("steady_states") or {}
        steady = sum(len((states.get(phase) or {}).get("probes", [])) for phase in states)
        method = [
            entry
            for entry in self.journal.get("run") or []
            if entry.get("activity", {}).get("type") == "probe"
        ]
        return steady + len(method)

    @property
    def label(self) -> str:
        return self.experiment.name + (f"[{self.variant}]" if self.variant else "")


def run(
    experiment: Experiment,
    configuration: dict[str, Any],
    context: ChaosContext,
    variant: str = "",
) -> Outcome:
    """Play `experiment` (one variant) with rollbacks `always`; judge its journal."""
    from chaoslib.experiment import run_experiment  # noqa: PLC0415 - heavy, only here
    from chaoslib.types import Strategy  # noqa: PLC0415

    _quiet()
    settings = dict(configuration)
    if variant:
        settings.update(experiment.variants[variant])
    document = experiment.document()
    document.setdefault("controls", []).append(phases.CONTROL)  # its parts as phases
    try:
        with bound(context):
            journal: dict[str, Any] = run_experiment(
                document,
                settings=ROLLBACKS_ALWAYS,
                experiment_vars=(dict(settings), {}),  # chaoslib pops what it reads
                strategy=Strategy.DEFAULT,
            )
    finally:
        phases.OPEN.close_all()
        leftover = activities.finish(settings)
    if journal.get("status") == "interrupted":
        raise KeyboardInterrupt(f"chaos experiment {experiment.name} interrupted (rolled back)")
    measures = dict(leftover.get("measures", {}))
    return Outcome(experiment, variant, journal, judge(journal), measures)


def judge(journal: Mapping[str, Any]) -> list[str]:
    """One line per thing that did not hold, from a Chaos Toolkit journal."""
    failures = []
    states = journal.get("steady_states") or {}
    for phase in ("before", "after"):
        state = states.get(phase)
        if state is not None and not state.get("steady_state_met"):
            failures.append(f"steady state not met {phase} the method: {_probes(state)}")
    for entry in journal.get("run") or []:
        if entry.get("status") != "succeeded":
            reason = _reason(entry)
            if failures and reason.startswith(CONSEQUENCE):
                continue  # an earlier activity failed: this one could not run
            failures.append(f"{entry['activity'].get('name')}: {reason}")
    for entry in journal.get("rollbacks") or []:
        if entry.get("status") != "succeeded":
            failures.append(f"rollback {entry['activity'].get('name')}: {_reason(entry)}")
    if journal.get("status") not in ("completed", None) and not failures:
        failures.append(f"the experiment ended {journal.get('status')}")
    return failures


def _probes(state: Mapping[str, Any]) -> str:
    failing = []
    for probe in state.get("probes", []):
        name = probe["activity"].get("name")
        if probe.get("status") != "succeeded":
            failing.append(f"{name} ({_reason(probe)})")
        elif not probe.get("tolerance_met", True):
            failing.append(f"{name} (outside its tolerance: {probe.get('output')!r})")
    return ", ".join(failing) or "a probe"


def _reason(entry: Mapping[str, Any]) -> str:
    lines = entry.get("exception") or []
    text = "".join(lines).strip().splitlines()
    last = text[-1] if text else "failed"
    # chaoslib wraps the provider's error as "ActivityFailed: <module>.<Type>: <message>"
    for prefix in ("chaoslib.exceptions.ActivityFailed: ", "ActivityFailed: "):
        last = last.removeprefix(prefix)
    kind, separator, message = last.partition(": ")
    if separator and kind.startswith("chaos.") and " " not in kind:
        return message  # our own errors say what they are
    return last


def _quiet() -> None:
    """chaostoolkit-lib logs every step at INFO to stderr: keep it for the journal only."""
    logging.getLogger("chaostoolkit").setLevel(logging.WARNING)

"""One chaos case from a suite: where it runs, whether it may, run it, keep the evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaos import experiments
from chaos.context import ChaosContext
from chaos.experiments import Experiment, Outcome
from chaos.stack import DEPENDENCY_TIMEOUT_SECONDS, ChaosStack, system_configuration
from fixtures.launcher import ServiceLauncher
from fixtures.profile import TargetProfile
from plugins.criteria import Criteria
from plugins.evidence import attach_json, attach_text
from plugins.settings import effective_slo
from system.loader import System


def run_case(
    experiment: Experiment,
    variant: str,
    *,
    stack: ChaosStack | None,
    profile: TargetProfile,
    system: System,
    launcher: ServiceLauncher,
    workdir: Path,
    criteria: Criteria,
    keep: Callable[[Outcome], None],
) -> Outcome:
    """Run one case; skip it (saying why) where it may not run; fail naming what broke."""
    where = Where(profile, system, launcher, workdir / "run")
    configuration, context = _where(experiment, variant, stack, where)
    outcome = experiments.run(experiment, configuration, context, variant)
    keep(outcome)
    attach_json(f"Chaos Toolkit journal: {outcome.label}", outcome.journal)
    record_outcome(criteria, outcome)
    summary = _summary(outcome)
    attach_text("hypothesis", summary)
    print(summary)  # in the test's captured output, and on the terminal with -s
    if not outcome.passed:
        pytest.fail(summary, pytrace=False)
    return outcome


@dataclass(frozen=True)
class Where:
    """Where a case runs: the profile, the system, the launcher, the run's directory."""

    profile: TargetProfile
    system: System
    launcher: ServiceLauncher
    run_dir: Path


def _where(
    experiment: Experiment, variant: str, stack: ChaosStack | None, where: Where
) -> tuple[dict[str, Any], ChaosContext]:
    profile, launcher, run_dir = where.profile, where.launcher, where.run_dir
    if stack is not None:
        how = experiment.variants.get(variant, {}).get("how")
        if how == "partition" and stack.namespace is None:
            pytest.skip(f"{experiment.name}[partition] needs a network namespace: "
                        f"{stack.namespace_problem}")  # fmt: skip
        slo = effective_slo(where.system, profile)
        return stack.configuration(run_dir, slo, where.system), stack.context(launcher)
    return _profile_configuration(experiment, variant, where), ChaosContext()


def _profile_configuration(experiment: Experiment, variant: str, where: Where) -> dict[str, Any]:
    """Against a profile: only the faults it allows, network ones through its Toxiproxy."""
    profile, run_dir = where.profile, where.run_dir
    allowed = profile.chaos_allow or ()
    if experiment.fault not in allowed:
        pytest.skip(
            f"{experiment.name}: {experiment.fault} faults are not allowed against "
            f"{profile.describe()}; add {experiment.fault!r} to [chaos] allow in its profile"
        )
    if experiment.destructive and not profile.destructive:
        pytest.skip(
            f"{experiment.name} is destructive: refused against {profile.describe()} unless its "
            "profile sets destructive = true under [target]"
        )
    if experiment.fault not in ("latency", "partition"):
        pytest.skip(f"{experiment.name} needs a target the harness started itself (a local one)")
    if experiment.variants.get(variant, {}).get("how") == "partition":
        pytest.skip(f"{experiment.name}[partition] needs a target in a namespace of the harness")
    toxiproxy = profile.services.get("toxiproxy")
    api = profile.services.get("api")
    if toxiproxy is None or api is None:
        missing = "[services.toxiproxy]" if toxiproxy is None else "[services.api]"
        pytest.skip(f"{experiment.name}: the profile has no {missing}")
    proxies = dict(toxiproxy.get("proxies", {}))
    configuration: dict[str, Any] = {
        "api_url": str(api["url"]).rstrip("/"),
        **system_configuration(where.system),
        "run_dir": str(run_dir),
        "run_id": run_dir.parent.name[-10:],
        "toxiproxy_url": str(toxiproxy["url"]).rstrip("/"),
        "p95_seconds": effective_slo(where.system, profile).p95_seconds,
        "dependency_timeout_seconds": DEPENDENCY_TIMEOUT_SECONDS,
        "allowed_faults": list(allowed),
        "destructive": profile.destructive,
        "allow_remote_load": profile.allow_remote_load,
    }
    if "entity_ids" in api:
        configuration["entity_ids"] = api["entity_ids"]
    chaos = where.system.description.chaos
    for dependency in chaos.dependencies if chaos is not None else ():
        configuration[f"proxy_{dependency}"] = proxies.get(dependency, dependency)
    return configuration


def _summary(outcome: Outcome) -> str:
    measures = outcome.measures
    during = measures.get("during", {})
    parts = [f"{outcome.label}: {outcome.experiment.title}"]
    if during:
        parts.append(
            f"during the fault: {during['success_ratio']:.1%} of {during['requests']} requests "
            f"succeeded, P95 {during['p95_seconds']:.3f} s, slowest {during['max_seconds']:.2f} s"
        )
    for key, label in (
        ("time_to_detect_seconds", "time to detect"),
        ("time_to_recover_seconds", "time to recover"),
    ):
        if key in measures:
            parts.append(f"{label} {measures[key]:.1f} s")
    if "writes" in measures:
        parts.append(f"writes {measures['writes']}")
    if "archive" in measures:
        archive = measures["archive"]
        parts.append(
            f"archive: writes waited at most {archive['exposure_seconds']:.1f} s (catch-up "
            f"{archive['catch_up_seconds']:.1f} s); {archive['archived_segments']} segments "
            f"archived, S3 errors injected {archive['injected']}, archive_command failures "
            f"{archive['archive_failures']}"
        )
    verdict = "held" if outcome.passed else "did not hold: " + "; ".join(outcome.failures)
    return "\n".join([*parts, f"hypothesis {verdict}"])


def record_outcome(criteria: Criteria, outcome: Outcome) -> None:
    measures = outcome.measures
    during = measures.get("during", {})
    # The bound is the experiment's own success claim, whether or not the run got as far as
    # measuring it. One that claims no success ratio — requests fail fast (a database
    # down), a restart, an archive fault — is judged on its hypothesis's checks: the row
    # counts those that failed, against 0 (the success ratio under the fault, if measured,
    # is a detail), never a pass with nothing measured or without a bound.
    bound = outcome.experiment.success_claim()
    common: dict[str, Any] = {
        "time_to_detect_s": measures.get("time_to_detect_seconds"),
        "time_to_recover_s": measures.get("time_to_recover_seconds"),
        "failures": outcome.failures,
    }
    if bound is not None:
        criteria.record(
            criterion="chaos_hypothesis",
            scope=outcome.label,
            bound=bound,
            unit="ratio",
            measured=during.get("success_ratio"),
            interval=during.get("success_interval"),
            verdict=outcome.verdict,
            **common,
        )
    else:
        checked = outcome.checks > 0  # no check made: nothing was measured, not a pass
        criteria.record(
            criterion="chaos_hypothesis",
            scope=outcome.label,
            bound=0,
            unit="checks failed",
            measured=len(outcome.failures) if checked else None,
            verdict=outcome.verdict if checked else "invalid",
            checks=outcome.checks,
            success_ratio=during.get("success_ratio"),
            **common,
        )
    if "archive" in measures:
        # An archive that cannot ship WAL is exposure, not loss: writes acknowledged during
        # the fault would be lost with the primary. Fault + catch-up against the RPO bound.
        archive = measures["archive"]
        exposure = archive["exposure_seconds"]
        criteria.within(
            criterion="rpo",
            scope=f"{outcome.label} (archive exposure)",
            bound=archive["rpo_bound_seconds"],
            unit="s",
            measured=exposure,
            catch_up_s=archive["catch_up_seconds"],
            archived_segments=archive["archived_segments"],
        )
    # What the hypothesis claims besides the success rate, each with its own bound: back
    # to steady state within the experiment's recovery bound, every acknowledged write kept.
    if "recovery_bound_seconds" in measures:
        recovered = measures.get("time_to_recover_seconds")
        criteria.record(
            criterion="chaos_time_to_recover",
            scope=outcome.label,
            bound=measures["recovery_bound_seconds"],
            unit="s",
            measured=recovered,
            verdict="pass" if recovered is not None else "fail",
        )
    if "writes_not_kept" in measures:
        criteria.within(
            criterion="chaos_writes_lost",
            scope=outcome.label,
            bound=0,
            unit="writes",
            measured=measures["writes_not_kept"],
            writes=measures.get("writes"),
        )

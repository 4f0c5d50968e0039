"""Capacity: the highest arrival rate at which the target still meets its SLO.

The rate rises step by step (`start_rate`, then x `factor`, up to `max_rate`), each step a
run of `step_seconds` in the open model judged by the same gates as the load suites
(P95 and error rate at 95 %). It stops at the first step that does not pass:

- a gate FAILs: the target's capacity is the last passing rate;
- the run is INVALID (the generator dropped arrivals or saturated its CPU): the target
  held up to the last passing rate *at least*; the generator, not the target, gave out;
- a gate is undecided: the step was too short there; capacity is the last passing rate.

This is the number a platform team asks for before a launch. `python -m load.capacity`
runs it against a running target (or the local reference target) and prints the steps;
the load suite's drill test records it and draws latency against rate.

    python -m load.capacity --url http://127.0.0.1:8000 --scenario graph_query

Before the first step the command checks what it was given, and says what is wrong in one
line on stderr (exit status 2, no step run): a URL that is not `http(s)://host[:port]`, a
URL with credentials in it (refused, never printed: a request's secrets come from the
environment, as `${NAME}` in the system description), nothing listening there, a target
whose health check does not answer healthy. It exits 1 when no step met the SLO.
"""

from __future__ import annotations

import argparse
import math
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from fixtures.errors import HarnessError
from fixtures.lifecycle.reaper import Reaper
from fixtures.profile import LoadSettings
from fixtures.target_client import health
from load.errors import LoadPlanError
from load.gates import Gate, GateOutcome, Verdict, evaluate_all
from load.generators import ON_THIS_MACHINE, run_judged
from load.plan import LoadPlan
from load.result import LoadResult
from load.traffic import Traffic, traffic_of
from system.description import Description
from system.description import Health as HealthSpec
from system.loader import DEFAULT_SYSTEM, load_system
from system.profile_model import HTTP, shown_url, url_problem

DEFAULT_START_RATE = 25.0
DEFAULT_FACTOR = 1.5
DEFAULT_MAX_RATE = 2_000.0
DEFAULT_STEP_SECONDS = 20.0
CONNECT_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class CapacitySearch:
    """Where to search, and the SLO that defines "still holds"."""

    scenario: str
    base_url: str
    p95_seconds: float = 1.5
    error_rate: float = 0.01
    start_rate: float = DEFAULT_START_RATE
    factor: float = DEFAULT_FACTOR
    max_rate: float = DEFAULT_MAX_RATE
    step_seconds: float = DEFAULT_STEP_SECONDS
    processes: int = 1
    allow_remote: bool = False
    seed: int = 0
    traffic: Traffic = field(kw_only=True)

    def __post_init__(self) -> None:
        if not self.factor > 1:
            raise LoadPlanError(f"capacity: factor={self.factor!r} must be > 1 (the rate rises)")
        if not 0 < self.start_rate <= self.max_rate:
            raise LoadPlanError(
                f"capacity: need 0 < start_rate <= max_rate, got {self.start_rate!r} and "
                f"{self.max_rate!r}"
            )
        self.plan(self.start_rate)  # the plan's own checks: scenario, URL, loopback, ...

    def rates(self) -> list[float]:
        count = math.floor(math.log(self.max_rate / self.start_rate, self.factor) + 1e-9) + 1
        return [round(self.start_rate * self.factor**i, 1) for i in range(count)]

    def plan(self, rate: float) -> LoadPlan:
        return LoadPlan(
            scenario=self.scenario,
            base_url=self.base_url,
            duration_seconds=self.step_seconds,
            rate_per_second=rate,
            processes=self.processes,
            traffic=self.traffic,
            allow_remote=self.allow_remote,
            seed=self.seed,
            latency_bound_seconds=self.p95_seconds,
        )

    def gates(self) -> list[Gate]:
        return [
            Gate("latency", self.p95_seconds, self.scenario, percentile=95),
            Gate("error_rate", self.error_rate, self.scenario),
        ]


@dataclass(frozen=True)
class Step:
    rate: float
    result: LoadResult
    outcomes: list[GateOutcome]

    @property
    def verdict(self) -> Verdict:
        verdicts = {outcome.verdict for outcome in self.outcomes}
        for verdict in (Verdict.FAIL, Verdict.INVALID, Verdict.INCONCLUSIVE):
            if verdict in verdicts:
                return verdict
        return Verdict.PASS

    def row(self) -> str:
        result = self.result
        return (
            f"{self.rate:8.1f}/s  {self.verdict.value:9}  P50 {result.p50 * 1e3:8.1f} ms  "
            f"P95 {result.p95 * 1e3:8.1f} ms  P99 {result.p99 * 1e3:8.1f} ms  errors "
            f"{result.error_rate:6.2%}  dropped {result.dropped}  generator CPU "
            f"{result.generator.cpu:.0%}"
        )


@dataclass(frozen=True)
class Capacity:
    search: CapacitySearch
    steps: list[Step] = field(default_factory=list)

    @property
    def highest_passing_rate(self) -> float | None:
        passing = [step.rate for step in self.steps if step.verdict is Verdict.PASS]
        return max(passing) if passing else None

    @property
    def stopped_by(self) -> Step | None:
        failed = [step for step in self.steps if step.verdict is not Verdict.PASS]
        return failed[0] if failed else None

    def conclusion(self) -> str:
        rate = self.highest_passing_rate
        held = "no step met the SLO" if rate is None else f"the SLO holds up to {rate:g}/s"
        stop = self.stopped_by
        if stop is None:
            cap = self.search.max_rate
            return f"{self.search.scenario}: {held}, the highest rate tried (cap {cap:g}/s)"
        reason = "; ".join(o.message for o in stop.outcomes if not o.passed)
        if stop.verdict is Verdict.INVALID:
            return (
                f"{self.search.scenario}: {held} at least: at {stop.rate:g}/s the load "
                f"generator gave out, not the target ({reason})"
            )
        return f"{self.search.scenario}: {held}; at {stop.rate:g}/s: {reason}"


def find_capacity(
    search: CapacitySearch,
    workdir: Path,
    *,
    reaper: Reaper | None = None,
    on_step: Callable[[Step], None] | None = None,
    generators: LoadSettings = ON_THIS_MACHINE,
) -> Capacity:
    """Run the steps until one does not pass (or the highest rate passed), each where
    `generators` say (this machine's processes, or a master and workers)."""
    steps: list[Step] = []
    for index, rate in enumerate(search.rates()):
        step_dir = workdir / f"step-{index + 1}"
        result = run_judged(search.plan(rate), step_dir, generators, reaper=reaper)
        step = Step(rate, result, evaluate_all(search.gates(), result))
        steps.append(step)
        if on_step is not None:
            on_step(step)
        if step.verdict is not Verdict.PASS:
            break
    return Capacity(search, steps)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.capacity", description=__doc__)
    parser.add_argument("--url", required=True, help="the target's base URL (loopback)")
    parser.add_argument("--system", default=DEFAULT_SYSTEM, help="the system description")
    parser.add_argument("--scenario", default=None, help="its workload (default: capacity's)")
    parser.add_argument("--start-rate", type=float, default=DEFAULT_START_RATE)
    parser.add_argument("--factor", type=float, default=DEFAULT_FACTOR)
    parser.add_argument("--max-rate", type=float, default=DEFAULT_MAX_RATE)
    parser.add_argument("--step-seconds", type=float, default=DEFAULT_STEP_SECONDS)
    parser.add_argument("--p95-seconds", type=float, default=1.5)
    parser.add_argument("--error-rate", type=float, default=0.01)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--entity-ids", default=None, help='the profile\'s ids, e.g. "1-10000"')
    args = parser.parse_args(argv)
    try:
        base_url = checked_url(args.url)
        description = load_system(args.system).description
        scenario = args.scenario or _default_workload(description)
        search = CapacitySearch(
            scenario=scenario,
            base_url=base_url,
            p95_seconds=args.p95_seconds,
            error_rate=args.error_rate,
            start_rate=args.start_rate,
            factor=args.factor,
            max_rate=args.max_rate,
            step_seconds=args.step_seconds,
            processes=args.processes,
            traffic=_traffic(description, scenario).with_ids(args.entity_ids, None),
        )
        check_target_answers(search.base_url, description.health)
    except HarnessError as error:
        print(f"capacity: {error}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="capacity-"))
    try:
        print(f"capacity of {search.base_url}, scenario {search.scenario}, rates {search.rates()}")
        capacity = find_capacity(
            search, workdir, on_step=lambda step: print(step.row(), flush=True)
        )
    except HarnessError as error:
        print(f"capacity: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(capacity.conclusion())
    return 0 if capacity.highest_passing_rate is not None else 1


def checked_url(url: str) -> str:
    """`--url` as the load plan takes it; `LoadPlanError` (the URL masked) for one that is
    not http(s)://host[:port] or that carries credentials."""
    if "@" in urlsplit(url).netloc:
        raise LoadPlanError(
            f"--url {shown_url(url)}: credentials in the URL are refused (they would reach "
            "the output); give the URL without them and pass secrets through the environment "
            "(a ${NAME} in the system description's requests)"
        )
    problem = url_problem(url, HTTP, "http://127.0.0.1:8000")
    if problem is not None:
        raise LoadPlanError(f"--url {url}: {problem}")
    return url.rstrip("/")


def check_target_answers(base_url: str, spec: HealthSpec) -> None:
    """Something listens at `base_url` and its health check answers healthy (the system
    description's `[health]`); `LoadPlanError` in one line before any load step otherwise."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise LoadPlanError(
            f"--url {base_url}: nothing listens at {host}:{port} ({reason}); start the "
            "target first, or give the URL it answers on"
        ) from None
    answer = health(base_url, spec)
    if not answer.ok:
        raise LoadPlanError(
            f"--url {base_url}: the health check GET {spec.path} answered {answer.describe()}, "
            f"not healthy (HTTP {spec.status}); measure a healthy target, or give --system the "
            "description of the system there"
        )


def _default_workload(description: Description) -> str:
    if description.capacity is not None:
        return description.capacity.workload
    if not description.workloads:
        raise LoadPlanError("capacity: the system description declares no workload")
    return next(iter(description.workloads))


def _traffic(description: Description, workload: str) -> Traffic:
    if workload not in description.workloads:
        known = ", ".join(description.workloads) or "none"
        raise LoadPlanError(f"capacity: no workload {workload!r} in the description ({known})")
    return traffic_of(description, workload)


if __name__ == "__main__":
    sys.exit(main())

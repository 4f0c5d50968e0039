"""Sequential gates: a run that is too short to decide goes on, in steps, up to a cap.

A fixed-length run judged at 95 % cannot pass a target at 0.5 % errors against a 1 %
bound in 600 requests, and one that is merely looked at again and again until its
interval clears the bound would pass bad targets far more often than 2.5 % of the time.
So the run is planned for `max_seconds` and judged at looks fixed in advance (after
`first_seconds`, then every `step_seconds`), each at its own confidence level, from an
alpha-spending function (Lan & DeMets, 1983) of the information fraction t = elapsed /
max_seconds, Pocock-type:

    A(t) = alpha * ln(1 + (e - 1) * t),   look i spends  A(t_i) - A(t_(i-1)),

and judged at confidence 1 - (A(t_i) - A(t_(i-1))). The probability that any look gives
a wrong verdict is at most the sum of what the looks spend (the union bound), A(1) =
alpha: the error rate of the repeated looks stays at the stated level, whatever the
correlation between looks. Pocock's shape spends early, so a healthy target is decided at
the first look; a target near its bound runs longer, up to the cap, where the verdict
stays `undecided` if the interval still straddles the bound.

Each look judges the arrivals intended before its cut, `settle_seconds` after the cut, so
an unanswered request of the window is at least that slow (`load.result` calls it
pending; `load.gates` counts it against the target for a pass and for it for a fail).
The run stops at the first look where every gate is decided, or one fails or is invalid.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from load.errors import LoadPlanError
from load.gates import Gate, GateOutcome, Verdict, evaluate
from load.plan import LoadPlan
from load.result import LoadResult
from system.deadline import Deadline


class Judged(Protocol):
    """A run the looks can judge: one machine's (`load.runner.LoadRun`) or a master's and
    its workers' (`load.merged.DistributedLoadRun`)."""

    plan: LoadPlan

    def started(self) -> tuple[float, float]: ...
    def check(self) -> None: ...
    def finished(self) -> bool: ...
    def stop(self) -> None: ...
    def wait(self) -> LoadResult: ...
    def close(self) -> None: ...
    def result(
        self, *, since: float | None = None, until: float | None = None, now: float | None = None
    ) -> LoadResult: ...


DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class Looks:
    """When a sequential run is judged (seconds of load) and its cap."""

    first_seconds: float
    step_seconds: float
    max_seconds: float
    settle_seconds: float = 2.0

    def __post_init__(self) -> None:
        for name in ("first_seconds", "step_seconds", "max_seconds", "settle_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise LoadPlanError(f"looks: {name}={value!r} must be a number > 0")
        if self.first_seconds > self.max_seconds:
            raise LoadPlanError(
                f"looks: first_seconds={self.first_seconds:g} is beyond the cap "
                f"max_seconds={self.max_seconds:g}; lower it or raise the cap"
            )

    def cuts(self) -> list[float]:
        """Seconds of load at each look; the last is the cap."""
        cuts, cut = [], self.first_seconds
        while cut < self.max_seconds - 1e-9:
            cuts.append(cut)
            cut += self.step_seconds
        return [*cuts, self.max_seconds]

    def confidences(self, alpha: float = DEFAULT_ALPHA) -> list[float]:
        """The confidence level of each look (what it spends of alpha)."""
        levels, spent = [], 0.0
        for cut in self.cuts():
            total = alpha_spent(cut / self.max_seconds, alpha)
            levels.append(1.0 - (total - spent))
            spent = total
        return levels


def alpha_spent(fraction: float, alpha: float = DEFAULT_ALPHA) -> float:
    """Pocock-type spending function: alpha * ln(1 + (e - 1) t), t clipped to [0, 1]."""
    t = min(1.0, max(0.0, fraction))
    return alpha * math.log(1.0 + (math.e - 1.0) * t)


@dataclass(frozen=True)
class Decision:
    """The gates' outcomes at the look that decided them (or at the cap)."""

    result: LoadResult
    outcomes: list[GateOutcome]
    look: int  # 1-based
    looks: int
    confidence: float
    elapsed_seconds: float
    cap_seconds: float

    @property
    def passed(self) -> bool:
        return all(outcome.passed for outcome in self.outcomes)

    def describe(self) -> str:
        state = "decided" if all(o.decided for o in self.outcomes) else "still undecided"
        return (
            f"{state} after {self.elapsed_seconds:.0f} s of load (look {self.look} of "
            f"{self.looks}, cap {self.cap_seconds:g} s, this look at {self.confidence:.2%} "
            "confidence: Pocock alpha spending keeps the overall error rate at 5 %)"
        )


def finished_deciding(outcomes: Sequence[GateOutcome]) -> bool:
    """Stop at a fail or an invalid run, or once every gate is decided."""
    if any(o.verdict in (Verdict.FAIL, Verdict.INVALID) for o in outcomes):
        return True
    return all(o.decided for o in outcomes)


def judge_sequentially(
    run: Judged,
    gates: Sequence[Gate],
    looks: Looks,
    *,
    alpha: float = DEFAULT_ALPHA,
    sleep: Callable[[float], None] = time.sleep,
) -> Decision:
    """Judge `run` (planned for `looks.max_seconds`) at each look; stop it once decided."""
    if abs(run.plan.duration_seconds - looks.max_seconds) > 1e-6:
        raise LoadPlanError(
            f"looks: the run lasts {run.plan.duration_seconds:g} s but the cap is "
            f"{looks.max_seconds:g} s; plan the run for the cap"
        )
    t0_wall, t0_mono = run.started()
    cuts, levels = looks.cuts(), looks.confidences(alpha)
    decision: Decision | None = None
    for index, (cut, level) in enumerate(zip(cuts, levels, strict=True), start=1):
        last = index == len(cuts)
        _wait_for(run, t0_mono + cut + looks.settle_seconds, sleep)
        result = run.wait() if last else run.result(until=t0_wall + cut)
        outcomes = [evaluate(gate, result, level) for gate in gates]
        decision = Decision(result, outcomes, index, len(cuts), level, cut, looks.max_seconds)
        if last or finished_deciding(outcomes):
            break
    assert decision is not None
    if not run.finished():
        run.stop()
        run.wait()
    return decision


def _wait_for(run: Judged, moment: float, sleep: Callable[[float], None]) -> None:
    """Until the monotonic `moment` (the look is due: not a timeout), or until the run has
    ended; `run.check()` raises if a child failed or the run's own deadline passed."""
    look = Deadline.until(moment)
    while not look.expired and not run.finished():
        run.check()
        sleep(min(0.2, look.remaining()))

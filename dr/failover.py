"""The failover rehearsal (the requirements' quarterly drill): the primary lost under writes,
the standby promoted, the target re-pointed, its smoke checks run; timings and lost writes.

The system (its description's `[local]`) runs on a primary with a streaming standby
(`dr.standby`), its Postgres traffic through a Toxiproxy proxy. The lost-write ledger
(`fixtures.write_ledger`) creates records through the description's `[write_path]` and logs
each acknowledgement, and the standby's lag is sampled. Optionally the link between the
regions is cut for `forced_lag_seconds` first (the standby falls behind on purpose). Then
the primary is SIGKILLed and the failover timed by phase, from the failure:

- detect: the target's health check turns unhealthy (what a health-based failover watches);
- promote: `pg_promote()` on the standby, until it accepts writes;
- repoint: the target's database route (its proxy) re-pointed at the new primary, as DNS or
  a health-based failover does it;
- healthy: the health check answers healthy and every smoke check passes.

Writes go on through the failover; every acknowledged one is then read back from the new
primary. Missing ones are data actually lost (asynchronous replication's RPO): named, and
their window (the failure - the oldest lost write) is the failover's recovery point.

`fail_back` then rehearses the way back: the lost primary rewound (`pg_rewind`) and
rejoined as the new primary's standby, the new primary SIGKILLed in turn, the old one
promoted and the target re-pointed at it, timed the same way; every write the failover
kept must read back from it.

Against a shared environment (`rehearse_profile_failover`) the harness starts nothing: the
profile's `[hooks]` fail its primary (`fail_primary`), promote the standby and re-point the
target where the environment does not do it by itself (`promote_standby`, `repoint`), and
make it whole again afterwards (`restore_primary`, on every way out, by the reaper if the
run dies). The phases, the ledger and the lag (on `[services.postgres] standby_dsn`) are
measured the same way; after the restore every write the failover kept must read back.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dr.recovery import DETECT_DEADLINE_SECONDS, HEALTHY_DEADLINE_SECONDS, answering, timed_wait
from dr.standby import LagSampler, StandbyPair, promote, rejoin, standby_pair
from fixtures.hooks import FAIL, RESTORE, primary_failed, run_hook
from fixtures.launcher import RunningService, ServiceLauncher
from fixtures.lifecycle.reaper import Reaper
from fixtures.profile import FAILOVER_STEPS, TargetProfile
from fixtures.providers.postgres import PostgresEndpoint
from fixtures.providers.toxiproxy import ToxiproxyEndpoint, proxy_disabled
from fixtures.target_client import health
from fixtures.write_ledger import Ledger, LedgerCheck, Write, Writer, check_ledger
from load.smoke import SmokeResult, run_smoke
from system.deadline import NotYet
from system.description import Description

WRITE_RATE = 20.0  # writes a second: one every 50 ms, as the archive RPO's writer
WRITER_CAP_SECONDS = 600.0
AFTER_FAILOVER_SECONDS = 1.0  # writes on the new primary too, before the ledger is read
# A phase of the failover: its name and what takes it (promote the standby, re-point the
# target); the time it takes is the phase's.
Step = tuple[str, Callable[[], object]]
# The profile's failover steps, by the phase each is.
PROFILE_STEPS = dict(zip(FAILOVER_STEPS, ("promote", "repoint"), strict=True))


@dataclass(frozen=True)
class FailBack:
    """The way back: the old primary rewound and rejoined, then promoted again."""

    rejoin_seconds: float  # pg_rewind, start, streaming (before the second failure)
    phases: dict[str, float]  # detect, promote, repoint, healthy
    check: LedgerCheck  # the writes the failover kept, read back after failing back
    smoke: list[SmokeResult]
    rejoined: str = "the old primary rewound and streaming"  # what took rejoin_seconds

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())

    def describe(self) -> str:
        kept = f"the writes the failover kept: {self.check.describe()}"
        if "detect" not in self.phases:  # an environment's own restore: no outage to time
            return (
                f"after {self.rejoined} ({self.rejoin_seconds:.2f} s) healthy in "
                f"{self.seconds:.2f} s; {kept}"
            )
        parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.phases.items())
        return (
            f"fail back RTO {self.seconds:.2f} s ({parts}) after {self.rejoined} in "
            f"{self.rejoin_seconds:.2f} s; {kept}"
        )


@dataclass(frozen=True)
class Failover:
    """One rehearsal's measurements."""

    synchronous: bool
    forced_lag_seconds: float
    phases: dict[str, float]  # detect, promote, repoint, healthy: seconds each, in order
    lag_seconds: list[float]  # the standby's lag, sampled before the failure
    check: LedgerCheck
    lost_window_seconds: float  # the failure - the oldest acknowledged write lost (0: none)
    smoke: list[SmokeResult] = field(default_factory=list)
    pair: str = ""
    back: FailBack | None = None  # the way back, when rehearsed

    @property
    def seconds(self) -> float:
        """The failover's RTO: the failure to a healthy target on the new primary."""
        return sum(self.phases.values())

    @property
    def lost_writes(self) -> list[Write]:
        """Acknowledged writes not kept: missing, or their record now another's (a lost
        write's id handed out again by the new primary)."""
        return _not_kept(self.check)

    @property
    def lost(self) -> int:
        return len(self.lost_writes)

    @property
    def lag_before_failure(self) -> float | None:
        return self.lag_seconds[-1] if self.lag_seconds else None

    def describe_rto(self) -> str:
        parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.phases.items())
        return f"failover RTO {self.seconds:.2f} s ({parts})"

    def describe_lag(self) -> str:
        if not self.lag_seconds:
            return "the standby's lag: no sample"
        return (
            f"the standby's lag: {len(self.lag_seconds)} samples, median "
            f"{statistics.median(self.lag_seconds):.2f} s, max {max(self.lag_seconds):.2f} s, "
            f"{self.lag_before_failure:.2f} s before the failure"
        )

    def describe_loss(self) -> str:
        mode = "synchronous" if self.synchronous else "asynchronous"
        forced = (
            f", the link cut {self.forced_lag_seconds:g} s before the failure"
            if self.forced_lag_seconds
            else ""
        )
        window = f"; lost window {self.lost_window_seconds:.2f} s" if self.lost else ""
        return f"{mode} replication{forced}: {self.check.describe()}{window}"

    def evidence(self) -> dict[str, Any]:
        return {
            "pair": self.pair,
            "synchronous": self.synchronous,
            "forced_lag_seconds": self.forced_lag_seconds,
            "rto": self.describe_rto(),
            "phases_seconds": self.phases,
            "lag": self.describe_lag(),
            "writes": self.describe_loss(),
            "lost": [f"{w.name} (id {w.entity_id})" for w in self.lost_writes],
            "smoke": [result.line() for result in self.smoke],
            "fail_back": None if self.back is None else self.back.describe(),
        }


def rehearse_failover(
    launcher: ServiceLauncher,
    toxiproxy: ToxiproxyEndpoint,
    start_target: Callable[..., Any],
    *,
    description: Description,
    synchronous: bool,
    write_seconds: float,
    forced_lag_seconds: float = 0.0,
    fail_back: bool = False,
) -> Failover:
    """`start_target(postgres=..., toxiproxy=..., seed=False, warm=False)` starts the system
    (the `api_factory` fixture, its other stores fresh); `synchronous`: the replication the
    pair is set up with. Needs the description's `[write_path]`."""
    path = description.write_path
    if path is None:
        raise ValueError("a failover rehearsal needs the system description's [write_path]")
    with (
        standby_pair(launcher, toxiproxy, synchronous=synchronous) as pair,
        contextlib.ExitStack() as exits,
    ):
        target = start_target(
            postgres=pair.primary.endpoint, toxiproxy=toxiproxy, seed=False, warm=False
        )
        rejoined: list[RunningService[PostgresEndpoint]] = []

        def stop() -> None:  # the target first: Postgres waits for its connected clients
            target.stop()
            for service in rejoined:
                service.stop()

        exits.callback(stop)
        url = target.endpoint.url
        timed_wait(
            answering(url, description.health, healthy=True),
            HEALTHY_DEADLINE_SECONDS,
            "the system on the primary answering healthy",
        )
        writer = Writer(
            url, path, rate=WRITE_RATE, deadline_seconds=WRITER_CAP_SECONDS, link=None
        ).start()
        sampler = LagSampler(pair.standby.endpoint).start()
        try:
            time.sleep(write_seconds)
            failed_at = _fail(pair, launcher, forced_lag_seconds)
            lag = sampler.stop()
            steps = _local_steps(pair.standby.endpoint, toxiproxy, target.endpoint)
            phases = _fail_over(url, description, failed_at, steps)
            smoke = run_smoke(url, description.smoke)
            time.sleep(AFTER_FAILOVER_SECONDS)
        finally:
            sampler.stop()
            ledger = writer.stop()
        check = check_ledger(url, ledger, path)
        back = None
        if fail_back:
            lost = _not_kept(check)
            kept = Ledger(ledger.run, [write for write in ledger.writes if write not in lost])
            back = _fail_back(launcher, pair, target.endpoint, description, kept, rejoined=rejoined)
        lost_window = max((failed_at - write.sent_at for write in _not_kept(check)), default=0.0)
        return Failover(
            synchronous,
            forced_lag_seconds,
            phases,
            lag,
            check,
            max(0.0, lost_window),
            smoke,
            pair.describe(),
            back,
        )


def _not_kept(check: LedgerCheck) -> list[Write]:
    return [*check.lost, *(write for write, _ in check.changed)]


def _fail_back(
    launcher: ServiceLauncher,
    pair: StandbyPair,
    target: Any,
    description: Description,
    kept: Ledger,
    *,
    rejoined: list[RunningService[PostgresEndpoint]],
) -> FailBack:
    """The old primary rewound and rejoined (added to `rejoined`, which the caller stops
    after the target), the new one SIGKILLed, the old one promoted."""
    path = description.write_path
    assert path is not None
    started = time.monotonic()
    old = rejoin(launcher, pair.primary, pair.standby.endpoint, pair.work_root)
    rejoined.append(old)
    rejoin_seconds = time.monotonic() - started
    pair.standby.kill()
    failed_at = time.time()
    steps = _local_steps(old.endpoint, pair.toxiproxy, target)
    phases = _fail_over(target.url, description, failed_at, steps)
    smoke = run_smoke(target.url, description.smoke)
    return FailBack(rejoin_seconds, phases, check_ledger(target.url, kept, path), smoke)


def _fail(pair: StandbyPair, launcher: ServiceLauncher, forced_lag_seconds: float) -> float:
    """Cut the link for `forced_lag_seconds` (if any), then SIGKILL the primary with the link
    still cut; the wall time of the failure."""
    if forced_lag_seconds <= 0:
        pair.primary.kill()
        return time.time()
    with proxy_disabled(pair.toxiproxy, pair.link, reaper=launcher.reaper):
        time.sleep(forced_lag_seconds)
        pair.primary.kill()
        return time.time()


def _local_steps(
    promoted: PostgresEndpoint, toxiproxy: ToxiproxyEndpoint, target: Any
) -> list[Step]:
    """Promote `promoted`, then re-point the target's Postgres proxy at it."""

    def repoint() -> None:
        with toxiproxy.client() as client:
            client.set_upstream(target.proxy_name("postgres"), f"{promoted.host}:{promoted.port}")

    return [("promote", lambda: promote(promoted)), ("repoint", repoint)]


def _fail_over(
    url: str,
    description: Description,
    failed_at: float,
    steps: Sequence[Step],
    *,
    bound_seconds: float | None = None,
    failed_by: str = "the primary's loss",
) -> dict[str, float]:
    """Detect, take `steps`, until the target at `url` is healthy with every smoke check
    passing: seconds per phase, from `failed_at` (wall clock). No wait goes on past
    `bound_seconds` from the failure (the RTO bound: later cannot pass)."""
    spec = description.health
    started = time.monotonic() - (time.time() - failed_at)
    phases: dict[str, float] = {}

    def mark(name: str) -> None:
        phases[name] = time.monotonic() - started - sum(phases.values())

    def wait(condition: Callable[[], bool | NotYet], deadline: float, what: str) -> None:
        if bound_seconds is not None and bound_seconds < deadline + time.monotonic() - started:
            deadline = max(0.5, bound_seconds - (time.monotonic() - started))
            what += f" within the RTO bound ({bound_seconds:g} s from the failure)"
        timed_wait(condition, deadline, what)

    wait(
        answering(url, spec, healthy=False),
        DETECT_DEADLINE_SECONDS,
        f"the health check turning unhealthy after {failed_by}",
    )
    mark("detect")
    for name, step in steps:
        step()
        mark(name)
    wait(
        _recovered(url, description),
        HEALTHY_DEADLINE_SECONDS,
        "the target healthy, its smoke checks passing",
    )
    mark("healthy")
    return phases


def _recovered(url: str, description: Description) -> Callable[[], bool | NotYet]:
    """A condition: the health check answers healthy and every smoke check passes."""

    def recovered() -> bool | NotYet:
        seen = health(url, description.health)
        if not seen.ok:
            return NotYet(f"the health check: {seen.describe()}")
        failing = [r.line() for r in run_smoke(url, description.smoke) if not r.passed]
        return not failing or NotYet(f"smoke checks failing: {failing}")

    return recovered


def rehearse_profile_failover(
    profile: TargetProfile,
    url: str,
    *,
    description: Description,
    write_seconds: float,
    bound_seconds: float,
    standby: PostgresEndpoint | None = None,
    reaper: Reaper | None = None,
) -> Failover:
    """The rehearsal against the environment `profile` describes, its target at `url`:
    writes for `write_seconds`, the primary failed by `[hooks] fail_primary`, the phases
    timed (the profile's `promote_standby` and `repoint` as theirs, where set; no wait past
    `bound_seconds`), the ledger read back; then `[hooks] restore_primary` (also on every
    other way out) and the writes the failover kept read back once more. `standby`: the
    standby's lag is sampled until the failure. The caller checks `destructive`."""
    path = description.write_path
    if path is None:
        raise ValueError("a failover rehearsal needs the system description's [write_path]")
    steps: list[Step] = [
        (phase, functools.partial(run_hook, profile, hook))
        for hook, phase in PROFILE_STEPS.items()
        if hook in profile.hooks
    ]
    timed_wait(
        answering(url, description.health, healthy=True),
        HEALTHY_DEADLINE_SECONDS,
        f"{profile.describe()}'s target answering healthy before its primary is failed",
    )
    writer = Writer(url, path, rate=WRITE_RATE, deadline_seconds=WRITER_CAP_SECONDS, link=None)
    sampler = LagSampler(standby) if standby is not None else None
    writer.start()
    if sampler is not None:
        sampler.start()
    try:
        time.sleep(write_seconds)
        failed_at = time.time()
        with primary_failed(profile, reaper) as restore:
            lag = sampler.stop() if sampler is not None else []
            phases = _fail_over(
                url,
                description,
                failed_at,
                steps,
                bound_seconds=bound_seconds,
                failed_by=f"[hooks] {FAIL} (is it the primary the target writes to?)",
            )
            smoke = run_smoke(url, description.smoke)
            time.sleep(AFTER_FAILOVER_SECONDS)
            ledger = writer.stop()
            check = check_ledger(url, ledger, path)
            restored_seconds = restore()
    finally:
        if sampler is not None:
            sampler.stop()
        writer.stop()
    back = _after_restore(url, description, check, ledger, restored_seconds)
    lost_window = max((failed_at - write.sent_at for write in _not_kept(check)), default=0.0)
    standby_setting = description.dr.standby
    how = [f"{FAIL} failed it"]
    how += [f"{hook} for {phase}" for hook, phase in PROFILE_STEPS.items() if hook in profile.hooks]
    return Failover(
        standby_setting is not None and standby_setting.synchronous,
        0.0,
        phases,
        lag,
        check,
        max(0.0, lost_window),
        smoke,
        f"the primary of {profile.describe()} ([hooks] {', '.join(how)})",
        back,
    )


def _after_restore(
    url: str, description: Description, check: LedgerCheck, ledger: Ledger, seconds: float
) -> FailBack:
    """After `[hooks] restore_primary` (`seconds`): the target healthy with its smoke
    checks passing, and every write the failover kept still there."""
    path = description.write_path
    assert path is not None
    healthy = timed_wait(
        _recovered(url, description),
        HEALTHY_DEADLINE_SECONDS,
        f"the target healthy, its smoke checks passing, after [hooks] {RESTORE}",
    )
    lost = _not_kept(check)
    kept = Ledger(ledger.run, [write for write in ledger.writes if write not in lost])
    return FailBack(
        seconds,
        {"healthy": healthy},
        check_ledger(url, kept, path),
        run_smoke(url, description.smoke),
        rejoined=f"[hooks] {RESTORE}",
    )

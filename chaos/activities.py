"""Chaos Toolkit activities of the harness (python providers of `scenarios/chaos/*.json`).

Every function takes its arguments by keyword, as Chaos Toolkit passes them, and its
experiment's `configuration` (Chaos Toolkit passes it to any provider that has the
parameter) and keeps what later activities need in the run's
`RunState` (`chaos.context`). Probes that state a claim raise `HypothesisFailedError`
with a one-line reason when it does not hold: Chaos Toolkit records the activity as
failed with that reason in its journal, and the harness fails the experiment on it.

Configuration keys: `api_url`, `run_dir`, `run_id` (unique per run: it names the toxics),
`system` and `system_set` (the system description and its overrides: the workloads the
load activities send, the health check, the write path of the ledger), `toxiproxy_url`,
`proxy_<dependency>` (the proxies carrying the target's traffic), `p95_seconds`,
`dependency_timeout_seconds`, `entity_ids`, `allow_remote_load`, `allowed_faults` (fault
kinds this target allows), and standalone `pid_file_<service>`.
"""

from __future__ import annotations

import functools
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chaos.claims import Claim, judge
from chaos.clock import skewed
from chaos.context import RunState, current, forget, require, state_of
from chaos.disk import accepts_connections, amcheck, disk_faults
from chaos.errors import (
    INVALID_RUN,
    ExperimentError,
    FaultRefusedError,
    FaultSpecError,
    HypothesisFailedError,
)
from chaos.netns import Namespace, partitioned
from chaos.network import ToxicSpec, toxic_fault
from chaos.probes import POLL_SECONDS, Health, healthz
from chaos.process import killed, paused
from chaos.stress import cpu_stress, memory_stress
from fixtures.errors import HarnessError
from fixtures.lifecycle.reaper import signal_tree
from fixtures.providers.toxiproxy import ToxiproxyEndpoint, proxy_disabled
from fixtures.write_ledger import Writer, check_ledger
from load.plan import LoadPlan
from load.result import LoadResult
from load.runner import start_load as start_load_run
from load.traffic import traffic_of
from system.deadline import Deadline, NotYet, WaitTimeoutError, wait_until
from system.description import Description, WritePath
from system.description import Health as HealthSpec
from system.loader import DEFAULT_SYSTEM, load_system

Configuration = Mapping[str, Any]
SETTLE_SECONDS = 2.0  # after a window ends, before it is judged: its requests finish
STEADY_SECONDS = 5.0  # 200 requests at 40/s: a sanity check; the SLO is the load suite's
STEADY_ATTEMPTS = 3  # windows a stalled load generator may spoil before the steady state is invalid
RECOVERY_WINDOW_SECONDS = 2.0
RECOVERY_STEP_SECONDS = 0.5
DEFAULT_TIMEOUT_SECONDS = 1.0


# the steady state ---------------------------------------------------------------------
def healthz_ok(configuration: Configuration) -> bool:
    """The health check answers healthy (every dependency it names fine)."""
    return healthz(require(configuration, "api_url"), _description(configuration).health).ok


def _description(config: Configuration) -> Description:
    """The system description the run's configuration names (the reference's by default)."""
    overrides = tuple(str(item) for item in config.get("system_set") or ())
    return _load_description(str(config.get("system") or DEFAULT_SYSTEM), overrides)


@functools.lru_cache(maxsize=8)
def _load_description(reference: str, overrides: tuple[str, ...]) -> Description:
    return load_system(reference, overrides).description


def load_within_slo(
    scenario: str = "mixed",
    rate: float = 40.0,
    seconds: float = STEADY_SECONDS,
    configuration: Configuration | None = None,
) -> bool:
    """A short open-model run: >= 99 % succeed and P95 below the SLO bound (a sanity
    check of the steady state; the SLO itself is the load suite's to prove).

    True when it holds; `HypothesisFailedError` naming what the target answered when not.
    A window the load generator did not hold (arrivals sent late: a stall of the harness's
    own process on a busy machine) says nothing of the target: it is run again, up to
    `STEADY_ATTEMPTS` windows, and if none is valid the steady state is an invalid run (an
    error of the harness), never the target's failure."""
    config = configuration or {}
    plan = _plan(config, scenario, rate, seconds)
    for _ in range(STEADY_ATTEMPTS):
        run_dir = Path(require(config, "run_dir")) / f"steady-{time.time_ns()}"
        with start_load_run(plan, run_dir, reaper=current().reaper) as load:
            result = load.wait()
        problem = result.generator.problem()
        if problem is None:
            break
    else:
        raise ExperimentError(
            f"{INVALID_RUN}: the steady state could not be measured in {STEADY_ATTEMPTS} "
            f"windows of {seconds:g} s: {problem}"
        )
    bound = _bound(config)
    if result.requests > 0 and result.errors <= 0.01 * result.requests and result.p95 < bound:
        return True
    raise HypothesisFailedError(
        f"not within the SLO (>= 99 % succeeding, P95 < {bound:g} s): {result.summary()}"
        + _error_kinds(result)
    )


def _error_kinds(result: LoadResult) -> str:
    kinds = ", ".join(f"{kind}: {count}" for kind, count in result.error_kinds.items())
    return f"; errors by kind: {kinds}" if kinds else ""


# load during the experiment -------------------------------------------------------------
def start_load(
    scenario: str = "mixed",
    rate: float = 40.0,
    seconds: float = 120.0,
    configuration: Configuration | None = None,
) -> dict[str, Any]:
    """Open-model load in the background for at most `seconds` (stopped by `stop_load`)."""
    config = configuration or {}
    state = state_of(config)
    if state.load is not None:
        raise ExperimentError("start_load: this run already has its load; stop_load first")
    plan = _plan(config, scenario, rate, seconds)
    state.load = start_load_run(plan, state.run_dir / "load", reaper=current().reaper)
    started = state.load.wait_started().started_at
    state.marks["load_on"] = started
    return {"plan": plan.describe(), "started_at": started}


def stop_load(configuration: Configuration | None = None) -> dict[str, Any]:
    """End the background load (idempotent: a rollback calls it too)."""
    state = state_of(configuration or {})
    load, state.load = state.load, None
    if load is None:
        return {"stopped": False}
    try:
        load.stop()
        result = load.wait()
    finally:
        load.close()
    return {"stopped": True, "summary": result.summary()}


def _plan(config: Configuration, scenario: str, rate: float, seconds: float) -> LoadPlan:
    """`scenario` is a workload of the system description: what the load sends."""
    description = _description(config)
    if scenario not in description.workloads:
        known = ", ".join(description.workloads) or "none"
        raise ExperimentError(
            f"load scenario {scenario!r} is not a workload of the system description "
            f"{description.name} (its workloads: {known})"
        )
    ids = config.get("entity_ids") or None
    return LoadPlan(
        scenario=scenario,
        base_url=require(config, "api_url"),
        duration_seconds=float(seconds),
        rate_per_second=float(rate),
        traffic=traffic_of(description, scenario).with_ids(ids and str(ids), None),
        allow_remote=bool(config.get("allow_remote_load", False)),
        latency_bound_seconds=_bound(config),
    )


def _bound(config: Configuration) -> float:
    return float(config.get("p95_seconds") or 1.5)


# faults -------------------------------------------------------------------------------
def add_toxic(
    *,
    dependency: str,
    type: str,
    attributes: Mapping[str, Any] | None = None,
    stream: str = "downstream",
    toxicity: float = 1.0,
    configuration: Configuration | None = None,
) -> dict[str, Any]:
    """A toxic on the proxy between the target and `dependency`, until `remove_faults`."""
    config = configuration or {}
    spec = ToxicSpec.of(type, stream=stream, toxicity=toxicity, **dict(attributes or {}))
    slowing = type in ("latency", "bandwidth", "slicer")
    _allowed(config, "s3" if dependency == "s3" else "latency" if slowing else "partition")
    state = state_of(config)
    name = state.faults.enter_context(
        toxic_fault(
            _toxiproxy(config),
            _proxy(config, dependency),
            spec,
            run_id=require(config, "run_id"),
            reaper=current().reaper,
        )
    )
    state.fault_names.append(name)
    return {"toxic": name, "spec": spec.describe(), "at": state.mark("fault_on")}


def disable_proxy(dependency: str, configuration: Configuration | None = None) -> dict[str, Any]:
    """Take down the proxy to `dependency`: new connections refused, existing ones dropped."""
    config = configuration or {}
    _allowed(config, "partition")
    state = state_of(config)
    proxy = _proxy(config, dependency)
    state.faults.enter_context(proxy_disabled(_toxiproxy(config), proxy, reaper=current().reaper))
    state.fault_names.append(f"disabled {proxy}")
    return {"disabled": proxy, "at": state.mark("fault_on")}


CUTS = ("blackhole", "reset", "refused", "partition")


def cut_dependency(
    *, dependency: str, how: str = "blackhole", configuration: Configuration | None = None
) -> dict[str, Any]:
    """Make `dependency` unreachable for the target, one of four ways:

    - blackhole: Toxiproxy `timeout` toxic, data stops, connections stay open;
    - reset: Toxiproxy `reset_peer`, every connection reset (TCP RST);
    - refused: the proxy disabled, new connections refused, existing ones dropped;
    - partition: packets dropped below TCP inside the target's network namespace.
    """
    config = configuration or {}
    if how == "blackhole":
        return add_toxic(dependency=dependency, type="timeout", attributes={"timeout": 0},
                         configuration=config)  # fmt: skip
    if how == "reset":
        return add_toxic(dependency=dependency, type="reset_peer", attributes={"timeout": 0},
                         configuration=config)  # fmt: skip
    if how == "refused":
        return disable_proxy(dependency, configuration=config)
    if how == "partition":
        return partition(dependency, configuration=config)
    raise FaultSpecError(f"cut_dependency: how={how!r} is not one of {', '.join(CUTS)}")


def partition(dependency: str, configuration: Configuration | None = None) -> dict[str, Any]:
    """Drop every packet between the target and `dependency`'s proxy (its namespace only)."""
    config = configuration or {}
    _allowed(config, "partition")
    state = state_of(config)
    name = require(config, "namespace")
    place = current().extras.get("namespace")
    if place is None and config.get("namespace_host_ip"):  # standalone: the stack command's
        place = Namespace(name, str(config["namespace_host_ip"]), "", "", "")
    if place is None or place.name != name:
        raise FaultRefusedError(
            f"partition: the target's namespace {name} is not one this run made; a true "
            "partition is only for a target the harness runs in a namespace of its own"
        )
    with _toxiproxy(config).client() as client:
        port = client.get_proxy(_proxy(config, dependency)).listen_port
    state.faults.enter_context(partitioned(place, port, reaper=current().reaper))
    state.fault_names.append(f"partitioned {dependency}")
    return {"partitioned": dependency, "port": port, "at": state.mark("fault_on")}


def fail_disk_io(
    *,
    probability: float = 0.1,
    error: int = 5,
    ops: str = "w",
    configuration: Configuration | None = None,
) -> dict[str, Any]:
    """That share of Postgres's disk I/O calls fail with `error` (5 = EIO) until removed."""
    config = configuration or {}
    _allowed(config, "disk", destructive=True)
    state = state_of(config)
    control = Path(require(config, "iofault_file"))
    spec = state.faults.enter_context(disk_faults(control, probability, error, ops))
    state.fault_names.append(f"disk I/O {spec}")
    return {"disk": spec, "at": state.mark("fault_on")}


def stress_cpu(
    *, service: str = "api", load: int = 80, configuration: Configuration | None = None
) -> dict[str, Any]:
    """Keep `service`'s CPUs `load` % busy until removed."""
    config = configuration or {}
    _allowed(config, "cpu", destructive=True)
    state = state_of(config)
    report = state.faults.enter_context(
        cpu_stress(_pid(config, service), load, reaper=current().reaper)
    )
    state.fault_names.append(f"cpu stress {load}%")
    return {"stress": report.describe(), "at": state.mark("fault_on")}


def stress_memory(
    *, service: str = "api", megabytes: int = 1024, configuration: Configuration | None = None
) -> dict[str, Any]:
    """`megabytes` held next to `service`, within one memory limit, until removed."""
    config = configuration or {}
    _allowed(config, "memory", destructive=True)
    state = state_of(config)
    report = state.faults.enter_context(
        memory_stress(_pid(config, service), megabytes, reaper=current().reaper)
    )
    state.fault_names.append(f"memory stress {megabytes} MB")
    state.measures["memory_stress"] = report
    return {"stress": report.describe(), "at": state.mark("fault_on")}


def skew_clock(
    *, offset: str = "-10m", configuration: Configuration | None = None
) -> dict[str, Any]:
    """The target's wall clock off by `offset` until removed (libfaketime)."""
    config = configuration or {}
    _allowed(config, "clock", destructive=True)
    state = state_of(config)
    state.faults.enter_context(skewed(Path(require(config, "clock_file")), offset))
    state.fault_names.append(f"clock {offset}")
    return {"clock": offset, "at": state.mark("fault_on")}


def _pid(config: Configuration, service: str) -> int:
    running = current().services.get(service)
    if running is not None and running.process is not None:
        return running.process.pid
    return _pgid(config, service)


def kill_service(service: str, configuration: Configuration | None = None) -> dict[str, Any]:
    """SIGKILL `service` (a pod kill); its provider restarts it as an orchestrator would."""
    config = configuration or {}
    _allowed(config, "kill", destructive=True)
    state = state_of(config)
    running = current().services.get(service)
    if running is not None:
        state.faults.enter_context(killed(running))
    else:
        signal_tree(_pgid(config, service), signal.SIGKILL)  # the stack command restarts it
    state.fault_names.append(f"killed {service}")
    return {"killed": service, "at": state.mark("fault_on")}


def pause_service(service: str, configuration: Configuration | None = None) -> dict[str, Any]:
    """SIGSTOP `service` until `remove_faults` (SIGCONT)."""
    config = configuration or {}
    _allowed(config, "pause", destructive=True)
    state = state_of(config)
    running = current().services.get(service)
    if running is not None:
        state.faults.enter_context(paused(running))
    else:
        pid = _pgid(config, service)
        signal_tree(pid, signal.SIGSTOP)
        state.faults.callback(signal_tree, pid, signal.SIGCONT)
    state.fault_names.append(f"paused {service}")
    return {"paused": service, "at": state.mark("fault_on")}


def remove_faults(configuration: Configuration | None = None) -> dict[str, Any]:
    """Undo every fault of the run, newest first (idempotent: rollbacks call it too)."""
    state = state_of(configuration or {})
    removed, state.fault_names = state.fault_names, []
    state.faults.close()
    if removed:
        state.mark("fault_off")
    return {"removed": removed}


def _allowed(config: Configuration, kind: str, *, destructive: bool = False) -> None:
    allowed = config.get("allowed_faults")
    if allowed is not None and kind not in allowed:
        raise FaultRefusedError(
            f"{kind} faults are not allowed against this target (allowed: "
            f"{', '.join(allowed) or 'none'}); add it to [chaos] allow in its profile"
        )
    if destructive and config.get("destructive") is False:
        raise FaultRefusedError(
            f"{kind} is destructive and this target's profile does not set destructive = true"
        )


def _toxiproxy(config: Configuration) -> ToxiproxyEndpoint:
    url = require(config, "toxiproxy_url")
    host, _, port = url.removeprefix("http://").rstrip("/").rpartition(":")
    return ToxiproxyEndpoint(host.strip("[]"), int(port))


def _proxy(config: Configuration, dependency: str) -> str:
    return require(config, f"proxy_{dependency}")


def _pgid(config: Configuration, service: str) -> int:
    path = Path(require(config, f"pid_file_{service}"))
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        raise ExperimentError(f"pid file {path} of {service} is unreadable") from None


# claims during and after the fault ----------------------------------------------------
def expect_during_fault(
    *,
    min_success: float | None = None,
    max_success: float | None = None,
    p95_below: float | None = None,
    max_latency_below: float | None = None,
    routes: Sequence[str] = (),
    grace_seconds: float = 1.0,
    configuration: Configuration | None = None,
) -> dict[str, Any]:
    """The requests intended since the fault began (after `grace_seconds`) meet the claim.

    `max_latency_below` may be the string "timeout+1": the target's dependency timeout
    plus one second, the bound of a target that fails fast.
    """
    config = configuration or {}
    state = state_of(config)
    claim = Claim(
        min_success=min_success,
        max_success=max_success,
        p95_below=p95_below,
        max_latency_below=_seconds(max_latency_below, config),
        routes=tuple(routes),
    )
    measures = _judge_window(state, claim, state.since("fault_on") + grace_seconds, "during")
    # the success claim is the experiment's headline ("> 95 % succeed under the fault")
    key = "during" if min_success is not None or "during" not in state.measures else "during_other"
    state.measures[key] = measures
    return measures


def _judge_window(state: RunState, claim: Claim, since: float, label: str) -> dict[str, Any]:
    if state.load is None:
        raise ExperimentError(f"{label}: no load is running (start_load comes first)")
    until = time.time()
    wait = SETTLE_SECONDS if claim.max_latency_below is None else claim.max_latency_below
    time.sleep(wait)
    result = state.load.result(since=since, until=until)
    return judge(result, claim, f"{label} the fault, {until - since:.1f} s of load")


def _seconds(value: float | str | None, config: Configuration) -> float | None:
    if value is None or isinstance(value, int | float):
        return value
    if value == "timeout+1":
        return float(config.get("dependency_timeout_seconds") or DEFAULT_TIMEOUT_SECONDS) + 1.0
    raise ExperimentError(f"max_latency_below {value!r}: give seconds or 'timeout+1'")


def expect_healthz_failing(
    dependency: str, within_seconds: float = 2.0, configuration: Configuration | None = None
) -> dict[str, Any]:
    """The health check answers unhealthy naming `dependency` within `within_seconds` of the
    fault. Skipped (said so in the measures) when the description's `[health]` does not
    say where its body names each dependency: never guessed."""
    config = configuration or {}
    state = state_of(config)
    api = require(config, "api_url")
    spec = _description(config).health
    if spec.dependencies is None:
        reason = (
            f"the health check naming {dependency} is not checked: the system description's "
            "[health] has no 'dependencies' key"
        )
        state.measures.setdefault("skipped", []).append(reason)
        return {"skipped": reason}
    started = state.since("fault_on")

    def names_it() -> Health | NotYet:
        health = healthz(api, spec)
        named = health.status != spec.status and dependency in (health.failing() or [])
        return health if named else NotYet(health.describe())

    # the bound counts from the fault (a wall-clock mark): what is left of it, monotonic
    deadline = Deadline(max(0.0, started + within_seconds - time.time()))
    what = f"{spec.path} answering unhealthy naming {dependency}"
    try:
        seen = deadline.wait(names_it, what=what, interval=POLL_SECONDS)
    except WaitTimeoutError as timeout:
        raise HypothesisFailedError(
            f"{spec.path} did not answer unhealthy naming {dependency} within "
            f"{within_seconds:g} s of the fault; it answered {timeout.seen}"
        ) from None
    detected = time.time() - started
    state.measures["time_to_detect_seconds"] = detected
    return {"time_to_detect_seconds": detected, "healthz": seen.describe()}


def expect_recovery(
    within_seconds: float = 30.0,
    from_mark: str = "fault_off",
    configuration: Configuration | None = None,
) -> dict[str, Any]:
    """Back to steady state within `within_seconds` of `from_mark`: the health check ok and
    a window of load in which every request succeeded under the P95 bound."""
    config = configuration or {}
    state = state_of(config)
    api, bound = require(config, "api_url"), _bound(config)
    state.measures["recovery_bound_seconds"] = float(within_seconds)
    origin = state.since(from_mark)
    window = origin
    last = "no window judged"
    while window + RECOVERY_WINDOW_SECONDS <= origin + within_seconds + RECOVERY_WINDOW_SECONDS:
        ready_at = window + RECOVERY_WINDOW_SECONDS + SETTLE_SECONDS
        time.sleep(max(0.0, ready_at - time.time()))
        good, last = _steady(state, api, window, bound, _description(config).health)
        if good:
            recovered = max(0.0, window - origin)
            state.measures["time_to_recover_seconds"] = recovered
            return {"time_to_recover_seconds": recovered, "from": from_mark}
        window += RECOVERY_STEP_SECONDS
    raise HypothesisFailedError(
        f"not back to steady state within {within_seconds:g} s of {from_mark.replace('_', ' ')}: "
        f"{last}"
    )


def _steady(
    state: RunState, api: str, since: float, bound: float, spec: HealthSpec
) -> tuple[bool, str]:
    if state.load is None:
        raise ExperimentError("expect_recovery: no load is running (start_load comes first)")
    result = state.load.result(since=since, until=since + RECOVERY_WINDOW_SECONDS)
    if result.requests == 0 or result.errors or result.pending or result.p95 >= bound:
        return False, f"last window: {result.summary()}, errors {dict(result.error_kinds)}"
    health = healthz(api, spec)
    return health.ok, f"{spec.path} {health.describe()}"


def wait_restarted(
    service: str, within_seconds: float = 60.0, configuration: Configuration | None = None
) -> dict[str, Any]:
    """Until the killed `service` answers again (its provider restarted it)."""
    state = state_of(configuration or {})
    remove_faults(configuration)  # for a kill: waits for the restart, marks fault_off
    took = state.since("fault_off") - state.since("fault_on")
    if took > within_seconds:
        raise HypothesisFailedError(
            f"{service} took {took:.1f} s to restart, > {within_seconds:g} s"
        )
    return {"restarted_after_seconds": took}


def expect_postgres_intact(
    within_seconds: float = 90.0, configuration: Configuration | None = None
) -> dict[str, Any]:
    """No corruption: once Postgres answers again (its supervisor may be restarting it),
    `pg_amcheck` (heap and every index, data checksums on) finds nothing."""
    running = current().services.get("postgres")
    if running is None:
        raise ExperimentError("expect_postgres_intact needs the Postgres the harness started")
    try:
        wait_until(
            lambda: accepts_connections(running.endpoint),
            seconds=within_seconds,
            what="Postgres accepting connections",
            interval=0.5,
        )
    except WaitTimeoutError:
        raise HypothesisFailedError(
            f"Postgres did not accept connections within {within_seconds:g} s"
        ) from None
    report = amcheck(running.endpoint)
    if not report.ok:
        raise HypothesisFailedError(f"pg_amcheck found corruption: {report.output}")
    return {"pg_amcheck": "no corruption found", "checked": report.checked}


# the backup pipeline ----------------------------------------------------------------------
def _archive() -> Any:
    archive = current().extras.get("archive")
    if archive is None:
        raise ExperimentError(
            "this experiment needs the archive under faults (chaos.archive), which only a "
            "local run starts"
        )
    return archive


def archive_healthy(configuration: Configuration | None = None) -> bool:
    """A WAL segment closed now reaches the archive within 30 s."""
    try:
        _archive().catch_up(30.0)
    except HarnessError:
        return False
    return True


def start_archive_writes(configuration: Configuration | None = None) -> dict[str, Any]:
    """Commit rows on the archiving primary in the background (WAL for the archive)."""
    archive = _archive()
    state = state_of(configuration or {})
    archiver = archive.archiver()
    state.measures["archive_before"] = {"injected": archive.faults.injected, **archiver}
    archive.writer.start()
    state.faults.callback(archive.writer.stop)
    return {"archiver": archiver}


def fail_s3(*, share: float = 0.5, configuration: Configuration | None = None) -> dict[str, Any]:
    """That share of the archive's S3 requests answered 503 SlowDown until removed."""
    config = configuration or {}
    _allowed(config, "s3")
    state = state_of(config)
    archive = _archive()
    state.faults.enter_context(archive.faults.errors(share))
    state.fault_names.append(f"S3 503 SlowDown for {share:.0%}")
    return {"share": share, "at": state.mark("fault_on"), "archiver": archive.archiver()}


def expect_archive_catches_up(
    *, rpo_seconds: float = 300.0, configuration: Configuration | None = None
) -> dict[str, Any]:
    """After the fault: the WAL written during it is archived, and the oldest write of the
    fault waited less than the RPO bound (fault length + catch-up time)."""
    state = state_of(configuration or {})
    archive = _archive()
    fault_seconds = state.since("fault_off") - state.since("fault_on")
    try:
        caught_up = archive.catch_up(rpo_seconds)
    except HarnessError as error:
        raise HypothesisFailedError(f"the archive did not catch up: {error}") from None
    exposure = fault_seconds + caught_up
    archiver = archive.archiver()
    before = state.measures.get("archive_before", {"injected": 0, "failed": 0, "archived": 0})
    measures = {
        "catch_up_seconds": caught_up,
        "exposure_seconds": exposure,
        "archived_segments": archiver["archived"] - before["archived"],
        "archive_failures": archiver["failed"] - before["failed"],
        "injected": archive.faults.injected - before["injected"],
        "rpo_bound_seconds": float(rpo_seconds),
    }
    state.measures["archive"] = measures
    state.measures["time_to_recover_seconds"] = caught_up
    if exposure > rpo_seconds:
        raise HypothesisFailedError(
            f"writes waited {exposure:.1f} s to be archived (fault {fault_seconds:.1f} s + "
            f"catch-up {caught_up:.1f} s), more than the RPO bound of {rpo_seconds:g} s"
        )
    return measures


# the write ledger ----------------------------------------------------------------------
def start_writer(rate: float = 5.0, configuration: Configuration | None = None) -> dict[str, Any]:
    """Write records in the background (the description's `[write_path]`) and keep a ledger
    of every outcome."""
    config = configuration or {}
    state = state_of(config)
    path = _write_path(config)
    link = _first_id(config)
    run = require(config, "run_id")
    state.writer = Writer(require(config, "api_url"), path, rate=rate, run=run, link=link)
    state.writer.start()
    return {"rate": rate}


def stop_writer(configuration: Configuration | None = None) -> dict[str, Any]:
    state = state_of(configuration or {})
    writer, state.writer = state.writer, None
    if writer is None:
        return {"stopped": False}
    state.ledger = writer.stop()
    return {"stopped": True, "outcomes": state.ledger.counts()}


def expect_no_write_lost(configuration: Configuration | None = None) -> dict[str, Any]:
    """Every acknowledged write is readable with its content (Jepsen's set check)."""
    config = configuration or {}
    state = state_of(config)
    if state.ledger is None:
        stop_writer(config)
    if state.ledger is None:
        raise ExperimentError("expect_no_write_lost: no writer ran (start_writer comes first)")
    check = check_ledger(require(config, "api_url"), state.ledger, _write_path(config))
    state.measures["writes"] = check.counts
    state.measures["writes_not_kept"] = len(check.lost) + len(check.changed) + len(check.duplicated)
    if not check.ok:
        raise HypothesisFailedError(check.describe())
    return {"writes": check.counts, "result": check.describe()}


def _write_path(config: Configuration) -> WritePath:
    description = _description(config)
    if description.write_path is None:
        raise ExperimentError(
            f"the system description {description.name} has no [write_path]: the lost-write "
            "ledger cannot write (add create, json, read and compare)"
        )
    return description.write_path


def _first_id(config: Configuration) -> int | None:
    """An existing record to link writes to: the first of the profile's (or seeded) ids."""
    spec = str(config.get("entity_ids") or "")
    first = spec.split(",", 1)[0].split("-", 1)[0].strip()
    return int(first) if first.isdigit() else None


# the end --------------------------------------------------------------------------------
def finish(configuration: Configuration | None = None) -> dict[str, Any]:
    """Rollback of last resort: faults removed, writer and load stopped, state dropped."""
    config = configuration or {}
    try:
        remove_faults(config)
    finally:
        try:
            stop_writer(config)
        finally:
            stop_load(config)
    state = forget(config)
    return {} if state is None else {"measures": state.measures}

"""What one load run does, checked before anything is sent.

A `LoadPlan` is frozen and validated on construction: an invalid plan raises
`LoadPlanError` with one line naming the value, the bound and the fix, and so never
reaches the load child. The child checks the plan again when it reads it back.

What each arrival sends is the plan's `traffic` (`load.traffic`): a workload of a system
description, a Locust file or a declarative request mix; `scenario` is the workload's
name in records and reports. A Locust file is never imported here: importing Locust
patches the process.
"""

from __future__ import annotations

import ipaddress
import json
import math
import subprocess
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from load.errors import LoadPlanError
from load.traffic import Traffic

# A cap that catches a typo (hours for seconds), not a policy: a 20-minute workload is
# legal, a day of load from a test is not.
DEFAULT_MAX_DURATION_SECONDS = 4 * 3600.0
DEFAULT_SEND_TOLERANCE_SECONDS = 0.05
# A stall of the generator (a GC pause, a busy CPU) may drop a few arrivals: 1 % less load
# is still the planned load, more is not.
DEFAULT_MAX_DROPPED_RATIO = 0.01
DEFAULT_LATENCY_BOUND_SECONDS = 1.5
# Little's law: in flight = rate x time in system. The default cap lets the mean time in
# system reach this many latency bounds before arrivals are dropped.
IN_FLIGHT_HEADROOM = 4.0
MIN_IN_FLIGHT, MAX_DEFAULT_IN_FLIGHT = 16, 2_000
LOOPBACK_NAMES = frozenset({"localhost", "localhost."})
HARNESS_NAMESPACES = ipaddress.ip_network("10.213.0.0/16")  # chaos.netns


@dataclass(frozen=True)
class LoadPlan:
    """One load run.

    Open model (`rate_per_second` set, `load.pacing`): arrivals at a constant rate, each
    handed at its intended time to a free VU of a pool of `max_in_flight` (default sized
    from the rate and `latency_bound_seconds`, `default_max_in_flight`); latency from the
    intended time; an arrival the generator cannot send within `send_tolerance_seconds`
    is dropped and counted apart, never against the target (more than `max_dropped_ratio`
    of them make the run invalid).
    Closed model (`rate_per_second` None): `users` users, each sending as soon as its
    previous request ends; `spawn_rate` users started per second (default all at once).
    `processes` load processes share the rate and the VUs (like k6's execution segments).
    """

    scenario: str
    base_url: str
    duration_seconds: float
    traffic: Traffic = field(kw_only=True)
    rate_per_second: float | None = None
    max_in_flight: int | None = None
    users: int | None = None
    spawn_rate: float | None = None
    processes: int = 1
    seed: int = 0
    allow_remote: bool = False
    max_duration_seconds: float = DEFAULT_MAX_DURATION_SECONDS
    send_tolerance_seconds: float = DEFAULT_SEND_TOLERANCE_SECONDS
    max_dropped_ratio: float = DEFAULT_MAX_DROPPED_RATIO
    latency_bound_seconds: float = DEFAULT_LATENCY_BOUND_SECONDS

    def __post_init__(self) -> None:
        if not isinstance(self.scenario, str) or not self.scenario:
            raise LoadPlanError(f"load plan: scenario={self.scenario!r} must name the workload")
        if not isinstance(self.traffic, Traffic):
            raise LoadPlanError("load plan: traffic must be a load.traffic.Traffic")
        self._check_base_url()
        self._check_duration()
        if self.rate_per_second is None:
            self._check_closed()
        else:
            self._check_open()
        _require_int("processes", self.processes, 1, "give at least one load process")
        if self.processes > self.vus:
            raise LoadPlanError(
                f"load plan: processes={self.processes} > {self.vus} VUs: every load process "
                "needs at least one; lower processes or raise max_in_flight / users"
            )
        _require_int("seed", self.seed, None, "give an integer seed")

    @property
    def open_model(self) -> bool:
        return self.rate_per_second is not None

    @property
    def vus(self) -> int:
        """Virtual users in all processes: the in-flight cap (open) or the users (closed)."""
        if self.rate_per_second is None:
            assert self.users is not None
            return self.users
        if self.max_in_flight is not None:
            return self.max_in_flight
        return default_max_in_flight(self.rate_per_second, self.latency_bound_seconds)

    def vus_of(self, process: int) -> int:
        """VUs of process `process` (0-based): an even split, the first ones take the rest."""
        share, rest = divmod(self.vus, self.processes)
        return share + (1 if process < rest else 0)

    def rate_of(self, process: int) -> float | None:
        """The arrival rate of one process: its share of the VUs' share of the rate."""
        if self.rate_per_second is None:
            return None
        return self.rate_per_second * self.vus_of(process) / self.vus

    @property
    def effective_spawn_rate(self) -> float:
        """Users started per second; by default all at once (one dispatch batch)."""
        return float(self.vus) if self.spawn_rate is None else self.spawn_rate

    @property
    def ramp_seconds(self) -> float:
        return self.vus / self.effective_spawn_rate

    def describe(self) -> str:
        """One line: the model, its rate or users, the cap, the length."""
        if self.rate_per_second is None:
            return f"closed model, {self.users} users, {self.duration_seconds:g} s"
        return (
            f"open model, {self.rate_per_second:g}/s, up to {self.vus} in flight, "
            f"{self.duration_seconds:g} s, {self.processes} load process"
            + ("es" if self.processes > 1 else "")
        )

    def to_json(self) -> str:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["traffic"] = self.traffic.to_json()
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LoadPlan:
        """Read a plan written by `to_json`; a malformed file is a `LoadPlanError`."""
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as error:
            raise LoadPlanError(
                f"load plan: not valid JSON ({error}); write it with to_json"
            ) from None
        if not isinstance(data, dict):
            raise LoadPlanError("load plan: expected a JSON object; write it with LoadPlan.to_json")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise LoadPlanError(
                f"load plan: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        if not isinstance(data.get("traffic"), dict):
            raise LoadPlanError("load plan: no traffic object; write it with LoadPlan.to_json")
        data["traffic"] = Traffic.from_json(data["traffic"])
        try:
            return cls(**data)
        except TypeError as error:
            raise LoadPlanError(f"load plan: {error}; write it with LoadPlan.to_json") from None

    def _check_base_url(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LoadPlanError(
                f"load plan: base_url {self.base_url!r} is not an http(s) URL with a host; "
                "give e.g. 'http://127.0.0.1:8000'"
            )
        if not self.allow_remote and not is_local(parts.hostname):
            raise LoadPlanError(
                f"load plan: base_url {self.base_url!r} is not on this machine "
                "(allowed: 127.0.0.0/8, ::1, localhost, the harness's own network "
                "namespaces); local runs send traffic to loopback only: point it at "
                "127.0.0.1, or pass allow_remote=True for a shared target"
            )

    def _check_duration(self) -> None:
        _require_positive("max_duration_seconds", self.max_duration_seconds, "give a positive cap")
        _require_positive("duration_seconds", self.duration_seconds, "give a positive duration")
        if self.duration_seconds > self.max_duration_seconds:
            raise LoadPlanError(
                f"load plan: duration_seconds={self.duration_seconds:g} exceeds the cap of "
                f"{self.max_duration_seconds:g} s; shorten the run or raise max_duration_seconds"
            )

    def _check_open(self) -> None:
        _require_positive(
            "rate_per_second",
            self.rate_per_second,
            "give a positive arrival rate in requests/s, or None for the closed model",
        )
        for name in ("users", "spawn_rate"):
            if getattr(self, name) is not None:
                raise LoadPlanError(
                    f"load plan: {name} is for the closed model; with rate_per_second the "
                    "concurrency follows from the rate (give max_in_flight to cap it)"
                )
        if self.max_in_flight is not None:
            _require_int("max_in_flight", self.max_in_flight, 1, "give the in-flight cap (VUs)")
        _require_positive(
            "send_tolerance_seconds", self.send_tolerance_seconds, "give a positive tolerance"
        )
        _require_positive(
            "latency_bound_seconds", self.latency_bound_seconds, "give the SLO's latency bound"
        )
        ratio = self.max_dropped_ratio
        if not isinstance(ratio, int | float) or isinstance(ratio, bool) or not 0 <= ratio < 1:
            raise LoadPlanError(
                f"load plan: max_dropped_ratio={ratio!r} must be in [0, 1): the share of "
                "arrivals the generator may drop before a run is invalid"
            )

    def _check_closed(self) -> None:
        _require_int("users", self.users, 1, "give at least one user, or a rate_per_second")
        if self.max_in_flight is not None:
            raise LoadPlanError(
                "load plan: max_in_flight caps the open model; the closed model's "
                "concurrency is users"
            )
        if self.spawn_rate is not None:
            _require_positive("spawn_rate", self.spawn_rate, "give users started per second")


def default_max_in_flight(rate: float, latency_bound: float) -> int:
    """The default VU pool: rate x bound x `IN_FLIGHT_HEADROOM`, within [16, 2000].

    A target whose requests take on average 4x the bound fills it; such a target fails its
    latency gate even when the arrivals dropped meanwhile are counted as instant successes.
    """
    wanted = math.ceil(rate * latency_bound * IN_FLIGHT_HEADROOM)
    return min(MAX_DEFAULT_IN_FLIGHT, max(MIN_IN_FLIGHT, wanted))


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (names other than localhost are not resolved)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_local(host: str) -> bool:
    """Loopback, or the address of a network namespace the harness made (`chaos.netns`)."""
    return is_loopback(host) or in_harness_namespace(host)


def in_harness_namespace(host: str) -> bool:
    """True for an address of a subnet on one of this machine's harness veth ends (`rhv…`:
    10.213.K.1/30 of a namespace, 10.213.K.x/24 of a LAN of namespaces, `chaos.netns`)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if address not in HARNESS_NAMESPACES:
        return False
    try:
        listing = subprocess.run(
            ["ip", "-o", "-4", "addr", "show"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    for line in listing.splitlines():
        words = line.split()
        on_veth = len(words) > 3 and words[1].startswith("rhv") and "/" in words[3]
        if on_veth and address in ipaddress.ip_interface(words[3]).network:
            return True
    return False


def _require_positive(name: str, value: object, fix: str) -> None:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or number <= 0:
        raise LoadPlanError(f"load plan: {name}={value!r} must be a number > 0; {fix}")


def _require_int(name: str, value: object, minimum: int | None, fix: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise LoadPlanError(f"load plan: {name}={value!r} must be an integer; {fix}")
    if minimum is not None and value < minimum:
        raise LoadPlanError(f"load plan: {name}={value!r} must be >= {minimum}; {fix}")

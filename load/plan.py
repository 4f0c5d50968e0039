"""What one load run does, checked before anything is sent.

A `LoadPlan` is frozen and validated on construction: an invalid plan raises
`LoadPlanError` with one line naming the value, the bound and the fix, and so never
reaches the load child. The child checks the plan again when it reads it back.

Scenarios are the locustfiles in `scenarios/load/` (a file `name.py` is the scenario
`name`; files starting with `_` are helpers). They are found by file name, without
importing them: importing a locustfile imports Locust, which patches the process.
"""

from __future__ import annotations

import ipaddress
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from load.errors import LoadPlanError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIOS_DIR = REPO_ROOT / "scenarios" / "load"
DEFAULT_MAX_DURATION_SECONDS = 600.0
DEFAULT_ENTITY_COUNT = 10_000
LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def discover_scenarios(directory: Path = DEFAULT_SCENARIOS_DIR) -> dict[str, Path]:
    """Scenario name -> locustfile, for every `*.py` in `directory` not starting with `_`."""
    if not directory.is_dir():
        return {}
    return {
        path.stem: path for path in sorted(directory.glob("*.py")) if not path.name.startswith("_")
    }


@dataclass(frozen=True)
class LoadPlan:
    """One load run.

    `rate_per_second` set: the open model, a constant arrival rate shared by all users,
    latency measured from each request's intended send time (`load.pacing`). `None`: the
    closed model, each user sends as soon as its previous request ends.
    `users` caps the concurrency in both models; `spawn_rate` is users started per second
    (default: `users`, which Locust dispatches as one batch: all users start at once).
    `processes` > 0 runs Locust's master with that many local worker processes; 0 runs
    everything in one child process.
    """

    scenario: str
    base_url: str
    users: int
    duration_seconds: float
    rate_per_second: float | None = None
    spawn_rate: float | None = None
    processes: int = 0
    seed: int = 0
    entity_count: int = DEFAULT_ENTITY_COUNT
    allow_remote: bool = False
    max_duration_seconds: float = DEFAULT_MAX_DURATION_SECONDS
    scenarios_dir: Path = field(default=DEFAULT_SCENARIOS_DIR)

    def __post_init__(self) -> None:
        self._check_scenario()
        self._check_base_url()
        _require_int("users", self.users, 1, "give at least one user (the concurrency cap)")
        self._check_duration()
        if self.rate_per_second is not None:
            _require_positive(
                "rate_per_second",
                self.rate_per_second,
                "give a positive arrival rate in requests/s, or None for the closed model",
            )
        if self.spawn_rate is not None:
            _require_positive("spawn_rate", self.spawn_rate, "give users started per second")
        self._check_processes()
        _require_int("entity_count", self.entity_count, 1, "seed at least one entity")
        _require_int("seed", self.seed, None, "give an integer seed")

    @property
    def open_model(self) -> bool:
        return self.rate_per_second is not None

    @property
    def effective_spawn_rate(self) -> float:
        """Users started per second; by default all users at once (one dispatch batch)."""
        return float(self.users) if self.spawn_rate is None else self.spawn_rate

    @property
    def ramp_seconds(self) -> float:
        return self.users / self.effective_spawn_rate

    @property
    def locustfile(self) -> Path:
        return discover_scenarios(self.scenarios_dir)[self.scenario]

    def to_json(self) -> str:
        data = asdict(self)
        data["scenarios_dir"] = str(self.scenarios_dir)
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
        if "scenarios_dir" in data:
            data["scenarios_dir"] = Path(data["scenarios_dir"])
        try:
            return cls(**data)
        except TypeError as error:
            raise LoadPlanError(f"load plan: {error}; write it with LoadPlan.to_json") from None

    def _check_scenario(self) -> None:
        known = discover_scenarios(self.scenarios_dir)
        if self.scenario not in known:
            names = ", ".join(known) or "none"
            raise LoadPlanError(
                f"load plan: scenario {self.scenario!r} is not one of {names} "
                f"(locustfiles in {self.scenarios_dir}); pick one of them "
                f"or add {self.scenarios_dir / (str(self.scenario) + '.py')}"
            )

    def _check_base_url(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LoadPlanError(
                f"load plan: base_url {self.base_url!r} is not an http(s) URL with a host; "
                "give e.g. 'http://127.0.0.1:8000'"
            )
        if not self.allow_remote and not is_loopback(parts.hostname):
            raise LoadPlanError(
                f"load plan: base_url {self.base_url!r} is not on this machine "
                "(allowed: 127.0.0.0/8, ::1, localhost); local runs send traffic to loopback "
                "only: point it at 127.0.0.1, or pass allow_remote=True for a shared target"
            )

    def _check_duration(self) -> None:
        _require_positive("max_duration_seconds", self.max_duration_seconds, "give a positive cap")
        _require_positive("duration_seconds", self.duration_seconds, "give a positive duration")
        if self.duration_seconds > self.max_duration_seconds:
            raise LoadPlanError(
                f"load plan: duration_seconds={self.duration_seconds:g} exceeds the cap of "
                f"{self.max_duration_seconds:g} s; shorten the run or raise max_duration_seconds"
            )

    def _check_processes(self) -> None:
        _require_int("processes", self.processes, 0, "give 0 (one process) or a worker count")
        if self.processes > self.users:
            raise LoadPlanError(
                f"load plan: processes={self.processes} > users={self.users}: every worker "
                "process needs at least one user; lower processes or raise users"
            )


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (names other than localhost are not resolved)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
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

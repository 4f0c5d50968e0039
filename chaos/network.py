"""Network faults through the real Toxiproxy between the target and a dependency.

    with toxic_fault(toxiproxy, "redis", ToxicSpec.of("latency", latency=300, jitter=30),
                     run_id=run_id, reaper=reaper):
        ...                                   # every Redis call of the target is 300 ms slower

Each toxic gets a name unique to the run (`harness-<run id>-<type>-<n>`) and only that
toxic is removed afterwards: Toxiproxy's `reset` acts on the whole server and is never
used, so a shared Toxiproxy named by a profile keeps everyone else's toxics. Before the
toxic is added, its removal is registered with the reaper (an HTTP DELETE), so a SIGKILLed
harness leaves no toxic either. `proxy_disabled` (`fixtures.providers.toxiproxy`) takes a
proxy down (Toxiproxy then refuses new connections and drops existing ones) and re-enables
it the same way.

Toxic types and attributes (Toxiproxy 2.x; times in ms except `slicer.delay`, in us):

| type        | attributes                                   | what the target sees          |
|-------------|----------------------------------------------|-------------------------------|
| latency     | latency, jitter                              | every chunk delayed           |
| bandwidth   | rate (KB/s)                                  | a slow link                   |
| slow_close  | delay                                        | closes late                   |
| timeout     | timeout (0 = never close)                    | a black hole: data stops      |
| reset_peer  | timeout                                      | TCP RST                       |
| slicer      | average_size, size_variation, delay (us)     | data in small pieces          |
| limit_data  | bytes                                        | closed after that many bytes  |
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, cast
from urllib.parse import quote

from chaos.errors import FaultSpecError
from fixtures.lifecycle.reaper import Reaper, Undo
from fixtures.providers.toxiproxy import ToxiproxyEndpoint, proxy_disabled
from fixtures.toxiproxy_client import STREAMS, Stream, Toxic, ToxicType, ToxiproxyError

ATTRIBUTES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "latency": frozenset({"latency", "jitter"}),
        "bandwidth": frozenset({"rate"}),
        "slow_close": frozenset({"delay"}),
        "timeout": frozenset({"timeout"}),
        "reset_peer": frozenset({"timeout"}),
        "slicer": frozenset({"average_size", "size_variation", "delay"}),
        "limit_data": frozenset({"bytes"}),
    }
)
REQUIRED: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "latency": frozenset({"latency"}),
        "bandwidth": frozenset({"rate"}),
        "slow_close": frozenset({"delay"}),
        "timeout": frozenset(),
        "reset_peer": frozenset(),
        "slicer": frozenset({"average_size"}),
        "limit_data": frozenset({"bytes"}),
    }
)
POSITIVE: Final = frozenset({("bandwidth", "rate"), ("slicer", "average_size")})
_NAMES = itertools.count(1)


@dataclass(frozen=True)
class ToxicSpec:
    """A checked toxic: a known type, its attributes as non-negative integers."""

    type: str
    attributes: Mapping[str, int] = field(default_factory=dict)
    stream: str = "downstream"
    toxicity: float = 1.0

    @classmethod
    def of(
        cls, type: str, *, stream: str = "downstream", toxicity: float = 1.0, **attributes: Any
    ) -> ToxicSpec:
        return cls(type, MappingProxyType(dict(attributes)), stream, toxicity)

    def __post_init__(self) -> None:
        if self.type not in ATTRIBUTES:
            known = ", ".join(sorted(ATTRIBUTES))
            raise FaultSpecError(f"toxic type {self.type!r} does not exist; use one of {known}")
        if self.stream not in STREAMS:
            raise FaultSpecError(
                f"toxic stream {self.stream!r}: use 'downstream' (toward the target) or "
                "'upstream' (toward the dependency)"
            )
        if not isinstance(self.toxicity, int | float) or not 0 <= self.toxicity <= 1:
            raise FaultSpecError(f"toxicity {self.toxicity!r} must be a probability in [0, 1]")
        self._check_attributes()

    def _check_attributes(self) -> None:
        allowed = ATTRIBUTES[self.type]
        unknown = sorted(set(self.attributes) - allowed)
        if unknown:
            raise FaultSpecError(
                f"{self.type} toxic has no attribute {', '.join(unknown)}; its attributes: "
                f"{', '.join(sorted(allowed))}"
            )
        missing = sorted(REQUIRED[self.type] - set(self.attributes))
        if missing:
            raise FaultSpecError(f"{self.type} toxic needs {', '.join(missing)}")
        for key, value in self.attributes.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise FaultSpecError(
                    f"{self.type} toxic: {key}={value!r} must be an integer (Toxiproxy "
                    "takes whole milliseconds, KB/s or bytes)"
                )
            least = 1 if (self.type, key) in POSITIVE else 0
            if value < least:
                raise FaultSpecError(f"{self.type} toxic: {key}={value} must be >= {least}")

    def describe(self) -> str:
        settings = ", ".join(f"{key}={value}" for key, value in sorted(self.attributes.items()))
        share = "" if self.toxicity == 1 else f", toxicity {self.toxicity:g}"
        return f"{self.type}({settings}) on {self.stream}{share}"

    def toxic(self, name: str) -> Toxic:
        return Toxic(
            cast("ToxicType", self.type),
            dict(self.attributes),
            cast("Stream", self.stream),
            float(self.toxicity),
            name,
        )


def toxic_name(run_id: str, spec: ToxicSpec) -> str:
    """A name no one else's toxic has: the run, the type, a counter."""
    return f"harness-{run_id}-{spec.type}-{next(_NAMES)}"


@contextmanager
def toxic_fault(
    toxiproxy: ToxiproxyEndpoint,
    proxy: str,
    spec: ToxicSpec,
    *,
    run_id: str,
    reaper: Reaper | None = None,
) -> Iterator[str]:
    """`spec` on `proxy` for the block; yields the toxic's name; removed on every way out."""
    name = toxic_name(run_id, spec)
    url = f"{toxiproxy.url}/proxies/{quote(proxy, safe='')}/toxics/{quote(name, safe='')}"
    if reaper is not None:
        reaper.track_undo(name, Undo("http", method="DELETE", url=url))
    try:
        with toxiproxy.client() as client:
            client.add_toxic(proxy, spec.toxic(name))
            try:
                yield name
            finally:
                remove_toxic(client, proxy, name)
    finally:
        if reaper is not None:
            reaper.untrack_undo(name)


def remove_toxic(client: Any, proxy: str, name: str) -> None:
    """Remove one toxic; one that is already gone is fine."""
    try:
        client.remove_toxic(proxy, name)
    except ToxiproxyError as error:
        if error.status != 404:
            raise


@contextmanager
def dependency_fault(
    toxiproxy: ToxiproxyEndpoint,
    proxy: str,
    kind: str,
    *,
    latency_seconds: float | None = None,
    reaper: Reaper | None = None,
) -> Iterator[None]:
    """A fault of one of the kinds a profile's `[chaos] allow` names on a dependency's
    proxy, for the block: `partition` (the proxy down) or `latency` (`latency_seconds`
    more on every answer)."""
    if kind == "partition":
        with proxy_disabled(toxiproxy, proxy, reaper=reaper):
            yield
        return
    if kind != "latency" or latency_seconds is None:
        raise FaultSpecError(f"a dependency fault is a partition or a latency, not {kind!r}")
    spec = ToxicSpec.of("latency", latency=round(latency_seconds * 1000))
    with toxic_fault(toxiproxy, proxy, spec, run_id=uuid.uuid4().hex[:8], reaper=reaper):
        yield


def harness_toxics(toxiproxy: ToxiproxyEndpoint) -> list[tuple[str, str]]:
    """(proxy, toxic) of every toxic named by the harness still on the server."""
    with toxiproxy.client() as client:
        return [
            (proxy.name, toxic.name)
            for proxy in client.proxies().values()
            for toxic in proxy.toxics
            if toxic.name.startswith("harness-")
        ]

"""What each arrival of a workload sends, and what counts as its success (pure logic).

A workload's traffic is either a Locust file (user classes written the standard Locust
way, or on `load.locust_user.PacedUser`) or a declarative mix: requests with weights,
path/body/header templates whose `{name}` fields are drawn from named value generators
(ids from ranges or a file, integers, choices, samples of ids, unique strings), and
`${NAME}` secrets taken from the environment of the load process.

Whatever the traffic, an answer succeeds only if its status is one the workload declares
(2xx unless it says otherwise: a redirect is an error, not a login page's 200), and, when
declared, it has the content type and the JSON keys expected. A load gate never passes an
endpoint it never reached.

`Traffic` travels in the load plan's JSON; nothing here imports Locust.
"""

from __future__ import annotations

import json
import os
import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from load.errors import LoadPlanError
from load.ids import IdRanges, read_id_file
from system.description import Description

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
UNIQUE_HEX = 12


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Expectation:
    """What a successful answer is: a status of `success` (None: 2xx), the `content_type`
    (a prefix of the header, when given) and, per route, the JSON keys its body has."""

    success: tuple[int, ...] | None = None
    content_type: str | None = None
    json_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def problem(
        self, status: int, content_type: str | None, route: str = "", body: bytes | None = None
    ) -> str | None:
        """Why an answer is not a success ("HTTP 302", "not application/json (text/html)"),
        or None. `body` is read only when the route expects JSON keys."""
        if self.success is None and not 200 <= status < 300:
            return f"HTTP {status}"
        if self.success is not None and status not in self.success:
            return f"HTTP {status}"
        declared = (content_type or "").split(";", 1)[0].strip().lower()
        if self.content_type is not None and not declared.startswith(self.content_type.lower()):
            return f"not {self.content_type} ({declared or 'no content type'})"
        keys = self.json_keys.get(route, ())
        if keys:
            return _missing_keys(body, keys)
        return None

    def reads_body(self, route: str) -> bool:
        return bool(self.json_keys.get(route))


def _missing_keys(body: bytes | None, keys: Sequence[str]) -> str | None:
    try:
        document = json.loads(body or b"")
    except ValueError:
        return "not JSON"
    if not isinstance(document, dict):
        return "JSON that is not an object"
    missing = [key for key in keys if key not in document]
    return f"JSON without {', '.join(missing)}" if missing else None


@dataclass(frozen=True)
class MixEntry:
    """One request of a declarative mix, as templates."""

    method: str
    path: str
    route: str
    weight: int = 1
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _frozen(self.headers))


@dataclass(frozen=True)
class Traffic:
    """What a workload sends: a Locust file, or a mix; the values it draws; what succeeds."""

    locustfile: str | None = None
    mix: tuple[MixEntry, ...] = ()
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, hash=False)
    expect: Expectation = Expectation()
    follow_redirects: bool = False
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _frozen(self.values))
        object.__setattr__(self, "headers", _frozen(self.headers))
        if (self.locustfile is None) == (not self.mix):
            raise LoadPlanError("load traffic: give exactly one of a locustfile or a request mix")
        if self.locustfile is not None and not Path(self.locustfile).is_file():
            raise LoadPlanError(f"load traffic: locustfile {self.locustfile} is not a file")
        Values(self.values)  # every generator checked before anything is sent

    def to_json(self) -> dict[str, Any]:
        return {
            "locustfile": self.locustfile,
            "mix": [{**entry.__dict__, "headers": dict(entry.headers)} for entry in self.mix],
            "values": {name: dict(spec) for name, spec in self.values.items()},
            "expect": {
                "success": self.expect.success,
                "content_type": self.expect.content_type,
                "json_keys": {route: list(keys) for route, keys in self.expect.json_keys.items()},
            },
            "follow_redirects": self.follow_redirects,
            "headers": dict(self.headers),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Traffic:
        expect = data.get("expect") or {}
        success = expect.get("success")
        return cls(
            locustfile=data.get("locustfile"),
            mix=tuple(MixEntry(**entry) for entry in data.get("mix") or ()),
            values=data.get("values") or {},
            expect=Expectation(
                success=None if success is None else tuple(success),
                content_type=expect.get("content_type"),
                json_keys={
                    route: tuple(keys) for route, keys in (expect.get("json_keys") or {}).items()
                },
            ),
            follow_redirects=bool(data.get("follow_redirects", False)),
            headers=data.get("headers") or {},
        )

    @property
    def routes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(entry.route for entry in self.mix))

    def secrets(self) -> set[str]:
        """The environment variables its templates take secrets from."""
        texts = [*self.headers.values()]
        for entry in self.mix:
            texts += [*entry.headers.values(), entry.path, *_strings(entry.body)]
        return {name for text in texts for name in _ENV.findall(text)}

    def with_ids(self, ids: str | None, ids_file: str | None) -> Traffic:
        """The ids a profile names replace every ids value marked `profile`."""
        if ids is None and ids_file is None:
            return self
        values = dict(self.values)
        for name, spec in self.values.items():
            if spec.get("profile") == "entity_ids":
                base = {k: v for k, v in spec.items() if k not in ("ids", "ids_file")}
                values[name] = {**base, "ids": ids} if ids else {**base, "ids_file": ids_file}
        return Traffic(
            self.locustfile, self.mix, values, self.expect, self.follow_redirects, self.headers
        )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _strings(item)]
    return []


class Values:
    """The value generators of a workload, drawing with the caller's random generator."""

    def __init__(self, specs: Mapping[str, Mapping[str, Any]]) -> None:
        self.specs = specs
        self.ids: dict[str, IdRanges] = {}
        for name, spec in specs.items():
            if "ids" in spec:
                self.ids[name] = IdRanges.parse(str(spec["ids"]))
            elif "ids_file" in spec:
                self.ids[name] = read_id_file(Path(str(spec["ids_file"])))
        for name, spec in specs.items():
            if "sample" in spec and spec["sample"] not in self.ids:
                raise LoadPlanError(
                    f"load traffic: value {name!r} samples {spec['sample']!r}, which is not an "
                    "ids value"
                )

    def draw(self, name: str, rng: random.Random) -> Any:
        spec = self.specs[name]
        if name in self.ids:
            return self.ids[name].pick(rng)
        if "range" in spec:
            low, high = spec["range"]
            return rng.randint(int(low), int(high))
        if "choice" in spec:
            return rng.choice(list(spec["choice"]))
        if "sample" in spec:
            return self.ids[str(spec["sample"])].sample(int(spec["count"]), rng)
        if "unique" in spec:
            return f"{spec['unique']}{rng.getrandbits(UNIQUE_HEX * 4):0{UNIQUE_HEX}x}"
        raise LoadPlanError(f"load traffic: value {name!r} has no kind: {dict(spec)}")

    def draw_all(self, names: set[str], rng: random.Random) -> dict[str, Any]:
        return {name: self.draw(name, rng) for name in sorted(names)}


def fields_of(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def render_text(template: str, drawn: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """`{value}` fields filled from `drawn`, `${NAME}` from the environment."""
    text = _ENV.sub(lambda match: environ.get(match.group(1), ""), template)
    return text.format_map(dict(drawn)) if fields_of(text) else text


def render_body(template: Any, drawn: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    """A JSON body: a string that is exactly one `{value}` takes the value as it is (an id
    stays a number, a sample a list); other strings are filled as text."""
    if isinstance(template, str):
        names = fields_of(template)
        if len(names) == 1 and template == "{" + next(iter(names)) + "}":
            return drawn[next(iter(names))]
        return render_text(template, drawn, environ)
    if isinstance(template, Mapping):
        return {key: render_body(value, drawn, environ) for key, value in template.items()}
    if isinstance(template, list | tuple):
        return [render_body(value, drawn, environ) for value in template]
    return template


@dataclass(frozen=True)
class Rendered:
    method: str
    path: str
    route: str
    headers: dict[str, str]
    body: Any


def render(
    entry: MixEntry,
    values: Values,
    rng: random.Random,
    shared_headers: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
) -> Rendered:
    """One request of `entry`, its values drawn from `rng`."""
    env = os.environ if environ is None else environ
    templates = [
        entry.path,
        *entry.headers.values(),
        *shared_headers.values(),
        *_strings(entry.body),
    ]
    names = set().union(*(fields_of(text) for text in templates))
    drawn = values.draw_all(names, rng)
    headers = {
        k: render_text(v, drawn, env) for k, v in {**shared_headers, **entry.headers}.items()
    }
    return Rendered(
        entry.method,
        render_text(entry.path, drawn, env),
        entry.route,
        headers,
        None if entry.body is None else render_body(entry.body, drawn, env),
    )


def pick(mix: Sequence[MixEntry], rng: random.Random) -> MixEntry:
    """A request of the mix by weight."""
    return rng.choices(list(mix), weights=[entry.weight for entry in mix])[0]


def traffic_of(description: Description, workload: str) -> Traffic:
    """The traffic of a workload of a system description."""
    spec = description.workloads[workload]
    values = {
        name: value.model_dump(mode="json", exclude_none=True, exclude={"check"})
        for name, value in description.values.items()
    }
    mix = tuple(
        MixEntry(
            request.request.method,
            request.request.path,
            request.route,
            request.weight,
            request.body,
            request.headers,
        )
        for request in spec.requests
    )
    json_keys = {request.route: request.json_keys for request in spec.requests if request.json_keys}
    return Traffic(
        locustfile=spec.locustfile,
        mix=mix,
        values=values,
        expect=Expectation(spec.success, spec.content_type, json_keys),
        follow_redirects=spec.follow_redirects,
        headers=spec.headers,
    )

"""Values for requests the harness sends outside a load run (warm-up, smoke, alert
traffic, health probes): deterministic, cheap, from the description's value generators.

A load run draws its values at random (`load.traffic`); these cycle through them so that
a warm-up touches many ids and a test's traffic is the same run after run.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterator, Mapping
from typing import Any

from system.description import Description, Value


def _ids(spec: str) -> Iterator[int]:
    """Every id of "1-10000" or "1-500,900-950,7", in order."""
    for part in spec.split(","):
        low, _, high = part.strip().partition("-")
        yield from range(int(low), int(high or low) + 1)


def cycle(value: Value, limit: int | None = None) -> Iterator[Any]:
    """An endless, deterministic cycle of `value`'s values (ids: the first `limit`)."""
    if value.ids is not None:
        return itertools.cycle(list(itertools.islice(_ids(value.ids), limit or 1000)))
    if value.ids_file is not None:
        with open(value.ids_file, encoding="utf-8") as lines:  # noqa: PTH123 - a plain read
            ids = [int(line) for line in itertools.islice(lines, limit or 1000) if line.strip()]
        return itertools.cycle(ids or [1])
    if value.range is not None:
        return itertools.cycle(range(value.range[0], value.range[1] + 1))
    if value.choice is not None:
        return itertools.cycle(value.choice)
    if value.unique is not None:
        prefix = value.unique
        return (f"{prefix}{number:012x}" for number in itertools.count(1))
    return itertools.repeat([])  # a sample of ids: filled by `paths` below


class Sampler:
    """Fills `{name}` fields of request templates from the description's values."""

    def __init__(self, description: Description, ids_limit: int | None = None) -> None:
        self.values = description.values
        self._cycles = {name: cycle(value, ids_limit) for name, value in self.values.items()}
        self._limit = ids_limit

    def fill(self, template: str) -> str:
        names = {field for _, field, _, _ in string.Formatter().parse(template) if field}
        return template.format_map(self.draw(names))

    def draw(self, names: set[str]) -> Mapping[str, Any]:
        drawn: dict[str, Any] = {}
        for name in sorted(names):
            value = self.values[name]
            if value.sample is not None and value.count is not None:
                source = self._cycles[value.sample]
                drawn[name] = [next(source) for _ in range(value.count)]
            else:
                drawn[name] = next(self._cycles[name])
        return drawn

    def paths(self, templates: list[str], count: int) -> list[str]:
        """`count` filled paths of each template, interleaved."""
        return [self.fill(template) for _ in range(count) for template in templates]

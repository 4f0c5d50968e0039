"""Which entity ids a read workload may ask for: ranges such as "1-10000" or "1-500,900-950,7".

A foreign target's ids are not the local seed's 1..10,000: a profile says which exist
(`[services.api] entity_ids = "..."`, or `entity_ids_file`, one id per line), and the load
scenarios draw ids uniformly from the union of the ranges. The spec is a string so that it
travels in the plan's JSON as it is; a file is folded into ranges when it is read.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from load.errors import LoadPlanError

MAX_ID = 2**63 - 1
DEFAULT_ENTITY_IDS = "1-10000"


@dataclass(frozen=True)
class IdRanges:
    """Inclusive, disjoint, sorted ranges of positive ids."""

    ranges: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, spec: str) -> IdRanges:
        """ "1-10000", "1-500,900-950,7": `LoadPlanError` naming the bad part otherwise."""
        parts = [part.strip() for part in str(spec).split(",")]
        if not spec or not all(parts):
            raise LoadPlanError(
                f"entity ids {spec!r}: give ranges like '1-10000' or '1-500,900-950,7'"
            )
        return cls.of(_range(part, spec) for part in parts)

    @classmethod
    def of(cls, ranges: Iterable[tuple[int, int]]) -> IdRanges:
        merged: list[tuple[int, int]] = []
        for low, high in sorted(ranges):
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
            else:
                merged.append((low, high))
        return cls(tuple(merged))

    @classmethod
    def from_ids(cls, ids: Iterable[int]) -> IdRanges:
        return cls.of((value, value) for value in ids)

    @property
    def count(self) -> int:
        return sum(high - low + 1 for low, high in self.ranges)

    @property
    def spec(self) -> str:
        return ",".join(str(low) if low == high else f"{low}-{high}" for low, high in self.ranges)

    def pick(self, rng: random.Random) -> int:
        """A uniformly drawn id of the union."""
        return self.at(rng.randrange(self.count))

    def at(self, index: int) -> int:
        """The `index`-th id (0-based) in ascending order."""
        starts = self._starts()
        position = bisect.bisect_right(starts, index) - 1
        return self.ranges[position][0] + index - starts[position]

    def sample(self, k: int, rng: random.Random) -> list[int]:
        """`k` distinct ids (all of them when there are fewer)."""
        indices = rng.sample(range(self.count), min(k, self.count))
        return [self.at(index) for index in indices]

    def _starts(self) -> Sequence[int]:
        starts, seen = [], 0
        for low, high in self.ranges:
            starts.append(seen)
            seen += high - low + 1
        return starts


def _range(part: str, spec: str) -> tuple[int, int]:
    low_text, dash, high_text = part.partition("-")
    try:
        low = int(low_text)
        high = int(high_text) if dash else low
    except ValueError:
        raise LoadPlanError(
            f"entity ids {spec!r}: {part!r} is not an id or a range 'low-high' of ids"
        ) from None
    if not 1 <= low <= high <= MAX_ID:
        raise LoadPlanError(
            f"entity ids {spec!r}: {part!r} must satisfy 1 <= low <= high <= 2^63-1"
        )
    return low, high


def read_id_file(path: Path) -> IdRanges:
    """One id per line (blank lines and `#` comments ignored), folded into ranges."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise LoadPlanError(f"entity id file {path}: cannot be read ({error})") from None
    ids = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
            raise LoadPlanError(
                f"entity id file {path}, line {number}: {text!r} is not a positive integer id"
            )
        ids.append(int(text))
    if not ids:
        raise LoadPlanError(f"entity id file {path} lists no id; write one id per line")
    return IdRanges.from_ids(ids)

"""The records a load process streams to its file, and reading them back, even mid-run.

Each load process appends one line per event to `records-<process>.tsv`, flushed several
times a second, so the pytest side can judge a run while it is still going (sequential
gates, chaos windows) and a killed run still leaves what it measured. Times are seconds
since the process's t0 (its monotonic clock), the header says where t0 is on the wall clock:

    H  {json: process, t0_wall, t0_monotonic, rate, duration, vus, open_model, tolerance}
    R  index  intended  sent  end  route  kind      a completed request ("" = success)
    U  index  intended  sent  end  route            in flight when the run ended (end = then)
    D  index  intended  route  reason               an arrival the generator did not send
    T  {json: at, dispatched, in_flight, peak_in_flight, cpu}     progress, with each flush
    E  {json: at, window_end, dispatched, peak_in_flight, cpu, stopped_early}  the end

Tab-separated; a route or kind never holds a tab or newline. An unterminated last line (a
write in progress) is ignored by the reader. Nothing here imports Locust or gevent.
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from load.errors import LoadRunError

FORMAT = 2
SUCCESS = ""
COMPLETED, UNFINISHED, DROPPED = 0, 1, 2
_CODES = {"R": COMPLETED, "U": UNFINISHED, "D": DROPPED}


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ")


class RecordWriter:
    """Child side: formats the lines; the caller decides when to flush."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def header(self, meta: dict[str, Any]) -> None:
        self._line("H", json.dumps({"format": FORMAT, **meta}))

    def completed(
        self, index: int, intended: float, sent: float, end: float, *, route: str, kind: str
    ) -> None:
        self._line("R", str(index), f"{intended:.6f}", f"{sent:.6f}", f"{end:.6f}", route, kind)

    def unfinished(self, index: int, intended: float, sent: float, end: float, route: str) -> None:
        self._line("U", str(index), f"{intended:.6f}", f"{sent:.6f}", f"{end:.6f}", route)

    def dropped(self, index: int, intended: float, route: str, reason: str) -> None:
        self._line("D", str(index), f"{intended:.6f}", route, reason)

    def tick(self, meta: dict[str, Any]) -> None:
        self._line("T", json.dumps(meta))
        self._stream.flush()

    def footer(self, meta: dict[str, Any]) -> None:
        self._line("E", json.dumps(meta))
        self._stream.flush()

    def _line(self, *cells: str) -> None:
        self._stream.write("\t".join(_clean(cell) for cell in cells) + "\n")


@dataclass
class Columns:
    """Records in columns, times on the wall clock (NaN where not applicable)."""

    intended: array[float] = field(default_factory=lambda: array("d"))
    sent: array[float] = field(default_factory=lambda: array("d"))
    end: array[float] = field(default_factory=lambda: array("d"))
    status: array[int] = field(default_factory=lambda: array("b"))
    route: array[int] = field(default_factory=lambda: array("l"))
    kind: array[int] = field(default_factory=lambda: array("l"))
    routes: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.intended)

    def add(
        self, intended: float, sent: float, end: float, status: int, *, route: str, kind: str
    ) -> None:
        self.intended.append(intended)
        self.sent.append(sent)
        self.end.append(end)
        self.status.append(status)
        self.route.append(_index(self.routes, route))
        self.kind.append(_index(self.kinds, kind))


def _index(names: list[str], name: str) -> int:
    try:
        return names.index(name)
    except ValueError:
        names.append(name)
        return len(names) - 1


@dataclass(frozen=True)
class ProcessLog:
    """What one load process has written so far."""

    header: dict[str, Any]
    tick: dict[str, Any] | None
    footer: dict[str, Any] | None

    @property
    def t0_wall(self) -> float:
        return float(self.header["t0_wall"])

    @property
    def finished(self) -> bool:
        return self.footer is not None

    @property
    def latest(self) -> dict[str, Any]:
        return self.footer or self.tick or {}

    def expected_before(self, wall: float) -> int:
        """Arrivals this process was due to have dispatched before `wall` (open model)."""
        rate = self.header.get("rate")
        if rate is None:
            return 0
        limit = float(self.header["duration"])
        if self.footer is not None:
            limit = min(limit, float(self.footer.get("window_end", limit)))
        offset = min(wall - self.t0_wall, limit)
        if offset <= 0:
            return 0
        return max(0, math.ceil(offset * float(rate) - 1e-9))


@dataclass(frozen=True)
class RunRecords:
    """Every process's log of one run, merged."""

    processes: tuple[ProcessLog, ...]
    columns: Columns

    @property
    def started_at(self) -> float:
        return min(log.t0_wall for log in self.processes)

    @property
    def finished(self) -> bool:
        return all(log.finished for log in self.processes)


def read_run(paths: Sequence[Path]) -> RunRecords:
    """Read every process's file; `LoadRunError` if one has not written its header yet."""
    columns = Columns()
    logs = [_read_one(path, columns) for path in paths]
    return RunRecords(tuple(logs), columns)


def _read_one(path: Path, columns: Columns) -> ProcessLog:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise LoadRunError(f"load records {path} are unreadable: {error}") from None
    complete = text[: text.rfind("\n") + 1]
    header: dict[str, Any] | None = None
    tick: dict[str, Any] | None = None
    footer: dict[str, Any] | None = None
    for line in complete.splitlines():
        code, _, rest = line.partition("\t")
        if code == "H":
            header = json.loads(rest)
        elif code == "T":
            tick = json.loads(rest)
        elif code == "E":
            footer = json.loads(rest)
        elif header is not None and code in _CODES:
            _add(columns, float(header["t0_wall"]), _CODES[code], rest.split("\t"))
    if header is None:
        raise LoadRunError(f"load records {path} have no header: the load process never started")
    if header.get("format") != FORMAT:
        raise LoadRunError(f"load records {path} have format {header.get('format')!r}")
    return ProcessLog(header, tick, footer)


def _add(columns: Columns, t0: float, status: int, cells: list[str]) -> None:
    nan = math.nan
    if status == DROPPED:
        _, intended, route, reason = cells
        columns.add(t0 + float(intended), nan, nan, status, route=route, kind=reason)
        return
    _, intended, sent, end, route, *kind = cells
    columns.add(
        t0 + float(intended),
        t0 + float(sent),
        t0 + float(end),
        status,
        route=route,
        kind=kind[0] if kind else "",
    )


def merge_json(values: Iterable[dict[str, Any]], key: str) -> float:
    """The largest value of `key` over the processes (0 when none has it)."""
    found = [float(value[key]) for value in values if value.get(key) is not None]
    return max(found, default=0.0)

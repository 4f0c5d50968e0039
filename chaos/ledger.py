"""No acknowledged write lost: a writer keeps a ledger of every write, checked after recovery.

This is Jepsen's set check, which no chaos tool gives. During a fault a writer creates
records through the system description's `[write_path]` (its `create` request and JSON
body, `{name}` unique per write, `{link}` an existing record) at a steady rate (bounded by
a count and a deadline, to loopback or a namespace of ours) and records each outcome:

- acknowledged: a `created` status with an id — the target promised the record exists;
- failed: another answer (503, 500, 4xx), or a connection that could not be made
  (refused) — nothing was promised;
- unknown: no answer within the request timeout, or the connection broke after the
  request went out — it may or may not exist (reported, never counted as lost).

After recovery every acknowledged record is read back (`read`, `{id}`): one that is
missing (404) is LOST, one whose `compare` keys differ is CHANGED, an id acknowledged
twice is DUPLICATED. The report names each of them.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import requests

from fixtures.target_client import read_back, record_id, write_body
from system.deadline import Deadline
from system.description import WritePath

Outcome = Literal["acknowledged", "failed", "unknown"]
REQUEST_TIMEOUT_SECONDS = 5.0
MAX_WRITES = 5_000
READ_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Write:
    """One POST and what came of it."""

    sequence: int
    name: str
    outcome: Outcome
    entity_id: int | str | None
    detail: str  # the status, or the exception
    sent_at: float  # wall clock
    expected: dict[str, Any] = field(default_factory=dict)  # what must read back


@dataclass
class Ledger:
    """Every write of one run, in order."""

    run: str
    writes: list[Write] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return dict(Counter(write.outcome for write in self.writes))

    def acknowledged(self) -> list[Write]:
        return [write for write in self.writes if write.outcome == "acknowledged"]


class Writer:
    """Writes records at `rate` per second in a thread until `stop()`, the deadline or
    `MAX_WRITES`; each may link to one existing record (`link`, the body's `{link}`)."""

    def __init__(
        self,
        base_url: str,
        path: WritePath,
        *,
        rate: float = 5.0,
        deadline_seconds: float = 300.0,
        link: int | None = 1,
        run: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.path = path
        self.interval = 1.0 / rate
        self.link = link
        self.ledger = Ledger(run or uuid.uuid4().hex[:12])
        self._stop = threading.Event()
        self._deadline = Deadline(deadline_seconds)  # a cap on the run, not a wait
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)

    def start(self) -> Writer:
        self._thread.start()
        return self

    def stop(self) -> Ledger:
        self._stop.set()
        self._thread.join(timeout=REQUEST_TIMEOUT_SECONDS + 5)
        with self._lock:
            return Ledger(self.ledger.run, list(self.ledger.writes))

    def _run(self) -> None:
        with requests.Session() as session:
            for sequence in itertools.count(1):
                if self._stop.is_set() or sequence > MAX_WRITES or self._deadline.expired:
                    return
                write = self._write(session, sequence)
                with self._lock:
                    self.ledger.writes.append(write)
                self._stop.wait(self.interval)

    def _write(self, session: requests.Session, sequence: int) -> Write:
        name = f"ledger-{self.ledger.run}-{sequence}"
        body = write_body(self.path, name, self.link)
        expected = (
            {key: body.get(key) for key in self.path.compare} if isinstance(body, dict) else {}
        )
        sent_at = time.time()
        try:
            answer = session.request(
                self.path.create.method,
                f"{self.base_url}{self.path.create.path}",
                json=body,
                timeout=REQUEST_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            outcome: Outcome = "failed" if never_sent(error) else "unknown"
            return Write(sequence, name, outcome, None, type(error).__name__, sent_at, expected)
        if answer.status_code in self.path.created:
            created = record_id(answer, self.path.id)
            if created is not None:
                detail = str(answer.status_code)
                return Write(sequence, name, "acknowledged", created, detail, sent_at, expected)
        detail = f"HTTP {answer.status_code}"
        return Write(sequence, name, "failed", None, detail, sent_at, expected)


def never_sent(error: requests.RequestException) -> bool:
    """The request did not reach the target (connection refused or not made): no write."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    return isinstance(error, requests.ConnectionError) and "NewConnectionError" in repr(error)


@dataclass(frozen=True)
class LedgerCheck:
    """What reading every acknowledged write back found."""

    counts: dict[str, int]
    lost: list[Write]
    changed: list[tuple[Write, str]]
    duplicated: list[int | str]

    @property
    def ok(self) -> bool:
        return not (self.lost or self.changed or self.duplicated)

    def describe(self) -> str:
        counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(self.counts.items()))
        if self.ok:
            return f"every acknowledged write is there ({counts})"
        parts = []
        if self.lost:
            parts.append(f"{len(self.lost)} lost: {_names(self.lost)}")
        if self.changed:
            parts.append(
                f"{len(self.changed)} changed: "
                + ", ".join(f"{w.name} (id {w.entity_id}: {why})" for w, why in self.changed[:5])
            )
        if self.duplicated:
            parts.append(f"ids acknowledged twice: {self.duplicated[:10]}")
        return f"acknowledged writes not kept ({counts}): " + "; ".join(parts)


def _names(writes: list[Write]) -> str:
    shown = ", ".join(f"{w.name} (id {w.entity_id})" for w in writes[:5])
    return shown + (f" and {len(writes) - 5} more" if len(writes) > 5 else "")


def check_ledger(base_url: str, ledger: Ledger, path: WritePath) -> LedgerCheck:
    """Read back every acknowledged write of `ledger` from the target."""
    acknowledged = ledger.acknowledged()
    ids = Counter(write.entity_id for write in acknowledged)
    lost, changed = [], []
    with requests.Session() as session:
        for write in acknowledged:
            problem = read_back(session, base_url, path, write.entity_id, write.expected)
            if problem == "missing":
                lost.append(write)
            elif problem is not None:
                changed.append((write, problem))
    duplicated = sorted(entity for entity, count in ids.items() if entity is not None and count > 1)
    return LedgerCheck(ledger.counts(), lost, changed, duplicated)
